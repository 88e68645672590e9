//! Pushes with the client libraries' own basic auth: Python's
//! `basic_auth_handler` and Go's `Pusher.BasicAuth` reach the store with a
//! user of `push.basic_auth_users`, beside the bearer token; a wrong
//! password is refused and changes nothing.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{
    build_go_client, get, run_client, sample_value, spawn_configured, wait_for_tick_after_now,
    wait_until,
};

const TOKEN: &str = "basic-auth-test-token-0123";
const USER: &str = "pusher";
const PASSWORD: &str = "pusher-password-1";

/// Pushes one gauge with Python's push_to_gateway and basic_auth_handler;
/// whether it succeeded, and what it printed.
fn python_push(address: &str, job: &str, value: f64, password: &str) -> (bool, String) {
    let script = format!(
        r#"
from prometheus_client import CollectorRegistry, Gauge, push_to_gateway
from prometheus_client.exposition import basic_auth_handler

def auth(url, method, timeout, headers, data):
    return basic_auth_handler(url, method, timeout, headers, data, "{USER}", "{password}")

registry = CollectorRegistry()
Gauge("nightly_rows", "Rows written.", registry=registry).set({value})
push_to_gateway("{address}", job="{job}", registry=registry, handler=auth)
"#
    );
    let output = std::process::Command::new(Path::new("/usr/bin/python3"))
        .args(["-c", &script])
        .output()
        .expect("run python3");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn client_libraries_push_with_their_own_basic_auth() {
    let pusher = build_go_client("go_pusher");
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_process, address) = spawn_configured(
        dir.path(),
        &format!(
            "collect_interval: 200ms\npush:\n  token: {TOKEN}\n  basic_auth_users:\n    {USER}: '{hash}'\n"
        ),
        &[],
        &[],
    );
    let metrics = format!("http://{address}/metrics");
    wait_until(Duration::from_secs(10), "outrider ready", || {
        get(&format!("http://{address}/-/ready"), &[]).status == 200
    });
    let base = format!("http://{address}");

    // Python: the right password pushes, a wrong one is refused.
    let (ok, output) = python_push(&address, "py", 12.0, PASSWORD);
    assert!(ok, "{output}");
    let (ok, output) = python_push(&address, "py", 99.0, "wrong-password");
    assert!(!ok && output.contains("401"), "{output}");

    // Go: its own BasicAuth, and a wrong password.
    let user = [("PUSH_USER", USER), ("PUSH_PASSWORD", PASSWORD)];
    let (ok, output) = run_client(&pusher, &[&base, "push"], &user);
    assert!(ok, "{output}");
    let wrong = [("PUSH_USER", USER), ("PUSH_PASSWORD", "wrong-password")];
    let (ok, output) = run_client(&pusher, &[&base, "add"], &wrong);
    assert!(!ok && output.contains("401"), "{output}");
    // The bearer token still works beside the users.
    let (ok, output) = run_client(&pusher, &[&base, "push"], &[("PUSH_TOKEN", TOKEN)]);
    assert!(ok, "{output}");

    wait_for_tick_after_now(&metrics);
    let text = get(&metrics, &[]).text();
    assert_eq!(
        sample_value(&text, "nightly_rows", &[("job", "py")]),
        Some(12.0)
    );
    // The refused POST would have set it to 1700000100.
    assert_eq!(
        sample_value(
            &text,
            "batch_last_success_timestamp_seconds",
            &[("instance", "worker-1"), ("job", "batch")]
        ),
        Some(1700000000.5)
    );
}
