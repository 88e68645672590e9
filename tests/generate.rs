//! `outrider generate` against the real tools: promtool checks and
//! unit-tests every generated rule file, amtool checks the Alertmanager
//! example, and `--check` notices stale files. The end-to-end run of the
//! generated rules is in generate_e2e.rs.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{outrider_binary, require};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn outrider(args: &[&str]) -> Output {
    Command::new(outrider_binary())
        .args(args)
        .output()
        .expect("run outrider")
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr)
}

fn tool(program: &str, args: &[&str], dir: &Path) -> Output {
    Command::new(require(program))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"))
}

fn files(dir: &Path, suffix: &str) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(suffix))
        .collect();
    found.sort();
    found
}

/// promtool check rules and test rules on every file of an alerts/ folder.
fn promtool_passes(alerts: &Path) {
    let rules = files(alerts, ".rules.yml");
    assert!(!rules.is_empty(), "no rule files in {}", alerts.display());
    let mut args = vec!["check", "rules"];
    args.extend(rules.iter().map(String::as_str));
    let checked = tool("promtool", &args, alerts);
    assert!(checked.status.success(), "{}", text(&checked));
    let tests = files(alerts, ".test.yml");
    assert_eq!(tests.len(), rules.len(), "one test file per rule file");
    let mut args = vec!["test", "rules"];
    args.extend(tests.iter().map(String::as_str));
    let tested = tool("promtool", &args, alerts);
    assert!(tested.status.success(), "{}", text(&tested));
}

