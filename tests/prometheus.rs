//! outrider as the real Prometheus tools see it: promtool lints a live scrape,
//! and a real Prometheus scrapes it and answers queries about its series.

mod common;

use std::time::Duration;

use common::{get, require, start_outrider};

#[test]
fn promtool_check_metrics_accepts_a_live_scrape() {
    let outrider = start_outrider(&[]);
    let body = get(&outrider.url("/metrics"), &[]).body;
    let problems = common::promtool_problems(&body);
    assert!(
        problems.is_empty(),
        "promtool found problems:\n{}",
        problems.join("\n")
    );
}

fn query(prometheus: &str, expr: &str) -> Vec<serde_json::Value> {
    let url = format!("{prometheus}/api/v1/query?query={}", urlencode(expr));
    let reply = get(&url, &[]);
    assert_eq!(reply.status, 200, "{}", reply.text());
    let json: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    json["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn scalar(sample: &serde_json::Value) -> f64 {
    sample["value"][1].as_str().unwrap().parse().unwrap()
}

#[test]
fn a_real_prometheus_scrapes_and_queries_it() {
    let prometheus_bin = require("prometheus");
    let outrider = start_outrider(&["--collect.interval", "1s"]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: outrider\n    static_configs:\n      - targets: ['{}']\n",
            outrider.address
        ),
    )
    .unwrap();
    let port = common::free_port();
    let _prometheus = common::spawn(
        &prometheus_bin,
        &[
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        &[],
    );
    let api = format!("http://127.0.0.1:{port}");
    common::wait_until(Duration::from_secs(60), "Prometheus to be ready", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && get(&format!("{api}/-/ready"), &[]).status == 200
    });
    common::wait_until(
        Duration::from_secs(30),
        "Prometheus to scrape outrider twice",
        || {
            query(&api, "count_over_time(up{job=\"outrider\"}[1m])")
                .first()
                .is_some_and(|s| scalar(s) >= 2.0)
        },
    );
    let up = query(&api, "up{job=\"outrider\"}");
    assert_eq!(scalar(&up[0]), 1.0, "target is up");

    let scraped = common::parse_samples(&get(&outrider.url("/metrics"), &[]).text());
    let expected = common::family(&scraped, "node_cpu_seconds_total").len() as f64;
    let cpu_series = query(&api, "count(node_cpu_seconds_total{job=\"outrider\"})");
    assert!(expected >= 8.0);
    assert_eq!(scalar(&cpu_series[0]), expected, "{cpu_series:?}");

    let memory = query(&api, "node_memory_MemTotal_bytes{job=\"outrider\"}");
    assert!(scalar(&memory[0]) > 64.0 * 1024.0 * 1024.0, "{memory:?}");

    let build = query(&api, "outrider_build_info{job=\"outrider\"}");
    assert_eq!(build[0]["metric"]["version"], env!("CARGO_PKG_VERSION"));

    // No container engine runs here: that collector rightly reports 0.
    let failing = query(
        &api,
        "outrider_collector_success{job=\"outrider\",collector!=\"containers\"} == 0",
    );
    assert!(
        failing.is_empty(),
        "collectors failing on this host: {failing:?}"
    );
}
