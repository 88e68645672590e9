//! The rules' state in the JSON shape of Prometheus' `/api/v1/rules` and
//! `/api/v1/alerts`, so tools that read those read outrider's. Encoded once
//! per tick, like the exposition.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Rule;
use super::eval::{AlertState, Evaluator, State, rfc3339};
use crate::external_labels::ExternalLabels;
use crate::generate::promql::{self, SloWindows};

/// The rule's condition as the PromQL `outrider generate` writes for it,
/// from the same expression builder. A rule that alerts at two severities
/// becomes two Prometheus rules; the query shown is the least severe one
/// (the warning when the rule has one), the condition that makes the rule
/// active at all. SLO windows are the unscaled ones `generate` writes by
/// default.
pub fn query(rule: &Rule) -> String {
    promql::severities(rule)
        .first()
        .map(|&severity| promql::alert(rule, severity, &SloWindows::scaled(1)))
        .unwrap_or_default()
}

fn value_text(value: f64) -> String {
    format!("{value:e}")
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AlertJson {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    state: State,
    active_at: String,
    value: String,
}

fn alert_json(rule: &Rule, state: &AlertState, external: &ExternalLabels) -> AlertJson {
    let mut alert = rule.alert(state, None);
    external.attach(&mut alert.labels, &BTreeMap::new());
    AlertJson {
        labels: alert.labels,
        annotations: alert.annotations,
        state: state.state,
        active_at: rfc3339(state.active_since),
        value: value_text(state.value),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RuleJson<'a> {
    state: &'static str,
    name: &'a str,
    query: String,
    duration: f64,
    keep_firing_for: f64,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<&'static str, String>,
    alerts: &'a [AlertJson],
    health: &'static str,
    last_error: String,
    evaluation_time: f64,
    last_evaluation: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupJson<'a> {
    name: &'a str,
    file: &'a str,
    rules: Vec<RuleJson<'a>>,
    interval: f64,
    limit: usize,
    evaluation_time: f64,
    last_evaluation: &'a str,
}

#[derive(Serialize)]
struct Reply<T> {
    status: &'static str,
    data: T,
}

/// The `/api/v1/rules` and `/api/v1/alerts` documents. Each alert is
/// rendered once for both, and each rule's alerts are its own, not found
/// among all of them.
pub fn documents(evaluator: &Evaluator, interval_seconds: f64) -> (Vec<u8>, Vec<u8>) {
    let last = rfc3339(evaluator.last_evaluation());
    let rendered: Vec<Vec<Vec<AlertJson>>> = evaluator
        .rules()
        .groups
        .iter()
        .map(|group| {
            group
                .rules
                .iter()
                .map(|rule| {
                    evaluator
                        .alerts_of(group, rule)
                        .map(|s| alert_json(rule, s, evaluator.external_labels()))
                        .collect()
                })
                .collect()
        })
        .collect();
    let groups: Vec<GroupJson> = evaluator
        .rules()
        .groups
        .iter()
        .zip(&rendered)
        .map(|(group, alerts)| GroupJson {
            name: &group.name,
            file: &group.file,
            rules: group
                .rules
                .iter()
                .zip(alerts)
                .map(|(rule, alerts)| {
                    let state = if alerts.iter().any(|a| a.state == State::Firing) {
                        "firing"
                    } else if alerts.is_empty() {
                        "inactive"
                    } else {
                        "pending"
                    };
                    let health = evaluator.health(group, rule);
                    let mut annotations = BTreeMap::new();
                    for (key, text) in [
                        ("summary", &rule.config.summary),
                        ("description", &rule.config.description),
                        ("runbook_url", &rule.config.runbook_url),
                    ] {
                        if let Some(text) = text {
                            annotations.insert(key, text.clone());
                        }
                    }
                    let mut labels = rule.labels.clone();
                    labels.insert("severity".to_owned(), "warning|critical".to_owned());
                    RuleJson {
                        state,
                        name: &rule.name,
                        query: query(rule),
                        duration: rule.for_duration.as_secs_f64(),
                        keep_firing_for: rule.keep_firing_for.as_secs_f64(),
                        labels,
                        annotations,
                        alerts,
                        health: if health.last_error.is_some() {
                            "err"
                        } else {
                            "ok"
                        },
                        last_error: health.last_error.unwrap_or_default(),
                        evaluation_time: health.evaluation_seconds,
                        last_evaluation: &last,
                        kind: "alerting",
                    }
                })
                .collect(),
            interval: interval_seconds,
            limit: group.alert_limit().unwrap_or(0),
            evaluation_time: evaluator.group_seconds(group),
            last_evaluation: &last,
        })
        .collect();
    let all: Vec<&AlertJson> = rendered.iter().flatten().flatten().collect();
    (
        encode(&Reply {
            status: "success",
            data: BTreeMap::from([("groups", groups)]),
        }),
        encode(&Reply {
            status: "success",
            data: BTreeMap::from([("alerts", all)]),
        }),
    )
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("JSON of strings and numbers encodes")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::metric::Family;
    use crate::rules::{RuleSet, parse};

    #[test]
    fn a_rule_over_its_limit_shows_the_limit_and_its_error_and_both_documents_agree() {
        let text = "groups:\n  - name: g\n    limit: 2\n    rules:\n      - alert: Hot\n        selector: hot\n        threshold: {above: {warning: 0}}\n        summary: '{{ $labels.i }} is hot'\n      - alert: Cold\n        selector: hot\n        threshold: {below: {warning: 0}}\n";
        let rules = RuleSet::from_groups(parse(text, "t.yml").unwrap()).unwrap();
        let mut evaluator = Evaluator::new(rules, Duration::from_secs(60));
        let mut hot = Family::gauge("hot", "h");
        for i in 0..3 {
            hot.push([("i", i.to_string())], 1.0);
        }
        evaluator.evaluate(&[hot], 0.0);
        let (rules, alerts) = documents(&evaluator, 15.0);
        let rules: serde_json::Value = serde_json::from_slice(&rules).unwrap();
        let alerts: serde_json::Value = serde_json::from_slice(&alerts).unwrap();
        let group = &rules["data"]["groups"][0];
        assert_eq!(group["limit"], 2);
        let hot = &group["rules"][0];
        assert_eq!(hot["health"], "err");
        assert_eq!(
            hot["lastError"],
            "limit: 3 alerts hold, over the group's limit of 2; 1 not kept"
        );
        assert_eq!(hot["state"], "firing");
        assert_eq!(group["rules"][1]["state"], "inactive");
        assert_eq!(group["rules"][1]["alerts"], serde_json::json!([]));
        assert_eq!(hot["alerts"], alerts["data"]["alerts"]);
        let summaries: Vec<&str> = hot["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["annotations"]["summary"].as_str().unwrap())
            .collect();
        assert_eq!(summaries, ["0 is hot", "1 is hot"]);
    }
}
