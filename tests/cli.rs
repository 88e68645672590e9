//! Command-line behaviour: bad configuration is refused with a message and an
//! exit code, and `outrider check` validates files like `promtool check`.

mod common;

use std::process::Command;

fn outrider(args: &[&str]) -> std::process::Output {
    Command::new(common::outrider_binary())
        .args(args)
        .output()
        .expect("run outrider")
}

#[test]
fn a_config_typo_refuses_to_start_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("outrider.yml");
    std::fs::write(&file, "collectors:\n  filesystem:\n    mount_timout: 5s\n").unwrap();
    let output = outrider(&["--config.file", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown field `mount_timout`"), "{stderr}");
    assert!(stderr.contains("line 3"), "{stderr}");
}

#[test]
fn bad_flags_and_values_are_refused() {
    let output = outrider(&["--collect.interval", "often"]);
    assert_eq!(output.status.code(), Some(2));
    let output = outrider(&[
        "--web.listen-address",
        "127.0.0.1:0",
        "--web.telemetry-path",
        "/",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("telemetry_path"));
    let output = outrider(&["--config.file", "/nonexistent/outrider.yml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/outrider.yml"));
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = outrider(&["--web.listen-address", &address]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("listening on {address}")),
        "{stderr}"
    );
}

#[test]
fn check_validates_files() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yml");
    std::fs::write(&good, "collect_interval: 30s\ncollectors:\n  netdev:\n    device_include: '^eth'\n    device_exclude: null\n").unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "collectors:\n  netdev:\n    device_include: '^eth'\n").unwrap();

    let output = outrider(&["check", good.to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("SUCCESS"));

    let output = outrider(&["check", good.to_str().unwrap(), bad.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("mutually exclusive"));
}
