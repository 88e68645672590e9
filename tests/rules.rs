//! Rules in a running outrider: a rule trips, its alert shows in the gauges,
//! the Prometheus-shaped API and the events log; broken rule files are
//! refused with file, line and column; the default rules are quiet here.

mod common;

use std::time::Duration;

use common::{family, get, parse_samples, start_outrider_in};

const RULES: &str = "groups:
  - name: e2e
    rules:
      - alert: LoadIsReported
        selector: node_load1
        threshold: {above: {warning: -1}}
        for: 500ms
        labels: {team: sre}
        summary: 'load is {{ $value }}'
        runbook_url: https://example.org/runbooks/load
      - alert: LoadPerCore
        selector: node_load1
        threshold: {divide_by: node_cpu_count, above: {warning: 2}}
";

fn json(address: &str, path: &str) -> serde_json::Value {
    let reply = get(&format!("http://{address}{path}"), &[]);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["content-type"], "application/json");
    serde_json::from_slice(&reply.body).unwrap()
}

#[test]
fn a_rule_fires_into_gauges_the_api_and_the_events_log() {
    let storage = tempfile::tempdir().unwrap();
    let rules = storage.path().join("e2e.yml");
    std::fs::write(&rules, RULES).unwrap();
    let config = storage.path().join("outrider.yml");
    std::fs::write(
        &config,
        format!("collect_interval: 200ms\nrules: ['{}']\n", rules.display()),
    )
    .unwrap();
    let (_process, address) = start_outrider_in(
        storage.path(),
        &["--config.file", config.to_str().unwrap()],
        &[],
    );

    common::wait_until(Duration::from_secs(10), "the alert to fire", || {
        json(&address, "/api/v1/alerts")["data"]["alerts"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["state"] == "firing"))
    });
    let alerts = json(&address, "/api/v1/alerts");
    let alert = &alerts["data"]["alerts"][0];
    assert_eq!(alerts["status"], "success");
    assert_eq!(alert["labels"]["alertname"], "LoadIsReported");
    assert_eq!(alert["labels"]["severity"], "warning");
    assert_eq!(alert["labels"]["team"], "sre");
    assert!(
        alert["annotations"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("load is ")
    );
    assert_eq!(
        alert["annotations"]["runbook_url"],
        "https://example.org/runbooks/load"
    );
    assert!(alert["activeAt"].as_str().unwrap().ends_with('Z'));

    let rules = json(&address, "/api/v1/rules");
    let group = &rules["data"]["groups"][0];
    assert_eq!(group["name"], "e2e");
    let rule = &group["rules"][0];
    assert_eq!(rule["name"], "LoadIsReported");
    assert_eq!(rule["type"], "alerting");
    assert_eq!(rule["state"], "firing");
    assert_eq!(rule["health"], "ok");
    assert_eq!(rule["lastError"], "");
    assert_eq!(rule["duration"], 0.5);
    assert_eq!(rule["query"], "node_load1 >= -1");
    // A rule that divides by a series nobody exports cannot judge anything:
    // it says so, and the group counts the failures.
    let broken = &group["rules"][1];
    assert_eq!(broken["name"], "LoadPerCore");
    assert_eq!(broken["health"], "err");
    assert_eq!(
        broken["lastError"],
        "divide_by: no series node_cpu_count{} to divide by"
    );

    let samples = parse_samples(&get(&format!("http://{address}/metrics"), &[]).text());
    let states = family(&samples, "outrider_rule_state");
    let (labels, value) = states.iter().next().unwrap();
    assert_eq!(
        (labels["rule"].as_str(), labels["severity"].as_str(), *value),
        ("LoadIsReported", "warning", 2.0)
    );
    let failures = family(&samples, "outrider_rule_evaluation_failures_total");
    let (labels, failed) = failures.iter().next().unwrap();
    assert_eq!(labels["rule_group"], "e2e");
    assert!(*failed >= 1.0, "failures counted: {failed}");
    assert_eq!(
        *family(&samples, "outrider_health_score")
            .values()
            .next()
            .unwrap(),
        97.0
    );

    let events = std::fs::read_to_string(storage.path().join("events.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = events
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let steps: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l["from"].as_str().unwrap(), l["to"].as_str().unwrap()))
        .collect();
    assert_eq!(steps[..2], [("inactive", "pending"), ("pending", "firing")]);
    assert_eq!(lines[1]["rule"], "LoadIsReported");
    assert!(lines[1]["value"].is_number());
}

#[test]
fn broken_rule_files_are_refused_with_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "groups:\n  - name: g\n    rules:\n      - alert: Fine\n        selector: up\n        absent: 5m\n      - alert: Broken\n        selector: up\n        threshold: {above: {warning: 2, critical: 1}}\n",
    )
    .unwrap();
    let check = std::process::Command::new(common::outrider_binary())
        .args(["check", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:7:9: rule Broken: threshold.above",
            bad.display()
        )),
        "{stderr}"
    );

    let config = dir.path().join("outrider.yml");
    std::fs::write(&config, format!("rules: ['{}']\n", dir.path().display())).unwrap();
    let run = std::process::Command::new(common::outrider_binary())
        .args([
            "--config.file",
            config.to_str().unwrap(),
            "--web.listen-address",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("rule Broken"));

    let good = std::process::Command::new(common::outrider_binary())
        .arg("check")
        .args([
            "rules/host.yml",
            "rules/processes.yml",
            "rules/containers.yml",
            "rules/app.yml",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(good.status.success(), "{good:?}");
}

/// `outrider backtest` writes every transition to alerts.csv; the row of an
/// alert that resolves carries the value that resolved it, not the last
/// firing one.
#[test]
fn a_backtest_records_the_value_that_resolved_an_alert() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("queue_depth.csv");
    let mut csv = String::from("timestamp,value\n");
    for (i, value) in [5, 5, 150, 150, 7, 7].into_iter().enumerate() {
        csv.push_str(&format!("{},{value}\n", 1_700_000_000 + i * 15));
    }
    std::fs::write(&input, csv).unwrap();
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: queue\n    rules:\n      - alert: QueueTooDeep\n        selector: queue_depth\n        threshold: {above: {critical: 100}}\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let run = std::process::Command::new(common::outrider_binary())
        .arg("backtest")
        .arg("--rules")
        .arg(&rules)
        .arg("--output")
        .arg(&out)
        .arg(&input)
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}");
    let alerts = std::fs::read_to_string(out.join("alerts.csv")).unwrap();
    let rows: Vec<Vec<&str>> = alerts
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let steps: Vec<(&str, &str, &str)> = rows.iter().map(|r| (r[3], r[4], r[6])).collect();
    assert_eq!(
        steps,
        [("inactive", "firing", "150"), ("firing", "resolved", "7")],
        "{alerts}"
    );
}