fn generate_into(dir: &Path, extra: &[&str]) {
    let mut args = vec!["generate", "--out", dir.to_str().unwrap()];
    args.extend(extra);
    let out = outrider(&args);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn the_committed_files_are_current_and_pass_promtool_and_amtool() {
    let check = outrider(&["generate", "--check", "--out", repo().to_str().unwrap()]);
    assert!(
        check.status.success(),
        "run `cargo run -- generate` and commit:\n{}",
        text(&check)
    );
    promtool_passes(&repo().join("alerts"));
    let am = tool(
        "amtool",
        &["check-config", "alertmanager.yml"],
        &repo().join("alerts"),
    );
    assert!(am.status.success(), "{}", text(&am));
    let found = text(&am);
    assert!(found.contains("1 inhibit rules"), "{found}");
    assert!(found.contains("2 receivers"), "{found}");
}

/// Every kind and option of the rule format, to show the generator (and
/// its promtool tests) is not tuned to the default rules.
const EVERY_KIND: &str = r#"groups:
  - name: kinds
    limit: 50
    rules:
      - alert: Above
        selector: 'temperature_celsius{sensor=~"cpu|gpu", zone!="test"}'
        threshold: {above: {warning: 70, critical: 90}}
        for: 2m
        keep_firing_for: 5m
        labels: {team: hw}
        summary: '{{ $labels.sensor }} at {{ $value }} degrees'
      - alert: Big
        selector: disk_bytes
        threshold: {above: {warning: 1000000}}
        description: '{{ $value }} bytes, {{ $value | humanize }}B'
      - alert: Below
        selector: battery_ratio
        threshold: {below: {critical: 0.1}}
        description: 'Only {{ $value | humanizePercentage }} left'
      - alert: ErrorRate
        selector: errors_total
        threshold: {rate: true, above: {warning: 2}}
        description: '{{ $value }} errors per second'
      - alert: FillingUp
        selector: free_bytes
        threshold: {divide_by: size_bytes, predict: 4h, below: {warning: 0}}
      - alert: Drop
        selector: 'requests_total{path="/"}'
        anomaly: {direction: down, ratio: {warning: 2, critical: 4}}
        description: '{{ $value }} of the usual'
      - alert: Swing
        selector: queue_depth
        anomaly: {direction: both, ratio: {warning: 1.5}, zscore: {critical: 5}}
        summary: 'Queue {{ $labels.queue }} is deep'
      - alert: Spiky
        selector: 'latency_seconds{metric="p99"}'
        anomaly: {zscore: {warning: 4, critical: 8}}
      - alert: Unusual
        selector: cache_hits_total
        anomaly: {score: {warning: 0.5, critical: 0.9}}
      - alert: Gone
        selector: 'up{job="db"}'
        absent: 10m
        summary: '{{ $labels.job }} is gone'
      - alert: Availability
        slo: {objective: 99.9, errors: 'req_total{code=~"5.."}', total: req_total, period: 30d, min_rate: 1, by: [namespace, service]}
        summary: 'Error budget of {{ $labels.service }} in {{ $labels.namespace }} burning'
        description: 'burning {{ $value | humanize }}x'
      - alert: Latency
        labels: {team: web}
        slo: {objective: 95, good: 'dur_bucket{le="0.25"}', total: dur_count, period: 7d}
        summary: '{{ $labels.service }} of {{ $labels.job }} is slow'
        description: 'burning {{ $value }}x'
"#;

#[test]
fn every_kind_of_rule_generates_rules_that_promtool_checks_and_tests() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("kinds.yml");
    std::fs::write(&rules, EVERY_KIND).unwrap();
    for scale in ["1", "60"] {
        let out = dir.path().join(format!("scale{scale}"));
        generate_into(
            &out,
            &[rules.to_str().unwrap(), "--slo-window-scale", scale],
        );
        promtool_passes(&out.join("alerts"));
    }
    let generated =
        std::fs::read_to_string(dir.path().join("scale1/alerts/kinds.rules.yml")).unwrap();
    for expected in [
        r#"temperature_celsius{sensor=~"cpu|gpu", zone!="test"} >= 70"#,
        "rate(errors_total[5m]) >= 2",
        "predict_linear(free_bytes[1h], 14400) / size_bytes <= 0",
        r#"1 / (outrider_anomaly_ratio{metric="requests_total", path="/"} > 0) >= 4"#,
        r#"abs(outrider_anomaly_zscore{metric="queue_depth"}) >= 5"#,
        r#"outrider_anomaly_zscore{metric="latency_seconds", exported_metric="p99"} >= 8"#,
        r#"outrider_anomaly_score{metric="cache_hits_total"} >= 0.9"#,
        r#"absent_over_time(up{job="db"}[10m])"#,
        "keep_firing_for: 5m",
        "slo:sli_error:ratio_rate30d",
        "slo:sli_requests:rate1h{slo=\"Availability\"} >= 1",
        // Each SLO keeps its own `by` labels, and the default ones name a
        // service, not only a job.
        r#"sum by (namespace, service) (rate(req_total{code=~"5.."}[5m]))"#,
        "and on (namespace, service, slo)",
        "sum by (namespace, service, job) (rate(dur_count[5m]))",
        "and on (namespace, service, job, slo)",
    ] {
        assert!(
            generated.contains(expected),
            "{expected} not in:\n{generated}"
        );
    }
    assert!(!generated.contains("sum by (job)"), "{generated}");
    // The group's limit goes on its alerts, which promtool accepted above;
    // not on the SLO recordings, which give one series per service.
    assert_eq!(generated.matches("limit: 50").count(), 1, "{generated}");
    assert!(
        generated.contains("- name: kinds\n  limit: 50\n"),
        "{generated}"
    );
    // The promtool tests expect rendered summaries, with the labels the
    // alerts carry, not blanks.
    let tests = std::fs::read_to_string(dir.path().join("scale1/alerts/kinds.test.yml")).unwrap();
    for expected in [
        "summary: Error budget of critical-service in critical-namespace burning",
        "summary: critical-service of critical-job is slow",
        "summary: Queue test-queue is deep",
    ] {
        assert!(tests.contains(expected), "{expected} not in:\n{tests}");
    }
    assert!(!tests.contains("Error budget of  in"), "{tests}");
    let scaled =
        std::fs::read_to_string(dir.path().join("scale60/alerts/kinds.rules.yml")).unwrap();
    assert!(scaled.contains("slo:sli_error:ratio_rate5s"), "{scaled}");
    assert!(scaled.contains("slo:sli_error:ratio_rate1h12m"), "{scaled}");
}

