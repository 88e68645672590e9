//! The HTTP surface of a running outrider, over real sockets.

mod common;

use std::io::Read;
use std::time::Duration;

use common::{get, request, start_outrider};

const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

#[test]
fn metrics_in_text_openmetrics_and_gzip() {
    // A long interval: every scrape in this test reads the same tick.
    let outrider = start_outrider(&["--collect.interval", "1h"]);
    let url = outrider.url("/metrics");

    let text = get(&url, &[]);
    assert_eq!(text.status, 200);
    assert_eq!(
        text.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let body = text.text();
    assert!(body.contains("# TYPE node_cpu_seconds_total counter\n"));
    assert!(body.contains("outrider_build_info{version=\""));

    let openmetrics = get(&url, &[("Accept", PROMETHEUS_ACCEPT)]);
    assert_eq!(
        openmetrics.headers["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let om = openmetrics.text();
    assert!(om.contains("# TYPE node_cpu_seconds counter\n"));
    assert!(om.ends_with("# EOF\n"));

    let gzipped = get(&url, &[("Accept-Encoding", "gzip")]);
    assert_eq!(gzipped.headers["content-encoding"], "gzip");
    let mut decoded = String::new();
    flate2::read::GzDecoder::new(&gzipped.body[..])
        .read_to_string(&mut decoded)
        .unwrap();
    assert_eq!(decoded, body, "gzip carries the same tick's bytes");
    assert!(gzipped.body.len() * 3 < body.len(), "gzip pays off");

    // Scrapes hand out the tick's bytes: no collection per scrape, so even
    // node_time_seconds is unchanged between two scrapes. The pause is what
    // is tested: node_time_seconds carries sub-microsecond digits, so a
    // collection for the second scrape, 50 ms on, would change the bytes.
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(get(&url, &[]).text(), body);
}

#[test]
fn the_tick_refreshes_the_exposition() {
    let outrider = start_outrider(&["--collect.interval", "300ms"]);
    let time = || {
        let samples = common::parse_samples(&get(&outrider.url("/metrics"), &[]).text());
        *common::family(&samples, "node_time_seconds")
            .values()
            .next()
            .unwrap()
    };
    let first = time();
    common::wait_until(Duration::from_secs(5), "a newer tick", || time() > first);
}

#[test]
fn landing_health_readiness_and_methods() {
    let outrider = start_outrider(&["--web.telemetry-path", "/prom"]);
    let landing = get(&outrider.url("/"), &[]);
    assert_eq!(landing.status, 200);
    assert!(landing.text().contains("href=\"/prom\""));
    assert_eq!(get(&outrider.url("/-/healthy"), &[]).status, 200);
    assert_eq!(get(&outrider.url("/-/ready"), &[]).status, 200);
    assert_eq!(get(&outrider.url("/prom"), &[]).status, 200);
    assert_eq!(get(&outrider.url("/metrics"), &[]).status, 404);
    let post = request("POST", &outrider.url("/prom"), &[]);
    assert_eq!(post.status, 405);
    assert_eq!(post.headers["allow"], "GET, HEAD");
    let head = request("HEAD", &outrider.url("/prom"), &[]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
}

#[test]
fn sigterm_and_sigint_stop_it_cleanly() {
    for signal in ["TERM", "INT"] {
        let mut outrider = start_outrider(&[]);
        let status = outrider
            .process
            .signal_and_wait(signal, Duration::from_secs(10));
        assert!(status.success(), "SIG{signal}: exit {status}");
        assert!(outrider.process.log_text().contains("message=stopped"));
        // The snapshot interval (5m) has not passed: only the shutdown wrote it.
        assert!(outrider.storage.path().join("baselines.snapshot").exists());
    }
}

#[test]
fn environment_sets_options_and_flags_win() {
    let outrider = common::start_outrider_with_env(
        &["--web.telemetry-path", "/flag"],
        &[
            ("OUTRIDER_WEB_TELEMETRY_PATH", "/env"),
            ("OUTRIDER_LOG_FORMAT", "json"),
        ],
    );
    assert_eq!(get(&outrider.url("/flag"), &[]).status, 200);
    assert_eq!(get(&outrider.url("/env"), &[]).status, 404);
    let env_only = common::spawn(
        &common::outrider_binary(),
        &["--web.listen-address".into(), "127.0.0.1:0".into()],
        &[
            ("OUTRIDER_WEB_TELEMETRY_PATH", "/env"),
            ("OUTRIDER_LOG_FORMAT", "json"),
        ],
    );
    common::wait_until(Duration::from_secs(10), "json log line", || {
        env_only.log_text().contains("\"telemetry_path\":\"/env\"")
    });
}

/// A collector that hangs stalls the tick; readiness then fails (scrapes
/// would get frozen values) until the tick runs again. The hang here is a
/// /proc file that never answers: a FIFO with no writer.
#[test]
fn readiness_fails_while_the_tick_is_stalled() {
    let dir = tempfile::tempdir().unwrap();
    let procfs = dir.path().join("proc");
    std::fs::create_dir_all(&procfs).unwrap();
    for file in ["stat", "meminfo", "loadavg"] {
        std::fs::copy(
            common::fixtures().join("proc").join(file),
            procfs.join(file),
        )
        .unwrap();
    }
    let outrider = start_outrider(&[
        "--collect.interval",
        "200ms",
        "--path.procfs",
        procfs.to_str().unwrap(),
    ]);
    let ready = outrider.url("/-/ready");
    assert_eq!(get(&ready, &[]).status, 200);

    let loadavg = procfs.join("loadavg");
    std::fs::remove_file(&loadavg).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&loadavg)
        .status()
        .unwrap();
    assert!(made.success());
    common::wait_until(
        Duration::from_secs(30),
        "readiness to fail on a stalled tick",
        || get(&ready, &[]).status == 503,
    );
    assert!(get(&ready, &[]).text().contains("stalled"));
    // The last tick is still served; readiness is what tells it is old.
    assert_eq!(get(&outrider.url("/metrics"), &[]).status, 200);

    // The collector is blocked opening the FIFO: open its other end, put a
    // plain file in its place for the next ticks, then let it read.
    let mut writer = std::fs::OpenOptions::new()
        .write(true)
        .open(&loadavg)
        .unwrap();
    let plain = procfs.join("loadavg.new");
    std::fs::copy(common::fixtures().join("proc/loadavg"), &plain).unwrap();
    std::fs::rename(&plain, &loadavg).unwrap();
    std::io::Write::write_all(&mut writer, b"0.5 0.5 0.5 1/100 1\n").unwrap();
    drop(writer);
    common::wait_until(
        Duration::from_secs(30),
        "readiness once ticks run again",
        || get(&ready, &[]).status == 200,
    );
}
