//! A client-library app scraped without `labels:` keeps its `process_*`
//! beside outrider's own: every client library exports them, and before
//! the target's `job` label they were the same series as outrider's, so
//! the app's 12 were dropped and `process_resident_memory_bytes` reported
//! the sidecar. The app is Debian's python3-prometheus-client.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{
    free_port, get, parse_samples, series_key, spawn, spawn_configured, wait_for_tick_after_now,
    wait_until,
};

#[test]
fn an_apps_process_series_stay_beside_outriders_own() {
    let port = free_port();
    let _app = spawn(
        Path::new("/usr/bin/python3"),
        &[
            "-c".to_owned(),
            format!(
                "import time\nfrom prometheus_client import start_http_server, Counter\n\
                 Counter('orders', 'Orders.').inc(3)\n\
                 start_http_server({port}, addr='127.0.0.1')\n\
                 time.sleep(120)\n"
            ),
        ],
        &[],
    );
    wait_until(Duration::from_secs(10), "the Python app listening", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let dir = tempfile::tempdir().unwrap();
    let (_outrider, address) = spawn_configured(
        dir.path(),
        &format!(
            "collect_interval: 200ms\nscrape:\n  - name: shop\n    url: http://127.0.0.1:{port}/metrics\n    interval: 200ms\n    timeout: 150ms\n"
        ),
        &[],
        &[],
    );
    let metrics = format!("http://{address}/metrics");
    wait_until(Duration::from_secs(10), "the app scraped", || {
        get(&metrics, &[]).status == 200
            && get(&metrics, &[])
                .text()
                .contains("orders_total{job=\"shop\"}")
    });
    wait_for_tick_after_now(&metrics);
    let samples = parse_samples(&get(&metrics, &[]).text());
    let own_resident = samples[&series_key("process_resident_memory_bytes", &[])];
    let app_resident = samples[&series_key("process_resident_memory_bytes", &[("job", "shop")])];
    // Each is its own process: the app's start time and PID-specific
    // figures differ from outrider's.
    let start =
        |labels: &[(&str, &str)]| samples[&series_key("process_start_time_seconds", labels)];
    assert!(own_resident > 0.0 && app_resident > 0.0);
    assert_ne!(start(&[]), start(&[("job", "shop")]));
    let app_process: Vec<_> = samples
        .keys()
        .filter(|k| {
            k.name.starts_with("process_") && k.labels.get("job").is_some_and(|j| j == "shop")
        })
        .collect();
    assert!(app_process.len() >= 6, "{app_process:?}");
    assert_eq!(
        samples.get(&series_key(
            "outrider_series_dropped_total",
            &[("reason", "duplicate")]
        )),
        Some(&0.0)
    );
}
