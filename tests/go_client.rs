//! The Go client library's push package, the reference Pushgateway client,
//! against outrider and the real Pushgateway side by side: it sends the
//! delimited protobuf format, and what it pushes, adds and deletes must
//! leave the same series in both.

mod common;

use common::{
    assert_same_pushed_series, build_go_client, get, pushed_series, run_client, series_key,
    start_outrider_with_env, start_pushgateway, wait_for_tick_after_now,
};

const TOKEN: &str = "go-client-token-0123456789";

#[test]
fn the_go_push_package_pushes_adds_and_deletes_as_on_the_pushgateway() {
    let pusher = build_go_client("go_pusher");
    let (_gateway_process, gateway, _state) = start_pushgateway();
    let outrider = start_outrider_with_env(
        &["--collect.interval", "200ms"],
        &[("OUTRIDER_PUSH_TOKEN", TOKEN)],
    );
    let base = outrider.url("");
    let both = |action: &str| {
        let (theirs, their_output) = run_client(&pusher, &[&gateway, action], &[]);
        assert!(theirs, "{action} to the Pushgateway: {their_output}");
        let (ours, our_output) = run_client(&pusher, &[&base, action], &[("PUSH_TOKEN", TOKEN)]);
        assert!(ours, "{action} to outrider: {our_output}");
        wait_for_tick_after_now(&outrider.url("/metrics"));
        let theirs = pushed_series(&get(&format!("{gateway}/metrics"), &[]).text());
        let ours = pushed_series(&get(&outrider.url("/metrics"), &[]).text());
        assert_same_pushed_series(&theirs, &ours, &format!("after {action}"));
        ours
    };
    let pushed = both("push");
    // The gauge, counter, histogram and summary arrived with their values.
    assert_eq!(
        pushed[&key("batch_last_success_timestamp_seconds", &[])],
        1700000000.5
    );
    assert_eq!(
        pushed[&key("batch_records_total", &[("table", "users")])],
        42.0
    );
    assert_eq!(
        pushed[&key("batch_step_duration_seconds_bucket", &[("le", "0.005")])],
        1.0
    );
    assert_eq!(
        pushed[&key("batch_step_duration_seconds_bucket", &[("le", "2.5")])],
        3.0
    );
    assert_eq!(
        pushed[&key("batch_step_duration_seconds_bucket", &[("le", "+Inf")])],
        5.0
    );
    assert_eq!(pushed[&key("batch_step_duration_seconds_count", &[])], 5.0);
    assert_eq!(
        pushed[&key("batch_row_bytes", &[("quantile", "0.5")])],
        50.0
    );
    assert_eq!(pushed[&key("batch_row_bytes_sum", &[])], 5050.0);

    // A broken protobuf body is refused, says where, and changes nothing:
    // a PUT would have replaced the whole group.
    let protobuf = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";
    let bearer = format!("Bearer {TOKEN}");
    let cut = common::send(
        "PUT",
        &outrider.url("/metrics/job/batch/instance/worker-1"),
        &[("Authorization", &bearer), ("Content-Type", protobuf)],
        &[0x20, 0x0a, 0x01],
    );
    assert_eq!(cut.status, 400, "{}", cut.text());
    assert!(
        cut.text()
            .contains("metric family 0 (from byte 0): at byte 1: truncated"),
        "{}",
        cut.text()
    );

    // POST replaces the families it names and keeps the others.
    let added = both("add");
    assert_eq!(
        added[&key("batch_last_success_timestamp_seconds", &[])],
        1700000100.0
    );
    assert_eq!(added[&key("batch_row_bytes_count", &[])], 100.0);

    let deleted = both("delete");
    assert!(
        !deleted.keys().any(|k| k.name.starts_with("batch_")),
        "{deleted:#?}"
    );
}

/// The key of `name{extra}` in the pusher's group.
fn key(name: &str, extra: &[(&str, &str)]) -> common::SeriesKey {
    let mut labels = vec![("instance", "worker-1"), ("job", "batch")];
    labels.extend_from_slice(extra);
    series_key(name, &labels)
}