/// The unit tests are not vacuous: a rule that no longer matches what the
/// rule file says fails them.
#[test]
fn the_promtool_tests_fail_when_a_generated_rule_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    generate_into(dir.path(), &[]);
    let alerts = dir.path().join("alerts");
    let file = alerts.join("host.rules.yml");
    let rules = std::fs::read_to_string(&file).unwrap();
    let broken = rules.replacen("<= 0.05", "<= 0.01", 1);
    assert_ne!(broken, rules);
    std::fs::write(&file, broken).unwrap();
    let tested = tool("promtool", &["test", "rules", "host.test.yml"], &alerts);
    assert!(!tested.status.success(), "{}", text(&tested));
    assert!(
        text(&tested).contains("HostFilesystemAlmostFull"),
        "{}",
        text(&tested)
    );

    let check = outrider(&["generate", "--check", "--out", dir.path().to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    assert!(
        text(&check).contains("alerts/host.rules.yml: differs"),
        "{}",
        text(&check)
    );
}

#[test]
fn check_names_missing_changed_and_stale_files_and_generate_fixes_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let missing = outrider(&["generate", "--check", "--out", out]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing).contains("grafana/outrider-host.json: missing"),
        "{}",
        text(&missing)
    );

    generate_into(dir.path(), &[]);
    std::fs::write(dir.path().join("grafana/outrider-app.json"), "{}\n").unwrap();
    let changed = outrider(&["generate", "--check", "--out", out]);
    assert_eq!(changed.status.code(), Some(1));
    assert!(
        text(&changed).contains("grafana/outrider-app.json: differs"),
        "{}",
        text(&changed)
    );
    let fixed = outrider(&["generate", "--out", out]);
    assert!(
        text(&fixed).contains("1 written, 0 stale removed"),
        "{}",
        text(&fixed)
    );
    let check = outrider(&["generate", "--check", "--out", out]);
    assert!(check.status.success(), "{}", text(&check));
    // Byte-for-byte the same on a second run.
    let again = outrider(&["generate", "--out", out]);
    assert!(
        text(&again).contains("0 written, 0 stale removed"),
        "{}",
        text(&again)
    );
}

/// `--out` is often an ops repository: a team's own rules, dashboards and
/// manifests beside the generated ones survive, and only what an earlier
/// run generated and this one no longer does is removed.
#[test]
fn generate_removes_only_the_stale_files_it_wrote_and_keeps_a_teams_own() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ops");
    let out_text = out.to_str().unwrap();
    generate_into(&out, &[]);
    let own = [
        ("alerts/team.yml", "groups: []\n"),
        ("alerts/team.rules.yml", "groups: []\n"),
        ("grafana/mine.json", "{\"title\": \"mine\"}\n"),
        ("deploy/secret.yml", "apiVersion: v1\nkind: Secret\n"),
    ];
    for (path, body) in own {
        std::fs::write(out.join(path), body).unwrap();
    }
    let check = outrider(&["generate", "--check", "--out", out_text]);
    assert!(check.status.success(), "{}", text(&check));
    // A generated file the team has edited since is theirs now.
    let edited = out.join("alerts/app.test.yml");
    let mut kept = std::fs::read_to_string(&edited).unwrap();
    kept.push_str("# our own case below\n");
    std::fs::write(&edited, &kept).unwrap();

    // The same rules without the app group: its files are stale.
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    for name in ["host.yml", "processes.yml", "containers.yml"] {
        std::fs::copy(repo().join("rules").join(name), rules.join(name)).unwrap();
    }
    let rules_text = rules.to_str().unwrap();
    let stale = outrider(&["generate", "--check", "--out", out_text, rules_text]);
    assert_eq!(stale.status.code(), Some(1), "{}", text(&stale));
    let report = text(&stale);
    assert!(
        report.contains("alerts/app.rules.yml: generated before"),
        "{report}"
    );
    for (path, _) in own.iter().chain(&[("alerts/app.test.yml", "")]) {
        assert!(!report.contains(path), "{path} is not ours: {report}");
    }
    let stale_count = report.matches(": generated before").count();
    let generated = outrider(&["generate", "--out", out_text, rules_text]);
    assert!(generated.status.success(), "{}", text(&generated));
    assert!(
        text(&generated).contains(&format!(", {stale_count} stale removed")),
        "{stale_count}: {}",
        text(&generated)
    );
    assert!(!out.join("alerts/app.rules.yml").exists());
    assert_eq!(std::fs::read_to_string(&edited).unwrap(), kept);
    for (path, body) in own {
        assert_eq!(
            std::fs::read_to_string(out.join(path)).unwrap(),
            body,
            "{path} survives"
        );
    }
    let check = outrider(&["generate", "--check", "--out", out_text, rules_text]);
    assert!(check.status.success(), "{}", text(&check));
}

