//! The rules' state in the JSON shape of Prometheus' `/api/v1/rules` and
//! `/api/v1/alerts`, so tools that read those read outrider's. Encoded once
//! per tick, like the exposition.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use super::Rule;
use super::eval::{AlertState, Evaluator, State, rfc3339};
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

fn alert_json(rule: &Rule, state: &AlertState) -> AlertJson {
    let alert = rule.alert(state, None);
    AlertJson {
        labels: alert.labels,
        annotations: alert.annotations,
        state: state.state,
        active_at: rfc3339(state.active_since),
        value: value_text(state.value),
    }
}

pub fn alerts(evaluator: &Evaluator) -> Vec<u8> {
    let alerts: Vec<AlertJson> = evaluator
        .active_alerts()
        .into_iter()
        .map(|(_, rule, state)| alert_json(rule, state))
        .collect();
    serde_json::to_vec(&json!({"status": "success", "data": {"alerts": alerts}}))
        .expect("JSON of strings and numbers encodes")
}

pub fn rules(evaluator: &Evaluator, interval_seconds: f64) -> Vec<u8> {
    let active = evaluator.active_alerts();
    let last = rfc3339(evaluator.last_evaluation());
    let groups: Vec<serde_json::Value> = evaluator
        .rules()
        .groups
        .iter()
        .map(|group| {
            let rules: Vec<serde_json::Value> = group
                .rules
                .iter()
                .map(|rule| {
                    let alerts: Vec<AlertJson> = active
                        .iter()
                        .filter(|(g, r, _)| g.name == group.name && r.name == rule.name)
                        .map(|(_, r, s)| alert_json(r, s))
                        .collect();
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
                    json!({
                        "state": state,
                        "name": rule.name,
                        "query": query(rule),
                        "duration": rule.for_duration.as_secs_f64(),
                        "keepFiringFor": rule.keep_firing_for.as_secs_f64(),
                        "labels": labels,
                        "annotations": annotations,
                        "alerts": alerts,
                        "health": if health.last_error.is_some() { "err" } else { "ok" },
                        "lastError": health.last_error.unwrap_or_default(),
                        "evaluationTime": health.evaluation_seconds,
                        "lastEvaluation": last,
                        "type": "alerting",
                    })
                })
                .collect();
            json!({
                "name": group.name,
                "file": group.file,
                "rules": rules,
                "interval": interval_seconds,
                "limit": 0,
                "evaluationTime": evaluator.group_seconds(group),
                "lastEvaluation": last,
            })
        })
        .collect();
    serde_json::to_vec(&json!({"status": "success", "data": {"groups": groups}}))
        .expect("JSON of strings and numbers encodes")
}
