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

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `check` is the CI gate for `run`: a config `run` refuses must fail it,
/// with the same reason.
#[test]
fn check_refuses_the_short_tokens_that_run_refuses() {
    let dir = tempfile::tempdir().unwrap();
    for (yaml, reason) in [
        (
            "push: {token: short}\n",
            "push.token must be at least 16 characters",
        ),
        (
            "web: {reload_token: short}\n",
            "web.reload_token must be at least 16 characters",
        ),
    ] {
        let file = dir.path().join("short.yml");
        std::fs::write(&file, yaml).unwrap();
        let checked = outrider(&["check", file.to_str().unwrap()]);
        assert_eq!(checked.status.code(), Some(1), "{yaml}: {checked:?}");
        assert!(stderr(&checked).contains(reason), "{}", stderr(&checked));
        let run = outrider(&[
            "--config.file",
            file.to_str().unwrap(),
            "--web.listen-address",
            "127.0.0.1:0",
        ]);
        assert_eq!(run.status.code(), Some(2), "{yaml}: {run:?}");
        assert!(stderr(&run).contains(reason), "{}", stderr(&run));
    }
}

/// Folders are checked file by file, like the config's `rules:` reads
/// them, and every error of every file is shown, as `promtool check` does.
#[test]
fn check_takes_folders_and_reports_every_error() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(
        rules.join("a-good.yml"),
        "groups:\n  - name: good\n    rules:\n      - alert: Fine\n        selector: x\n        threshold: {above: {warning: 1}}\n",
    )
    .unwrap();
    std::fs::write(
        rules.join("b-bad.yaml"),
        "groups:\n  - name: bad\n    rules:\n      - alert: lower\n        selector: x\n        threshold: {above: {warning: 1}}\n      - alert: NoLevels\n        selector: x\n        threshold: {}\n",
    )
    .unwrap();
    std::fs::write(rules.join("notes.md"), "not a rule file\n").unwrap();
    let config = dir.path().join("outrider.yml");
    std::fs::write(
        &config,
        "collect_interval: 0s\nweb: {telemetry_path: metrics}\n",
    )
    .unwrap();

    let output = outrider(&["check", rules.to_str().unwrap(), config.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let (out, err) = (stdout(&output), stderr(&output));
    assert!(
        out.contains("a-good.yml\n  SUCCESS: 1 rules found"),
        "{out}"
    );
    assert!(
        out.contains("Checking ") && out.contains("b-bad.yaml"),
        "{out}"
    );
    assert!(!out.contains("notes.md"), "{out}");
    for expected in [
        "b-bad.yaml:4:9: rule lower",
        "b-bad.yaml:7:9: rule NoLevels",
        "collect_interval must be more than 0s",
        "web.telemetry_path",
    ] {
        assert!(err.contains(expected), "{expected}: {err}");
    }
    assert_eq!(err.matches("  FAILED:").count(), 2, "{err}");

    let fine = outrider(&["check", rules.join("a-good.yml").to_str().unwrap()]);
    assert!(fine.status.success(), "{fine:?}");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let output = outrider(&["check", empty.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(stderr(&output).contains("no *.yml or *.yaml"), "{output:?}");
}

/// The generated Prometheus rule files are promtool's to check: `check`
/// says so instead of only `unknown field`.
#[test]
fn check_on_a_generated_prometheus_rule_file_points_at_promtool() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = outrider(&[
        "check",
        repo.join("alerts/host.rules.yml").to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let err = stderr(&output);
    assert!(err.contains("unknown field `expr`"), "{err}");
    assert!(
        err.contains("Prometheus rule file") && err.contains("promtool check rules"),
        "{err}"
    );
    // The rest of what `generate` writes into alerts/ points at its tool too.
    let output = outrider(&["check", repo.join("alerts").to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let err = stderr(&output);
    for hint in [
        "`promtool check rules`",
        "`promtool test rules`",
        "`amtool check-config`",
    ] {
        assert!(err.contains(hint), "{hint}: {err}");
    }
}

/// Every example the repository ships passes `check` as shipped.
#[test]
fn every_shipped_config_and_rule_file_passes_check() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = outrider(&[
        "check",
        repo.join("config").to_str().unwrap(),
        repo.join("rules").to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    let out = stdout(&output);
    for name in [
        "web-config.yml",
        "web-config-mtls.yml",
        "host.yml",
        "app.yml",
    ] {
        assert!(out.contains(name), "{name}: {out}");
    }
    assert_eq!(
        out.matches("SUCCESS").count(),
        out.matches("Checking").count(),
        "{out}"
    );
}