/// An SLO burns per service: the alert of the service whose errors burn
/// its budget carries that service's labels (the SLO's `by`) and the SLO's
/// name, and its summary is rendered with them; the healthy service beside
/// it in the same job does not page.
#[test]
fn an_in_process_slo_alert_carries_its_service_labels_and_a_rendered_summary() {
    const TOKEN: &str = "slo-push-token-0123456789";
    let storage = tempfile::tempdir().unwrap();
    let rules = storage.path().join("slo.yml");
    std::fs::write(
        &rules,
        "groups:
  - name: slo
    rules:
      - alert: Availability
        slo:
          objective: 99
          errors: 'http_requests_total{code=\"500\"}'
          total: http_requests_total
          period: 28d
          by: [job, service]
        summary: 'Error budget of {{ $labels.service }} in {{ $labels.job }} ({{ $labels.slo }}) burning'
",
    )
    .unwrap();
    let config = storage.path().join("outrider.yml");
    std::fs::write(
        &config,
        format!("collect_interval: 200ms\nrules: ['{}']\n", rules.display()),
    )
    .unwrap();
    let (_process, address) = start_outrider_in(
        storage.path(),
        &["--config.file", config.to_str().unwrap()],
        &[("OUTRIDER_PUSH_TOKEN", TOKEN)],
    );
    let bearer = format!("Bearer {TOKEN}");
    let mut pushes = 0u32;
    let mut push = || {
        pushes += 1;
        let n = f64::from(pushes) * 100.0;
        // cart: half its requests fail; search: none do.
        for (service, failed) in [("cart", n / 2.0), ("search", 0.0)] {
            let body = format!(
                "# TYPE http_requests_total counter\nhttp_requests_total{{code=\"200\"}} {}\nhttp_requests_total{{code=\"500\"}} {failed}\n",
                n - failed
            );
            let reply = common::send(
                "PUT",
                &format!("http://{address}/metrics/job/shop/service/{service}"),
                &[("Authorization", bearer.as_str())],
                body.as_bytes(),
            );
            assert!(reply.status < 300, "{}", reply.text());
        }
    };
    let firing = |address: &str| -> Vec<serde_json::Value> {
        json(address, "/api/v1/alerts")["data"]["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["labels"]["alertname"] == "Availability" && a["state"] == "firing")
            .cloned()
            .collect()
    };
    common::wait_until(Duration::from_secs(20), "the SLO alert to fire", || {
        push();
        !firing(&address).is_empty()
    });
    let alerts = firing(&address);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = &alerts[0];
    assert_eq!(alert["labels"]["service"], "cart", "{alert}");
    assert_eq!(alert["labels"]["job"], "shop", "{alert}");
    assert_eq!(alert["labels"]["slo"], "Availability", "{alert}");
    assert_eq!(alert["labels"]["severity"], "critical", "{alert}");
    assert_eq!(
        alert["annotations"]["summary"], "Error budget of cart in shop (Availability) burning",
        "{alert}"
    );
}

/// The alerts a running sidecar sends carry the same runbook link as the
/// generated rules: `<runbook_base_url>#<alert name in lower case>`.
#[test]
fn a_groups_runbook_base_url_reaches_the_alerts_it_raises() {
    let storage = tempfile::tempdir().unwrap();
    let rules = storage.path().join("base.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: base\n    runbook_base_url: https://wiki.example/runbooks/base\n    rules:\n      - alert: LoadIsReported\n        selector: node_load1\n        threshold: {above: {warning: -1}}\n",
    )
    .unwrap();
    let config = storage.path().join("outrider.yml");
    std::fs::write(
        &config,
        format!("collect_interval: 200ms\nrules: ['{}']\n", rules.display()),
    )
    .unwrap();
    let (_process, address) = start_outrider_in(
        storage.path(),
        &["--config.file", config.to_str().unwrap()],
        &[],
    );
    common::wait_until(Duration::from_secs(10), "the alert to fire", || {
        json(&address, "/api/v1/alerts")["data"]["alerts"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["state"] == "firing"))
    });
    let alerts = json(&address, "/api/v1/alerts");
    assert_eq!(
        alerts["data"]["alerts"][0]["annotations"]["runbook_url"],
        "https://wiki.example/runbooks/base#loadisreported"
    );
    let rules = json(&address, "/api/v1/rules");
    assert_eq!(
        rules["data"]["groups"][0]["rules"][0]["annotations"]["runbook_url"],
        "https://wiki.example/runbooks/base#loadisreported"
    );
}
