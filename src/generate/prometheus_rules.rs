//! Prometheus rule groups from a rule group: one alerting rule per rule and
//! severity (monitoring-mixin style: the severity is a label, and
//! Alertmanager inhibits the warning while the critical fires), and for SLO
//! rules the error-ratio recording rules the burn-rate alerts read.

use std::collections::BTreeMap;

use serde::Serialize;

use super::promql::{self, Severity, SloWindows};
use crate::rules::{Group, Kind, Rule};

#[derive(Clone, Debug, Serialize)]
pub struct RuleFile {
    pub groups: Vec<RuleGroup>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RuleGroup {
    pub name: String,
    /// The group's `limit:` when the rule file sets one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    pub rules: Vec<PromRule>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum PromRule {
    Record(Recording),
    Alert(Alerting),
}

#[derive(Clone, Debug, Serialize)]
pub struct Recording {
    pub record: String,
    pub expr: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Alerting {
    pub alert: String,
    pub expr: String,
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_duration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_firing_for: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// The annotations of a rule's alerts: its own, or defaults that say what
/// fired, so every alert has a summary and a description. A runbook link
/// only when the rule or its group's `runbook_base_url` names one: a
/// made-up address would send the on-call to a page nobody wrote.
pub fn annotations(rule: &Rule) -> BTreeMap<String, String> {
    let config = &rule.config;
    let summary = config
        .summary
        .clone()
        .unwrap_or_else(|| format!("{} is firing", rule.name));
    let description = config.description.clone().unwrap_or_else(|| {
        let what = match &rule.kind {
            Kind::Threshold(_) => "The value",
            Kind::Anomaly(_) => "The ratio to the baseline",
            Kind::Absent(_) => "No series has matched for a while; the value",
            Kind::Slo(_) => "The error budget burn rate",
        };
        format!("{what} is {{{{ $value }}}}.")
    });
    let mut annotations = BTreeMap::from([
        ("description".to_owned(), description),
        ("summary".to_owned(), summary),
    ]);
    if let Some(url) = &rule.runbook_url {
        annotations.insert("runbook_url".to_owned(), url.clone());
    }
    annotations
}

/// The labels of a rule's alert at a severity.
pub fn labels(rule: &Rule, severity: Severity) -> BTreeMap<String, String> {
    let mut labels = rule.labels.clone();
    labels.insert("severity".to_owned(), severity.as_str().to_owned());
    labels
}

fn duration(d: std::time::Duration) -> Option<String> {
    (!d.is_zero()).then(|| promql::duration(d))
}

/// The recording rules of a group's SLOs: the error ratio over every window
/// and the period, and the request rate the traffic guard reads.
fn recordings(group: &Group, windows: &SloWindows) -> Vec<PromRule> {
    let mut out = Vec::new();
    for rule in &group.rules {
        let Kind::Slo(slo) = &rule.kind else { continue };
        let labels = BTreeMap::from([(promql::SLO_LABEL.to_owned(), rule.name.clone())]);
        for window in windows.all() {
            out.push(PromRule::Record(Recording {
                record: promql::error_ratio_record(&promql::duration(window)),
                expr: promql::error_ratio(slo, window),
                labels: labels.clone(),
            }));
        }
        out.push(PromRule::Record(Recording {
            record: promql::error_ratio_record(&promql::duration(slo.period)),
            expr: promql::period_error_ratio(&rule.name, windows, slo.period),
            labels: labels.clone(),
        }));
        out.push(PromRule::Record(Recording {
            record: promql::requests_record(&promql::duration(windows.long_page)),
            expr: promql::requests_rate(slo, windows.long_page),
            labels,
        }));
    }
    out
}

/// The Prometheus rule groups of one outrider group: its SLO recording
/// rules (if any), then its alerts.
pub fn groups(group: &Group, windows: &SloWindows) -> Vec<RuleGroup> {
    let mut out = Vec::new();
    let recorded = recordings(group, windows);
    if !recorded.is_empty() {
        out.push(RuleGroup {
            name: format!("{}.slo", group.name),
            // The recording rules give one series per service, whatever
            // the alert limit.
            limit: None,
            rules: recorded,
        });
    }
    let mut alerts = Vec::new();
    for rule in &group.rules {
        for severity in promql::severities(rule) {
            alerts.push(PromRule::Alert(Alerting {
                alert: rule.name.clone(),
                expr: promql::alert(rule, severity, windows),
                for_duration: duration(rule.for_duration),
                keep_firing_for: duration(rule.keep_firing_for),
                labels: labels(rule, severity),
                annotations: annotations(rule),
            }));
        }
    }
    // Only a limit the file sets: Prometheus sees every pod's series, so
    // the in-process default would cut alerts of a fleet.
    out.push(RuleGroup {
        name: group.name.clone(),
        limit: group.limit,
        rules: alerts,
    });
    out
}

/// The header of every generated YAML file.
pub fn header(source: &str) -> String {
    format!(
        "# Generated by `outrider generate` from {source}. Do not edit: change the\n# rule file and generate again (`outrider generate --check` finds stale files).\n"
    )
}

pub fn yaml<T: Serialize>(value: &T) -> String {
    serde_yaml_ng::to_string(value).expect("rule files are plain maps and strings")
}
