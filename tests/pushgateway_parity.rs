//! The same requests against the real Pushgateway (Debian's
//! `prometheus-pushgateway`) and outrider's Pushgateway API: the answers
//! agree (accepted or refused) and the resulting series are the same.

mod common;

use common::{assert_same_pushed_series, get, pushed_series, send};

const TOKEN: &str = "parity-token-0123456789";

/// A request of the sequence: method, path, body.
const REQUESTS: &[(&str, &str, &str)] = &[
    (
        "PUT",
        "/metrics/job/backup/instance/db1",
        "# HELP backup_bytes Bytes written.\n# TYPE backup_bytes gauge\nbackup_bytes{volume=\"a\"} 10\nbackup_bytes{volume=\"b\"} 20\n# TYPE backup_runs_total counter\nbackup_runs_total 3\n",
    ),
    // POST replaces only the families it names.
    (
        "POST",
        "/metrics/job/backup/instance/db1",
        "# TYPE backup_bytes gauge\nbackup_bytes{volume=\"a\"} 11\n",
    ),
    // PUT replaces the whole group.
    (
        "PUT",
        "/metrics/job/backup/instance/db2",
        "# TYPE backup_runs_total counter\nbackup_runs_total 1\n# TYPE backup_bytes gauge\nbackup_bytes{volume=\"c\"} 5\n",
    ),
    (
        "PUT",
        "/metrics/job/backup/instance/db2",
        "# TYPE backup_bytes gauge\nbackup_bytes{volume=\"c\"} 6\n",
    ),
    // Grouping labels win over pushed labels of the same name.
    (
        "PUT",
        "/metrics/job/labels",
        "# TYPE labelled gauge\nlabelled{job=\"ignored\",k=\"v\"} 1\n",
    ),
    // Base64 values: a slash, and the empty value.
    (
        "PUT",
        "/metrics/job@base64/YS9i/path@base64/L3Zhci90bXA",
        "# TYPE encoded gauge\nencoded 1\n",
    ),
    // A histogram and a summary.
    (
        "PUT",
        "/metrics/job/shapes",
        "# TYPE req_seconds histogram\nreq_seconds_bucket{le=\"0.1\"} 1\nreq_seconds_bucket{le=\"+Inf\"} 4\nreq_seconds_sum 2.5\nreq_seconds_count 4\n# TYPE rpc_seconds summary\nrpc_seconds{quantile=\"0.5\"} 0.2\nrpc_seconds_sum 3\nrpc_seconds_count 9\n",
    ),
    // Untyped.
    ("POST", "/metrics/job/plain", "plain_value 42\n"),
    // Refused: a timestamp, a type clash with another group, a bad body, an
    // odd path.
    (
        "POST",
        "/metrics/job/backup/instance/db1",
        "backup_bytes{volume=\"a\"} 12 1000\n",
    ),
    (
        "POST",
        "/metrics/job/backup/instance/db1",
        "# TYPE plain_value counter\nplain_value 1\n",
    ),
    ("POST", "/metrics/job/plain", "plain_value{ 1\n"),
    ("POST", "/metrics/job/plain/odd", "plain_value 1\n"),
    // Deleting one group leaves the others.
    ("DELETE", "/metrics/job/backup/instance/db2", ""),
    ("PUT", "/metrics/job/gone", "gone 1\n"),
    ("DELETE", "/metrics/job/gone", ""),
];

fn class(status: u16) -> &'static str {
    match status {
        200..=299 => "accepted",
        400..=499 => "refused",
        _ => "error",
    }
}

#[test]
fn the_same_pushes_give_the_same_series_as_the_pushgateway() {
    let (_gateway_process, gateway, _state) = common::start_pushgateway();
    let outrider = common::start_outrider_with_env(
        &["--collect.interval", "200ms"],
        &[("OUTRIDER_PUSH_TOKEN", TOKEN)],
    );
    let bearer = format!("Bearer {TOKEN}");
    for (method, path, body) in REQUESTS {
        let theirs = send(method, &format!("{gateway}{path}"), &[], body.as_bytes());
        let ours = send(
            method,
            &outrider.url(path),
            &[("Authorization", &bearer)],
            body.as_bytes(),
        );
        assert_eq!(
            class(ours.status),
            class(theirs.status),
            "{method} {path}: the Pushgateway said {} {:?}, outrider {} {:?}",
            theirs.status,
            theirs.text(),
            ours.status,
            ours.text()
        );
    }
    common::wait_for_tick_after_now(&outrider.url("/metrics"));
    let theirs = pushed_series(&get(&format!("{gateway}/metrics"), &[]).text());
    let ours = pushed_series(&get(&outrider.url("/metrics"), &[]).text());
    assert!(theirs.len() > 20, "{theirs:?}");
    assert_same_pushed_series(&theirs, &ours, "after the same pushes");
}
