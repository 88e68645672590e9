//! Pushes over HTTP to a running outrider: JSON batches and the
//! Pushgateway's API, what is exported, what a restart and a kill -9 keep,
//! and how bad pushes are refused without changing anything.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Outrider, SeriesKey, get, parse_samples, send, spawn, start_outrider_in, wait_until};

const TOKEN: &str = "push-token-0123456789";
const BEARER: &str = "Bearer push-token-0123456789";

fn start_in(
    storage: &std::path::Path,
    config: Option<&str>,
) -> (common::Process, String, Option<tempfile::TempDir>) {
    let mut args = vec!["--collect.interval", "200ms"];
    let dir = config.map(|yaml| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("outrider.yml"), yaml).unwrap();
        dir
    });
    let path = dir
        .as_ref()
        .map(|d| d.path().join("outrider.yml").display().to_string());
    if let Some(path) = &path {
        args.extend(["--config.file", path.as_str()]);
    }
    let (process, address) = start_outrider_in(storage, &args, &[("OUTRIDER_PUSH_TOKEN", TOKEN)]);
    (process, address, dir)
}

fn push_json(address: &str, body: &str) -> common::Reply {
    send(
        "POST",
        &format!("http://{address}/api/v1/metrics/push"),
        &[
            ("Authorization", BEARER),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )
}

fn push_text(method: &str, address: &str, path: &str, body: &str) -> common::Reply {
    send(
        method,
        &format!("http://{address}{path}"),
        &[("Authorization", BEARER)],
        body.as_bytes(),
    )
}

fn series(address: &str) -> std::collections::BTreeMap<SeriesKey, f64> {
    parse_samples(&get(&format!("http://{address}/metrics"), &[]).text())
}

fn value(address: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    common::sample_value(
        &get(&format!("http://{address}/metrics"), &[]).text(),
        name,
        labels,
    )
}

/// Waits for a tick that started after the call, so the exposition shows
/// every push answered before it.
fn next_tick(address: &str) {
    common::wait_for_tick_after_now(&format!("http://{address}/metrics"));
}

#[test]
fn json_and_pushgateway_pushes_are_exported_with_their_labels() {
    let storage = tempfile::tempdir().unwrap();
    let (_process, address, _config) = start_in(storage.path(), None);
    let reply = push_json(
        &address,
        r#"{"service":"checkout","metrics":[
            {"name":"orders_total","type":"counter","value":2,"labels":{"region":"eu"}},
            {"name":"orders_total","type":"counter","value":3,"labels":{"region":"eu"}},
            {"name":"queue_depth","type":"gauge","value":7},
            {"name":"payment_seconds","type":"histogram","value":0.3}]}"#,
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let answer: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(answer["accepted"], 4);
    let reply = push_text(
        "PUT",
        &address,
        "/metrics/job/backup/instance@base64/ZGIvMQ",
        "# TYPE backup_last_success_seconds gauge\nbackup_last_success_seconds 1.7e9\n",
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    next_tick(&address);
    let checkout = [("region", "eu"), ("service", "checkout")];
    assert_eq!(value(&address, "orders_total", &checkout), Some(5.0));
    assert_eq!(
        value(&address, "queue_depth", &[("service", "checkout")]),
        Some(7.0)
    );
    assert_eq!(
        value(
            &address,
            "payment_seconds_bucket",
            &[("le", "0.5"), ("service", "checkout")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &address,
            "payment_seconds_bucket",
            &[("le", "0.25"), ("service", "checkout")]
        ),
        Some(0.0)
    );
    let backup = [("instance", "db/1"), ("job", "backup")];
    assert_eq!(
        value(&address, "backup_last_success_seconds", &backup),
        Some(1.7e9)
    );
    assert!(value(&address, "push_time_seconds", &backup).unwrap() > 1.7e9);
    assert_eq!(
        value(&address, "push_failure_time_seconds", &backup),
        Some(0.0)
    );
    let text = get(&format!("http://{address}/metrics"), &[]).text();
    assert!(
        text.contains("# TYPE payment_seconds histogram\n"),
        "{text}"
    );
    let problems = common::promtool_problems(text.as_bytes());
    assert!(
        problems
            .iter()
            .all(|p| p.contains("node_memory_") || p.contains("non-base units")),
        "{problems:?}"
    );
}

/// One pusher's tally: the counter increments acknowledged with 200.
fn pusher(address: String, worker: usize, stop: Arc<AtomicBool>, acknowledged: Arc<AtomicU64>) {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(5))
        .build();
    let url = format!("http://{address}/api/v1/metrics/push");
    let body = format!(
        r#"{{"service":"load","metrics":[{{"name":"work_done_total","type":"counter","value":1,"labels":{{"worker":"{worker}"}}}}]}}"#
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        match agent
            .post(&url)
            .set("Authorization", BEARER)
            .send_string(&body)
        {
            Ok(response) if response.status() == 200 => {
                acknowledged.fetch_add(1, Ordering::SeqCst);
            }
            // The server is gone: what it acknowledged is what counts.
            _ => return,
        }
    }
}

#[test]
fn a_kill_9_loses_no_acknowledged_push() {
    let storage = tempfile::tempdir().unwrap();
    // As fast as the pushers go: no rate limit on the write class.
    let unlimited = Some("web:\n  limits:\n    write: {rate: 0}\n");
    let (mut process, address, _config) = start_in(storage.path(), unlimited);
    let workers = 4;
    let stop = Arc::new(AtomicBool::new(false));
    let tallies: Vec<Arc<AtomicU64>> = (0..workers).map(|_| Arc::default()).collect();
    let threads: Vec<_> = (0..workers)
        .map(|worker| {
            let (address, stop, tally) = (
                address.clone(),
                Arc::clone(&stop),
                Arc::clone(&tallies[worker]),
            );
            std::thread::spawn(move || pusher(address, worker, stop, tally))
        })
        .collect();
    wait_until(Duration::from_secs(10), "pushes accepted", || {
        tallies.iter().all(|t| t.load(Ordering::SeqCst) >= 20)
    });
    // Killed while pushes are in flight.
    process.signal_and_wait("KILL", Duration::from_secs(5));
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread.join().unwrap();
    }
    let (_restarted, address, _config) = start_in(storage.path(), unlimited);
    next_tick(&address);
    for (worker, tally) in tallies.iter().enumerate() {
        let acknowledged = tally.load(Ordering::SeqCst) as f64;
        let restored = value(
            &address,
            "work_done_total",
            &[("service", "load"), ("worker", &worker.to_string())],
        )
        .unwrap_or(0.0);
        // A push in flight at the kill may have been stored without its
        // answer arriving: at most one per worker.
        assert!(
            restored >= acknowledged && restored <= acknowledged + 1.0,
            "worker {worker}: {acknowledged} acknowledged, {restored} restored"
        );
    }
}

