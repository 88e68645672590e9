//! OTLP/HTTP metrics from the real OpenTelemetry Python SDK and its
//! OTLP/HTTP exporter (PyPI `opentelemetry-sdk`,
//! `opentelemetry-exporter-otlp-proto-http`): a counter, an observable
//! gauge, a histogram and an up-down counter arrive under the names and
//! labels Prometheus's OTLP receiver gives them; JSON bodies take the
//! other path; broken bodies get 400 saying where, and change nothing.

mod common;

use std::path::Path;

use common::{
    get, parse_samples, send, series_key, start_outrider_with_env, wait_for_tick_after_now,
};

const TOKEN: &str = "otlp-test-token-0123456789";

fn run_python(script: &Path, args: &[&str]) -> (bool, String) {
    let output = std::process::Command::new("/usr/bin/python3")
        .arg(script)
        .args(args)
        .output()
        .expect("run python3");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_opentelemetry_sdk_exports_as_prometheus_would_store_it() {
    let outrider = start_outrider_with_env(
        &["--collect.interval", "200ms"],
        &[("OUTRIDER_PUSH_TOKEN", TOKEN)],
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/otel_push.py");
    let (ok, output) = run_python(&script, &[&outrider.url("/v1/metrics"), TOKEN]);
    assert!(ok, "the OTLP exporter failed: {output}");
    wait_for_tick_after_now(&outrider.url("/metrics"));
    let text = get(&outrider.url("/metrics"), &[]).text();
    let samples = parse_samples(&text);
    let group = [("instance", "pod-7"), ("job", "shop/checkout")];
    let at = |name: &str, extra: &[(&str, &str)]| {
        let mut labels = group.to_vec();
        labels.extend_from_slice(extra);
        samples.get(&series_key(name, &labels)).copied()
    };
    // Counter: dots to underscores, the {order} annotation dropped, _total.
    assert_eq!(
        at("orders_placed_total", &[("region", "eu")]),
        Some(3.0),
        "{text}"
    );
    assert_eq!(at("orders_placed_total", &[("region", "us")]), Some(2.0));
    assert!(
        text.contains("# TYPE orders_placed_total counter"),
        "{text}"
    );
    // Observable gauge.
    assert_eq!(at("queue_depth", &[("queue", "mail")]), Some(12.0));
    // Histogram: the unit as a suffix, buckets cumulated, the SDK's
    // default bounds.
    let route = ("http_route", "/cart");
    let bucket = |le| {
        at(
            "http_server_request_duration_seconds_bucket",
            &[route, ("le", le)],
        )
    };
    assert_eq!(bucket("0"), Some(0.0));
    assert_eq!(bucket("5"), Some(2.0));
    assert_eq!(bucket("10"), Some(3.0));
    assert_eq!(bucket("+Inf"), Some(3.0));
    assert_eq!(
        at("http_server_request_duration_seconds_count", &[route]),
        Some(3.0)
    );
    let sum = at("http_server_request_duration_seconds_sum", &[route]).unwrap();
    assert!((sum - 7.203).abs() < 1e-9, "{sum}");
    // Up-down counter: a gauge, without _total.
    assert_eq!(at("http_server_active_requests", &[]), Some(3.0));
    assert!(
        text.contains("# TYPE http_server_active_requests gauge"),
        "{text}"
    );
    // The other resource attributes, in target_info.
    let info = samples
        .iter()
        .find(|(k, _)| k.name == "target_info")
        .unwrap_or_else(|| panic!("no target_info in {text}"));
    assert_eq!(info.0.labels["deployment_environment"], "test");
    assert_eq!(info.0.labels["telemetry_sdk_language"], "python");
    assert_eq!(info.0.labels["job"], "shop/checkout");
    assert_eq!(info.0.labels["instance"], "pod-7");
    // Pushed like any push: the group has a push time.
    assert!(at("push_time_seconds", &[]).is_some_and(|t| t > 0.0));
}

#[test]
fn json_on_prometheus_path_and_bad_bodies_say_what_and_where() {
    let outrider = start_outrider_with_env(
        &["--collect.interval", "200ms"],
        &[("OUTRIDER_PUSH_TOKEN", TOKEN)],
    );
    let bearer = format!("Bearer {TOKEN}");
    let post = |path: &str, content_type: &str, body: &[u8]| {
        send(
            "POST",
            &outrider.url(path),
            &[("Authorization", &bearer), ("Content-Type", content_type)],
            body,
        )
    };
    let body = r#"{"resourceMetrics":[{"resource":{"attributes":[
        {"key":"service.name","value":{"stringValue":"billing"}}]},
      "scopeMetrics":[{"metrics":[
        {"name":"invoices.sent","unit":"1","sum":{"aggregationTemporality":2,"isMonotonic":true,
          "dataPoints":[{"asInt":"4","timeUnixNano":"1700000000000000000"}]}},
        {"name":"cpu.utilization","unit":"1","gauge":{
          "dataPoints":[{"asDouble":0.25,"timeUnixNano":"1700000000000000000"}]}}]}]}]}"#;
    let reply = post(
        "/api/v1/otlp/v1/metrics",
        "application/json",
        body.as_bytes(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), "{}");
    wait_for_tick_after_now(&outrider.url("/metrics"));
    let before = get(&outrider.url("/metrics"), &[]).text();
    let held = |text: &str, name: &str| {
        parse_samples(text)
            .get(&series_key(name, &[("job", "billing")]))
            .copied()
    };
    assert_eq!(held(&before, "invoices_sent_total"), Some(4.0), "{before}");
    assert_eq!(
        held(&before, "cpu_utilization_ratio"),
        Some(0.25),
        "{before}"
    );

    // Each bad body changes nothing: the values above stay.
    let changed = body.replace("\"4\"", "\"9\"");
    let bad: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "application/json",
            changed
                .replace(
                    "\"aggregationTemporality\":2",
                    "\"aggregationTemporality\":1",
                )
                .into_bytes(),
            "metrics[0] (invoices.sent): delta temporality is not accepted",
        ),
        (
            "application/json",
            changed
                .replace("\"1700000000000000000\"}]}},", "\"NaN\"}]}},")
                .into_bytes(),
            "resourceMetrics[0].scopeMetrics[0].metrics[0].sum.dataPoints[0].timeUnixNano: \"NaN\" is not a time",
        ),
        (
            "application/json",
            changed.replace("\"gauge\":{", "\"wavelet\":{").into_bytes(),
            "metrics[1] (cpu.utilization): unknown metric type \"wavelet\"",
        ),
        (
            "application/json",
            changed
                .replace(
                    "\"cpu.utilization\",\"unit\":\"1\"",
                    "\"...\",\"unit\":\"\"",
                )
                .into_bytes(),
            "is not a valid metric name after translation",
        ),
        // A protobuf request cut short: field 1 says 100 bytes follow.
        (
            "application/x-protobuf",
            vec![0x0a, 100, 0x0a, 0x00],
            "truncated",
        ),
        // A metric (field 2 of ScopeMetrics) with an unknown data field 15.
        (
            "application/x-protobuf",
            vec![
                0x0a, 0x09, 0x12, 0x07, 0x12, 0x05, 0x0a, 0x01, b'x', 0x7a, 0x00,
            ],
            "unknown metric type (field 15",
        ),
    ];
    for (content_type, bad_body, expected) in bad {
        let reply = post("/v1/metrics", content_type, &bad_body);
        assert_eq!(reply.status, 400, "{expected}: {}", reply.text());
        let answer: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(expected), "{expected:?} not in {error:?}");
    }
    let reply = post("/v1/metrics", "text/plain", b"x 1\n");
    assert_eq!(reply.status, 415, "{}", reply.text());
    wait_for_tick_after_now(&outrider.url("/metrics"));
    let after = get(&outrider.url("/metrics"), &[]).text();
    assert_eq!(held(&after, "invoices_sent_total"), Some(4.0));
    assert_eq!(held(&after, "cpu_utilization_ratio"), Some(0.25));

    // Gzipped, as the Collector's exporter sends by default.
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gzip, changed.as_bytes()).unwrap();
    let reply = send(
        "POST",
        &outrider.url("/v1/metrics"),
        &[
            ("Authorization", &bearer),
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
        ],
        &gzip.finish().unwrap(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    wait_for_tick_after_now(&outrider.url("/metrics"));
    let gzipped = get(&outrider.url("/metrics"), &[]).text();
    assert_eq!(held(&gzipped, "invoices_sent_total"), Some(9.0));
}
