//! `/api/v1/rules` shows each rule's condition as the PromQL that
//! `outrider generate` writes for it: for every shipped rule, the query is
//! the `expr` of the generated Prometheus alert of the same group and name,
//! at the least severe of its severities, and a PromQL parser reads it.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use common::{get, start_outrider, wait_until};

/// (group, alert) to the generated expressions by severity.
type Generated = BTreeMap<(String, String), BTreeMap<String, String>>;

fn generated_alerts(alerts: &std::path::Path) -> Generated {
    let mut out = Generated::new();
    for entry in std::fs::read_dir(alerts).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".rules.yml") {
            continue;
        }
        let file: serde_json::Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for group in file["groups"].as_array().unwrap() {
            let group_name = group["name"].as_str().unwrap();
            for rule in group["rules"].as_array().unwrap() {
                let Some(alert) = rule["alert"].as_str() else {
                    continue;
                };
                let severity = rule["labels"]["severity"].as_str().unwrap();
                let expr = rule["expr"].as_str().unwrap();
                out.entry((group_name.to_owned(), alert.to_owned()))
                    .or_default()
                    .insert(severity.to_owned(), expr.to_owned());
            }
        }
    }
    out
}

#[test]
fn every_shipped_rule_shows_the_promql_generate_writes() {
    let dir = tempfile::tempdir().unwrap();
    let generated = Command::new(common::outrider_binary())
        .args(["generate", "--out", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(generated.status.success(), "{generated:?}");
    let expected = generated_alerts(&dir.path().join("alerts"));
    assert!(expected.len() > 10, "{expected:#?}");

    let outrider = start_outrider(&["--collect.interval", "200ms"]);
    let mut api = serde_json::Value::Null;
    wait_until(Duration::from_secs(10), "the rules evaluated", || {
        api = serde_json::from_str(&get(&outrider.url("/api/v1/rules"), &[]).text()).unwrap();
        api["data"]["groups"]
            .as_array()
            .is_some_and(|g| !g.is_empty())
    });
    let mut shown = BTreeMap::new();
    for group in api["data"]["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            shown.insert(
                (
                    group["name"].as_str().unwrap().to_owned(),
                    rule["name"].as_str().unwrap().to_owned(),
                ),
                rule["query"].as_str().unwrap().to_owned(),
            );
        }
    }
    assert_eq!(
        shown.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "the API and the generated files list the same alerts"
    );
    for (key, query) in &shown {
        let by_severity = &expected[key];
        // Least severe first: the warning where the rule has one.
        let expr = by_severity
            .get("warning")
            .or_else(|| by_severity.get("critical"))
            .unwrap_or_else(|| panic!("{key:?}: {by_severity:?}"));
        assert_eq!(query, expr, "{key:?}");
        if let Err(error) = promql_parser::parser::parse(query) {
            panic!("{key:?}: {query} is not PromQL: {error}");
        }
    }
}