#[test]
fn a_clean_restart_keeps_every_group_and_its_push_time() {
    let storage = tempfile::tempdir().unwrap();
    let (mut process, address, _config) = start_in(storage.path(), None);
    for i in 0..20 {
        let reply = push_text(
            if i % 2 == 0 { "PUT" } else { "POST" },
            &address,
            &format!("/metrics/job/batch/instance/i{i}"),
            &format!("# TYPE rows_written gauge\nrows_written{{table=\"t\"}} {i}\n"),
        );
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    assert_eq!(
        push_text("DELETE", &address, "/metrics/job/batch/instance/i3", "").status,
        202
    );
    next_tick(&address);
    let before: Vec<(SeriesKey, f64)> = series(&address)
        .into_iter()
        .filter(|(k, _)| k.name == "rows_written" || k.name.starts_with("push_"))
        .collect();
    assert_eq!(
        before
            .iter()
            .filter(|(k, _)| k.name == "rows_written")
            .count(),
        19
    );
    process.signal_and_wait("TERM", Duration::from_secs(10));
    let (_restarted, address, _config) = start_in(storage.path(), None);
    next_tick(&address);
    let after: Vec<(SeriesKey, f64)> = series(&address)
        .into_iter()
        .filter(|(k, _)| k.name == "rows_written" || k.name.starts_with("push_"))
        .collect();
    assert_eq!(before, after);
}

#[test]
fn bad_pushes_get_a_clear_error_and_change_nothing() {
    let storage = tempfile::tempdir().unwrap();
    let (_process, address, _config) = start_in(
        storage.path(),
        Some(
            "web:\n  limits:\n    write: {max_body_bytes: 2048}\n    max_push_series_per_group: 5\n",
        ),
    );
    let good = r#"{"service":"s","metrics":[{"name":"a_total","type":"counter","value":1}]}"#;
    assert_eq!(push_json(&address, good).status, 200);
    assert_eq!(
        push_text("PUT", &address, "/metrics/job/j", "m 1\n").status,
        200
    );
    next_tick(&address);
    let before = series(&address);
    let pushed = |s: &std::collections::BTreeMap<SeriesKey, f64>| -> Vec<(SeriesKey, f64)> {
        s.iter()
            .filter(|(k, _)| ["a_total", "m", "push_time_seconds"].contains(&k.name.as_str()))
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    };
    let url = format!("http://{address}/api/v1/metrics/push");
    let json = |status: u16, reply: common::Reply, needle: &str| {
        assert_eq!(reply.status, status, "{}", reply.text());
        let error: serde_json::Value = serde_json::from_slice(&reply.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", reply.text()));
        assert_eq!(error["status"], "error");
        let message = error["error"].as_str().unwrap();
        assert!(message.contains(needle), "{message}");
        assert!(!message.contains(TOKEN));
    };
    // A wrong token.
    json(
        401,
        send(
            "POST",
            &url,
            &[("Authorization", "Bearer nope")],
            good.as_bytes(),
        ),
        "bearer token",
    );
    // A batch whose second metric is bad: the first is not applied either.
    json(
        400,
        push_json(
            &address,
            r#"{"service":"s","metrics":[{"name":"a_total","type":"counter","value":5},{"name":"b","type":"gauge","value":"x"}]}"#,
        ),
        "line 1",
    );
    json(
        400,
        push_json(
            &address,
            r#"{"service":"s","metrics":[{"name":"a_total","type":"counter","value":5},{"name":"b","type":"counter","value":-1}]}"#,
        ),
        "metrics[1].value",
    );
    // The text format's errors name the line.
    json(
        400,
        push_text("POST", &address, "/metrics/job/j", "ok 1\nbad{ 2\n"),
        "line 2",
    );
    json(
        400,
        push_text("POST", &address, "/metrics/job/j/odd", "m 2\n"),
        "odd number",
    );
    // A type that contradicts what the group holds.
    json(
        400,
        push_text(
            "POST",
            &address,
            "/metrics/job/other",
            "# TYPE m counter\nm 2\n",
        ),
        "Untyped",
    );
    // Too big, and over the series limit.
    json(
        413,
        push_text("PUT", &address, "/metrics/job/j", &"m 1\n".repeat(1000)),
        "too large",
    );
    let six: String = (0..6).map(|i| format!("m{{i=\"{i}\"}} 1\n")).collect();
    let reply = push_text("PUT", &address, "/metrics/job/j", &six);
    assert_eq!(
        reply.headers.get("retry-after").map(String::as_str),
        Some("60")
    );
    json(429, reply, "max_push_series_per_group");
    next_tick(&address);
    assert_eq!(pushed(&before), pushed(&series(&address)));
    // The group whose push failed shows when, as the Pushgateway does.
    assert!(value(&address, "push_failure_time_seconds", &[("job", "j")]).unwrap() > 0.0);
}

/// Asserts a JSON error with `status` whose message contains `needle`.
fn refused(status: u16, reply: common::Reply, needle: &str) {
    assert_eq!(reply.status, status, "{}", reply.text());
    let error: serde_json::Value = serde_json::from_slice(&reply.body)
        .unwrap_or_else(|_| panic!("not JSON: {}", reply.text()));
    let message = error["error"].as_str().unwrap();
    assert!(message.contains(needle), "{message}");
}

#[test]
fn hostile_pushes_are_refused_within_their_bounds() {
    let storage = tempfile::tempdir().unwrap();
    let (_process, address, _config) = start_in(
        storage.path(),
        Some("push:\n  max_groups: 3\n  label_limit: 4\n  label_value_length_limit: 100\n"),
    );
    // outrider's own names cannot be pushed on any path.
    refused(
        400,
        push_text(
            "PUT",
            &address,
            "/metrics/job/j",
            "# TYPE outrider_health_score gauge\noutrider_health_score 5\n",
        ),
        "outrider_health_score",
    );
    refused(
        400,
        push_text(
            "PUT",
            &address,
            "/metrics/job@base64/ag",
            "outrider_rule_state 1\n",
        ),
        "outrider_rule_state",
    );
    // Nor the families the host collectors export: a pushed node_* series
    // would count in every host dashboard. The process_* every client
    // library's default registry holds may be pushed.
    refused(
        400,
        push_text("PUT", &address, "/metrics/job/j", "node_load1 99\n"),
        "node_load1 is a family outrider's host collectors export",
    );
    refused(
        400,
        push_json(
            &address,
            r#"{"service":"s","metrics":[{"name":"node_load1","type":"gauge","value":99}]}"#,
        ),
        "node_load1",
    );
    // Label count and length, grouping labels included.
    refused(
        400,
        push_text(
            "PUT",
            &address,
            "/metrics/job/j/a/1/b/2",
            "m{c=\"3\",d=\"4\"} 1\n",
        ),
        "push.label_limit",
    );
    let long = "v".repeat(101);
    refused(
        400,
        push_text(
            "PUT",
            &address,
            &format!("/metrics/job/j/a/{long}"),
            "m 1\n",
        ),
        "push.label_value_length_limit",
    );
    refused(
        400,
        push_json(
            &address,
            &format!(
                r#"{{"service":"s","metrics":[{{"name":"g","type":"gauge","value":1,"labels":{{"l":"{long}"}}}}]}}"#
            ),
        ),
        "metrics[0]: g: the value of label l",
    );
    // A push without series still holds its grouping key.
    refused(
        400,
        push_text("PUT", &address, &format!("/metrics/job/{long}"), ""),
        "the grouping key: the value of label job",
    );
    refused(
        400,
        push_json(&address, &format!(r#"{{"service":"{long}","metrics":[]}}"#)),
        "the grouping key: the value of label service",
    );
    // An increment that overflows is refused; the counter keeps its value.
    let big = r#"{"service":"s","metrics":[{"name":"c_total","type":"counter","value":1.7e308}]}"#;
    assert_eq!(push_json(&address, big).status, 200);
    refused(400, push_json(&address, big), "overflows");
    // An empty grouping value is no label in Prometheus: a second group
    // that would expose the same series is refused.
    assert_eq!(
        push_text("PUT", &address, "/metrics/job/e/a@base64/=", "m 1\n").status,
        200
    );
    refused(
        400,
        push_text("PUT", &address, "/metrics/job/e/b@base64/=", "m 2\n"),
        "would expose the same series",
    );
    refused(
        400,
        push_text("PUT", &address, "/metrics/job/e", "m 2\n"),
        "would expose the same series",
    );
    // Groups are bounded: s, e and one more.
    assert_eq!(
        push_text("PUT", &address, "/metrics/job/third", "m 3\n").status,
        200
    );
    let reply = push_text("PUT", &address, "/metrics/job/fourth", "");
    assert_eq!(
        reply.headers.get("retry-after").map(String::as_str),
        Some("60")
    );
    refused(429, reply, "push.max_groups");
    // A group that is held can still be pushed to.
    assert_eq!(
        push_text("PUT", &address, "/metrics/job/third", "m 4\n").status,
        200
    );
    next_tick(&address);
    let text = get(&format!("http://{address}/metrics"), &[]).text();
    assert_eq!(
        common::sample_value(&text, "c_total", &[("service", "s")]),
        Some(1.7e308)
    );
    assert_eq!(
        common::sample_value(&text, "m", &[("job", "third")]),
        Some(4.0)
    );
    // The empty value stays, so Prometheus adds no instance of its own.
    assert_eq!(
        common::sample_value(&text, "m", &[("a", ""), ("job", "e")]),
        Some(1.0)
    );
    assert_eq!(
        common::sample_value(&text, "outrider_push_groups", &[]),
        Some(3.0)
    );
    assert!(!text.contains("fourth"));
    assert_eq!(
        common::promtool_problems(text.as_bytes()),
        Vec::<String>::new()
    );
}

#[test]
fn a_time_to_live_removes_the_group_and_only_it() {
    let storage = tempfile::tempdir().unwrap();
    let (_process, address, _config) = start_in(storage.path(), None);
    assert_eq!(
        push_text("PUT", &address, "/metrics/job/short?ttl=1s", "m 1\n").status,
        200
    );
    assert_eq!(
        push_text("PUT", &address, "/metrics/job/long", "m 2\n").status,
        200
    );
    let json = r#"{"service":"s","ttl":"1s","metrics":[{"name":"g","type":"gauge","value":1}]}"#;
    assert_eq!(push_json(&address, json).status, 200);
    // Later pushes that name no time to live keep the group's, as they
    // keep the group.
    assert_eq!(
        push_text("PUT", &address, "/metrics/job/short", "m 1\n").status,
        200
    );
    let again = r#"{"service":"s","metrics":[{"name":"g","type":"gauge","value":1}]}"#;
    assert_eq!(push_json(&address, again).status, 200);
    next_tick(&address);
    assert_eq!(value(&address, "m", &[("job", "short")]), Some(1.0));
    assert_eq!(value(&address, "g", &[("service", "s")]), Some(1.0));
    wait_until(
        Duration::from_secs(5),
        "the short-lived groups expire",
        || {
            value(&address, "m", &[("job", "short")]).is_none()
                && value(&address, "g", &[("service", "s")]).is_none()
        },
    );
    assert_eq!(value(&address, "m", &[("job", "long")]), Some(2.0));
    let reply = push_text("PUT", &address, "/metrics/job/x?ttl=soon", "m 1\n");
    assert_eq!(reply.status, 400, "{}", reply.text());
}

#[test]
fn push_is_off_without_a_token_and_on_without_one_refuses_to_start() {
    let off: Outrider = common::start_outrider(&[]);
    let reply = send(
        "POST",
        &off.url("/api/v1/metrics/push"),
        &[("Authorization", BEARER)],
        b"{}",
    );
    assert_eq!(reply.status, 404);
    assert!(reply.text().contains("OUTRIDER_PUSH_TOKEN"));
    assert_eq!(
        send("PUT", &off.url("/metrics/job/x"), &[], b"m 1\n").status,
        404
    );

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("outrider.yml");
    std::fs::write(&config, "push:\n  enabled: true\n").unwrap();
    let mut process = spawn(
        &common::outrider_binary(),
        &[
            "--web.listen-address".into(),
            "127.0.0.1:0".into(),
            "--config.file".into(),
            config.display().to_string(),
        ],
        &[],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = process.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "outrider started without a push token"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(2));
    let log = process.log_text();
    assert!(
        log.contains("push.token") && log.contains("OUTRIDER_PUSH_TOKEN"),
        "{log}"
    );
}

#[test]
fn a_client_librarys_push_functions_work_unchanged() {
    // Debian's python3-prometheus-client, on Debian's Python.
    let python = std::path::Path::new("/usr/bin/python3");
    let probe = std::process::Command::new(python)
        .args(["-c", "import prometheus_client"])
        .status();
    assert!(
        probe.is_ok_and(|s| s.success()),
        "python3-prometheus-client is not installed: run the test command from the README"
    );
    let storage = tempfile::tempdir().unwrap();
    let (_process, address, _config) = start_in(storage.path(), None);
    let script = format!(
        r#"
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import push_to_gateway, pushadd_to_gateway, delete_from_gateway
from prometheus_client.exposition import default_handler

def with_token(url, method, timeout, headers, data):
    return default_handler(url, method, timeout, list(headers) + [("Authorization", "{BEARER}")], data)

registry = CollectorRegistry()
Gauge("job_last_success_unixtime", "Last success.", registry=registry).set(1234)
Counter("records", "Records written.", ["table"], registry=registry).labels("t").inc(5)
Histogram("batch_seconds", "Batch duration.", registry=registry).observe(0.7)
push_to_gateway("{address}", job="nightly", registry=registry, grouping_key={{"instance": "a/b"}}, handler=with_token)

other = CollectorRegistry()
Gauge("job_last_success_unixtime", "Last success.", registry=other).set(99)
pushadd_to_gateway("{address}", job="hourly", registry=other, handler=with_token)
push_to_gateway("{address}", job="gone", registry=other, handler=with_token)
delete_from_gateway("{address}", job="gone", handler=with_token)
"#
    );
    let output = std::process::Command::new(python)
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    next_tick(&address);
    let nightly = [("instance", "a/b"), ("job", "nightly")];
    assert_eq!(
        value(&address, "job_last_success_unixtime", &nightly),
        Some(1234.0)
    );
    let with_table = [("instance", "a/b"), ("job", "nightly"), ("table", "t")];
    assert_eq!(value(&address, "records_total", &with_table), Some(5.0));
    let mut bucket = nightly.to_vec();
    bucket.insert(1, ("le", "1.0"));
    assert_eq!(value(&address, "batch_seconds_bucket", &bucket), Some(1.0));
    assert_eq!(
        value(&address, "job_last_success_unixtime", &[("job", "hourly")]),
        Some(99.0)
    );
    assert_eq!(
        value(&address, "push_time_seconds", &[("job", "gone")]),
        None
    );
}

#[test]
fn damaged_state_is_set_aside_and_every_record_that_holds_is_kept() {
    let storage = tempfile::tempdir().unwrap();
    let push_dir = storage.path().join("push");
    // Two groups in the snapshot (a clean stop compacts), three in the log.
    let (mut process, address, _config) = start_in(storage.path(), None);
    for job in ["snap1", "snap2"] {
        let path = format!("/metrics/job/{job}");
        assert_eq!(push_text("PUT", &address, &path, "m 1\n").status, 200);
    }
    process.signal_and_wait("TERM", Duration::from_secs(10));
    let (mut process, address, _config) = start_in(storage.path(), None);
    for job in ["logged_c", "logged_d", "logged_e"] {
        let path = format!("/metrics/job/{job}");
        assert_eq!(push_text("PUT", &address, &path, "m 2\n").status, 200);
    }
    process.signal_and_wait("KILL", Duration::from_secs(5));

    // One flipped byte in the snapshot, one in the middle record.
    let damage = |file: &str, needle: &[u8]| {
        let path = push_dir.join(file);
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap_or_else(|| panic!("{file} holds no {needle:?}"));
        bytes[at] ^= 0x5A;
        std::fs::write(&path, bytes).unwrap();
    };
    damage("push.snapshot", b"snap1");
    damage("push.log", b"logged_d");

    // The start goes on, with what holds, and says what was lost.
    let (process, address, _config) = start_in(storage.path(), None);
    next_tick(&address);
    let jobs: std::collections::BTreeSet<String> = series(&address)
        .into_keys()
        .filter(|k| k.name == "m")
        .filter_map(|k| k.labels.get("job").cloned())
        .collect();
    assert_eq!(
        jobs.into_iter().collect::<Vec<_>>(),
        vec!["logged_c", "logged_e"]
    );
    assert_eq!(
        value(&address, "outrider_push_log_records_lost", &[]),
        Some(1.0)
    );
    assert_eq!(
        value(&address, "outrider_push_snapshot_damaged", &[]),
        Some(1.0)
    );
    let log = process.log_text();
    assert!(log.contains("push log damaged"), "{log}");
    assert!(log.contains("push snapshot damaged"), "{log}");
    // Copies of both damaged files are kept beside them.
    let names: Vec<String> = std::fs::read_dir(&push_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for file in ["push.log.damaged-", "push.snapshot.damaged-"] {
        assert!(names.iter().any(|n| n.starts_with(file)), "{names:?}");
    }
}

#[test]
fn the_port_opens_before_pushed_metrics_are_restored() {
    let storage = tempfile::tempdir().unwrap();
    let (mut process, address, _config) = start_in(storage.path(), None);
    assert_eq!(
        push_text("PUT", &address, "/metrics/job/kept", "m 1\n").status,
        200
    );
    process.signal_and_wait("KILL", Duration::from_secs(5));
    // A liveness probe needs the port while a long log is replayed; the
    // pushes are served once it is.
    let (process, address, _config) = start_in(storage.path(), None);
    let log = process.log_text();
    let line_of = |needle: &str| {
        log.lines()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in\n{log}"))
    };
    assert!(
        line_of("message=listening") < line_of("pushed metrics restored"),
        "{log}"
    );
    next_tick(&address);
    assert_eq!(value(&address, "m", &[("job", "kept")]), Some(1.0));
}

#[test]
fn pushed_series_get_baselines_and_rules_like_any_other() {
    let storage = tempfile::tempdir().unwrap();
    let rules = storage.path().join("app-rules.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: queue\n    rules:\n      - alert: QueueTooDeep\n        selector: queue_depth\n        threshold:\n          above: {warning: 10, critical: 100}\n        summary: 'Queue of {{ $labels.service }} is deep'\n        description: 'It holds {{ $value }} items.'\n        runbook_url: https://example.com/queue\n",
    )
    .unwrap();
    let config = format!(
        "collect_interval: 100ms\nrules: [{}]\nbaselines:\n  min_samples: 3\n  track:\n    - selector: queue_depth\n",
        rules.display()
    );
    let (_process, address, _config) = start_in(storage.path(), Some(&config));
    let push = |depth: f64| {
        let body = format!(
            r#"{{"service":"worker","metrics":[{{"name":"queue_depth","type":"gauge","value":{depth}}}]}}"#
        );
        assert_eq!(push_json(&address, &body).status, 200);
    };
    push(5.0);
    wait_until(
        Duration::from_secs(10),
        "a baseline for the pushed gauge",
        || {
            series(&address).iter().any(|(k, _)| {
                k.name == "outrider_baseline"
                    && k.labels.get("metric").map(String::as_str) == Some("queue_depth")
                    && k.labels.get("service").map(String::as_str) == Some("worker")
            })
        },
    );
    let alerts = || get(&format!("http://{address}/api/v1/alerts"), &[]).text();
    assert!(!alerts().contains("QueueTooDeep"));
    push(50.0);
    wait_until(
        Duration::from_secs(10),
        "the rule on the pushed gauge fires",
        || {
            let text = alerts();
            text.contains("QueueTooDeep")
                && text.contains("\"firing\"")
                && text.contains("\"worker\"")
        },
    );
}
