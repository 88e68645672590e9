//! The rule file format (documented in rules/README.md): groups of rules,
//! each watching the series a selector picks with one of four kinds of
//! condition. The same files drive the in-process evaluation and the
//! generated Prometheus rules.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::selector::Selector;

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    pub groups: Vec<GroupConfig>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// The group's name; also the generated file's name.
    pub name: String,
    /// The most alerts (pending and firing) one rule of the group may hold,
    /// as Prometheus' group `limit:`; 0 for no limit. Left out, outrider
    /// holds at most `DEFAULT_ALERT_LIMIT` per rule in process, and the
    /// generated Prometheus group has no limit. See rules/README.md for what
    /// happens beyond it.
    #[serde(default)]
    pub limit: Option<usize>,
    /// Where the runbooks of this group's alerts are: a rule without its own
    /// `runbook_url` links to `<runbook_base_url>#<anchor>`, the anchor
    /// being the alert's name in lower case (as a `## AlertName` heading's
    /// anchor in Markdown). Left out, only rules with a `runbook_url` link
    /// to a runbook.
    #[serde(default)]
    pub runbook_base_url: Option<String>,
    pub rules: Vec<RuleConfig>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// The alert's name, CamelCase as Prometheus alerts are.
    pub alert: String,
    /// The series the rule watches (threshold and anomaly rules), or whose
    /// absence it watches (absent rules).
    pub selector: Option<Selector>,
    /// Fire when the value crosses a level.
    pub threshold: Option<Threshold>,
    /// Fire when the value strays from its baseline.
    pub anomaly: Option<Anomaly>,
    /// Fire when no series matched the selector for this long.
    #[serde(default, with = "humantime_serde")]
    pub absent: Option<Duration>,
    /// Fire when an error budget burns too fast.
    pub slo: Option<Slo>,
    /// How long the condition must hold before the alert fires.
    #[serde(default, rename = "for", with = "humantime_serde")]
    pub for_duration: Option<Duration>,
    /// How long a firing alert keeps firing after the condition clears, so a
    /// flapping value does not page twice.
    #[serde(default, with = "humantime_serde")]
    pub keep_firing_for: Option<Duration>,
    /// Labels added to the alert.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// One line; templates `{{ $labels.NAME }}` and `{{ $value }}`.
    pub summary: Option<String>,
    /// More detail, with the same templates.
    pub description: Option<String>,
    /// The alert's runbook; overrides the group's `runbook_base_url`.
    pub runbook_url: Option<String>,
}

/// Values for the two severities; either may be left out.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Levels {
    pub warning: Option<f64>,
    pub critical: Option<f64>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// Fire when the value is at or above a level.
    pub above: Option<Levels>,
    /// Fire when the value is at or below a level.
    pub below: Option<Levels>,
    /// Divide by the series of this metric with the same labels (for
    /// ratios such as available / size).
    pub divide_by: Option<String>,
    /// Compare the per-second rate of a counter, not its value.
    #[serde(default)]
    pub rate: bool,
    /// Compare the value predicted this far ahead by a linear trend (as
    /// PromQL's predict_linear), such as a disk filling up in 24h. The trend
    /// is fitted with weights halving every quarter of this, and predicts
    /// only once it has seen an eighth of it.
    #[serde(default, with = "humantime_serde")]
    pub predict: Option<Duration>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Only values above the baseline are anomalies (latency, errors).
    #[default]
    Up,
    /// Only values below it (request rate dropping).
    Down,
    Both,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Anomaly {
    /// Levels of current / baseline (for `down`, of baseline / current).
    pub ratio: Option<Levels>,
    /// Levels of the z-score's size in the watched direction.
    pub zscore: Option<Levels>,
    /// Levels of the anomaly score (0..1; `outrider_anomaly_score`), in
    /// either direction.
    pub score: Option<Levels>,
    #[serde(default)]
    pub direction: Direction,
    /// The baseline's half-life for these series (default: the
    /// `baselines` section's).
    #[serde(default, with = "humantime_serde")]
    pub half_life: Option<Duration>,
    /// Keep an hour-of-week profile for these series (default: the
    /// `baselines` section's `seasonal`).
    #[serde(default)]
    pub seasonal: Option<bool>,
    /// Below this, no anomaly is claimed.
    #[serde(default)]
    pub volume_floor: f64,
    /// Hold only where `outrider_anomaly_score` is exported, that is once
    /// the series has been seen for a day: a baseline minutes old has not
    /// seen a day's ordinary peaks, and a fresh start must not page.
    #[serde(default)]
    pub wait_for_score: bool,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    /// The objective in percent, such as 99.5.
    pub objective: f64,
    /// The counter of failed events (or give `good`).
    pub errors: Option<Selector>,
    /// The counter of good events, such as the latency histogram's bucket
    /// at the objective's bound; errors are total minus good.
    pub good: Option<Selector>,
    /// The counter of all events.
    pub total: Selector,
    /// The period the budget covers, such as 28d.
    #[serde(with = "humantime_serde")]
    pub period: Duration,
    /// Below this many events per second, no burn is claimed (an idle
    /// service does not page).
    #[serde(default)]
    pub min_rate: f64,
    /// The labels that tell one service's budget from another's: the
    /// events are summed by these, and the alerts carry them (default
    /// `[namespace, service, job]`, see `DEFAULT_SLO_BY`).
    #[serde(default = "default_slo_by")]
    pub by: Vec<String>,
}

/// The labels that name a service in Prometheus' usual target labels:
/// `job` in a plain scrape config; `namespace` and `service` as
/// prometheus-operator's ServiceMonitors set them (where `job` is the
/// service's name too). Under a PodMonitor `job` is the PodMonitor's, the
/// same for every app it scrapes, so the generated PodMonitor sets
/// `service` from the pod's `app.kubernetes.io/name`. A label a target
/// does not have is no harm: it is simply not there.
pub const DEFAULT_SLO_BY: &[&str] = &["namespace", "service", "job"];

fn default_slo_by() -> Vec<String> {
    DEFAULT_SLO_BY.iter().map(|l| (*l).to_owned()).collect()
}