#[test]
fn bad_rule_files_and_options_exit_2_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "groups:\n  - name: g\n    rules:\n      - alert: lower\n        selector: x\n        threshold: {above: {warning: 1}}\n",
    )
    .unwrap();
    let out = outrider(&[
        "generate",
        "--out",
        dir.path().to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("bad.yml:4:9: rule lower"),
        "{}",
        text(&out)
    );
    assert!(!dir.path().join("alerts").exists(), "nothing is written");

    let missing = outrider(&["generate", "no/such/rules.yml"]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    assert!(
        text(&missing).contains("no/such/rules.yml"),
        "{}",
        text(&missing)
    );

    let scale = outrider(&["generate", "--slo-window-scale", "0"]);
    assert_eq!(scale.status.code(), Some(2), "{}", text(&scale));

    let blocked = dir.path().join("a-file");
    std::fs::write(&blocked, "").unwrap();
    let unwritable = outrider(&["generate", "--out", blocked.to_str().unwrap()]);
    assert_eq!(unwritable.status.code(), Some(3), "{}", text(&unwritable));
    assert!(
        text(&unwritable).contains("a-file/alerts"),
        "{}",
        text(&unwritable)
    );
}

#[test]
fn the_operator_format_writes_prometheus_rules_apart_from_promtool_rule_files() {
    let dir = tempfile::tempdir().unwrap();
    generate_into(dir.path(), &["--format", "prometheus-operator"]);
    let alerts = dir.path().join("alerts");
    assert!(files(&alerts, ".test.yml").is_empty());
    // Every *.rules.yml left in alerts/ loads in promtool; the resources
    // are in alerts/operator/.
    let rule_files = files(&alerts, ".rules.yml");
    assert!(rule_files.is_empty(), "{rule_files:?}");
    let resources = files(&alerts.join("operator"), ".yaml");
    assert_eq!(
        resources,
        ["app.yaml", "containers.yaml", "host.yaml", "processes.yaml"]
    );
    for name in resources {
        let yaml = std::fs::read_to_string(alerts.join("operator").join(&name)).unwrap();
        let resource: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).unwrap();
        assert_eq!(resource["kind"], "PrometheusRule", "{name}");
        assert_eq!(resource["apiVersion"], "monitoring.coreos.com/v1");
        // The spec is a plain rule file: promtool checks it.
        let spec = dir.path().join(format!("spec-{name}"));
        std::fs::write(&spec, serde_yaml_ng::to_string(&resource["spec"]).unwrap()).unwrap();
        let checked = tool(
            "promtool",
            &["check", "rules", spec.to_str().unwrap()],
            dir.path(),
        );
        assert!(checked.status.success(), "{name}: {}", text(&checked));
    }
    // Switching formats in place leaves no file of the other one behind,
    // and every rule file in alerts/ still loads in promtool.
    generate_into(dir.path(), &[]);
    assert!(!alerts.join("operator").join("host.yaml").exists());
    promtool_passes(&alerts);
    generate_into(dir.path(), &["--format", "prometheus-operator"]);
    assert!(files(&alerts, ".rules.yml").is_empty());
    // deploy/ is the same in both formats.
    let plain = tempfile::tempdir().unwrap();
    generate_into(plain.path(), &[]);
    for name in files(&plain.path().join("deploy"), ".yml") {
        assert_eq!(
            std::fs::read_to_string(plain.path().join("deploy").join(&name)).unwrap(),
            std::fs::read_to_string(dir.path().join("deploy").join(&name)).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn the_kubernetes_example_holds_the_sidecar_a_pod_monitor_and_the_dashboards() {
    let deploy = repo().join("deploy");
    let docs = |name: &str| -> Vec<serde_yaml_ng::Value> {
        let text = std::fs::read_to_string(deploy.join(name)).unwrap();
        text.split("\n---\n")
            .map(|doc| serde_yaml_ng::from_str(doc).unwrap())
            .collect()
    };
    let manifests = docs("deployment.yml");
    let deployment = manifests
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("a Deployment");
    assert!(manifests.iter().any(|d| d["kind"] == "ConfigMap"));
    let containers = deployment["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .unwrap();
    assert!(containers.iter().any(|c| c["name"] == "outrider"));
    assert_eq!(docs("podmonitor.yml")[0]["kind"], "PodMonitor");
    let rules = docs("prometheus-rules.yml");
    assert_eq!(rules.len(), 4);
    assert!(rules.iter().all(|r| r["kind"] == "PrometheusRule"));
    let config_map = &docs("grafana-dashboards.yml")[0];
    assert_eq!(config_map["metadata"]["labels"]["grafana_dashboard"], "1");
    let data = config_map["data"].as_mapping().unwrap();
    let grafana = files(&repo().join("grafana"), ".json");
    assert_eq!(data.len(), grafana.len());
    for name in &grafana {
        let on_disk = std::fs::read_to_string(repo().join("grafana").join(name)).unwrap();
        assert_eq!(
            data[name.as_str()].as_str(),
            Some(on_disk.as_str()),
            "{name}"
        );
    }
    let kustomization = &docs("kustomization.yml")[0];
    assert_eq!(kustomization["resources"].as_sequence().unwrap().len(), 4);
}

#[test]
fn every_dashboard_panel_has_a_unit_a_datasource_and_a_query() {
    let grafana = repo().join("grafana");
    let names = files(&grafana, ".json");
    assert!(names.len() >= 8, "{names:?}");
    let mut uids = std::collections::BTreeSet::new();
    for name in names {
        let text = std::fs::read_to_string(grafana.join(&name)).unwrap();
        let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
        let uid = dashboard["uid"].as_str().unwrap().to_owned();
        assert!(uids.insert(uid.clone()), "{name}: uid {uid} used twice");
        let variables: Vec<&str> = dashboard["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        for required in ["datasource", "job", "instance"] {
            assert!(variables.contains(&required), "{name}: no ${required}");
        }
        let panels: Vec<&serde_json::Value> = dashboard["panels"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["type"] != "row")
            .collect();
        assert!(!panels.is_empty(), "{name}: no panels");
        for panel in panels {
            let title = panel["title"].as_str().unwrap();
            let unit = panel["fieldConfig"]["defaults"]["unit"]
                .as_str()
                .unwrap_or("");
            assert!(!unit.is_empty(), "{name} / {title}: no unit");
            assert_eq!(
                panel["datasource"]["uid"], "${datasource}",
                "{name} / {title}"
            );
            let targets = panel["targets"].as_array().unwrap();
            assert!(!targets.is_empty(), "{name} / {title}: no query");
            for target in targets {
                assert_eq!(
                    target["datasource"]["uid"], "${datasource}",
                    "{name} / {title}"
                );
                assert!(
                    !target["expr"].as_str().unwrap().is_empty(),
                    "{name} / {title}"
                );
            }
        }
    }
}
