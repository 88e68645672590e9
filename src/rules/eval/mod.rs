//! Rule evaluation: on every tick, per rule and watched series, a state
//! machine inactive → pending (`for`) → firing → resolved, with the severity
//! that currently holds. It reads no clock: `now` comes in, so tests step
//! time. Evaluating returns gauges, transitions and the alerts to notify;
//! sending them is someone else's job.
//!
//! This file is the state machine: the alert types, one evaluation
//! (`evaluate`) and one tick of every alert of a rule (`step`, `advance`).
//! What holds a rule's condition is in `conditions` (thresholds, anomalies,
//! absent series) and `slo` (burn-rate budgets); `trend` fits the lines of
//! `predict`, `index` looks series up by label set, and `metrics` holds the
//! `outrider_rule_*` series and the health score.

mod conditions;
mod index;
mod metrics;
#[cfg(test)]
mod quiet_host;
mod slo;
#[cfg(test)]
mod tests;
mod trend;

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use serde::Serialize;
use tracing::{info, warn};

use super::alert::Alert;
use super::{Group, Kind, Rule, RuleSet};
use crate::external_labels::ExternalLabels;
use crate::metric::{Family, Labels};
use crate::model::rate::CounterReading;
use index::LabelIndex;
use slo::Budget;
use trend::Trend;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Inactive,
    Pending,
    Firing,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Inactive => "inactive",
            State::Pending => "pending",
            State::Firing => "firing",
        }
    }
}

/// One alert of one rule: a watched series whose condition holds (or held
/// recently enough to keep firing).
#[derive(Clone, Debug, PartialEq)]
pub struct AlertState {
    pub state: State,
    pub severity: Severity,
    /// The series' labels.
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    /// When the condition started to hold.
    pub active_since: f64,
    /// When the condition last held.
    pub last_true: f64,
    pub last_sent: Option<f64>,
    /// The labels of its `outrider_rule_state` series, built when it starts
    /// or changes severity, not on every tick.
    state_labels: Arc<Labels>,
    /// The evaluation that last found its condition holding.
    held_in: u64,
}

/// The identity of an alert of one rule: the label set of the series it
/// watches, sorted by name (for anomaly rules the ratio series', `metric`
/// included, the same for every series of the rule; for absent and SLO
/// rules the labels they build). Hashed, so finding a held alert is one
/// pass over its labels, whatever the number of alerts; and shared with
/// the sample it came from, so holding it copies no label.
#[derive(Clone, Debug)]
struct AlertKey(Arc<Labels>);

impl AlertKey {
    /// The key of a series' labels: the same set whatever order the source
    /// gives them in. Most sources give them sorted, and cost a reference.
    fn of(labels: &Arc<Labels>) -> Self {
        if labels.is_sorted_by(|a, b| a.0 <= b.0) {
            AlertKey(Arc::clone(labels))
        } else {
            let mut sorted = Labels::clone(labels);
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            AlertKey(Arc::new(sorted))
        }
    }

    fn of_map(labels: &BTreeMap<String, String>) -> Self {
        AlertKey(Arc::new(
            labels
                .iter()
                .map(|(n, v)| (n.clone().into(), v.clone()))
                .collect(),
        ))
    }
}

#[cfg(test)]
thread_local! {
    /// Hashes and comparisons of alert keys on this thread: a test's count
    /// of the work a tick does per alert.
    static KEY_OPERATIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

impl PartialEq for AlertKey {
    fn eq(&self, other: &Self) -> bool {
        #[cfg(test)]
        KEY_OPERATIONS.with(|c| c.set(c.get() + 1));
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl Eq for AlertKey {}

impl Hash for AlertKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        #[cfg(test)]
        KEY_OPERATIONS.with(|c| c.set(c.get() + 1));
        self.0.hash(state);
    }
}

/// The alerts of one rule, in the order they started: the same order on
/// every tick, in the exposition, the API and the events log.
type RuleAlerts = IndexMap<AlertKey, AlertState>;

/// A change of an alert's state, for the events log.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Transition {
    /// Seconds since the epoch; the events log writes it as RFC 3339.
    #[serde(skip)]
    pub time: f64,
    pub rule: String,
    pub labels: BTreeMap<String, String>,
    pub from: &'static str,
    pub to: &'static str,
    pub severity: Severity,
    pub value: f64,
    pub baseline: Option<f64>,
}

/// A watched series whose condition holds this tick.
struct Holding {
    key: AlertKey,
    severity: Severity,
    value: f64,
    /// The baseline the value was compared with (anomaly rules).
    baseline: Option<f64>,
}

impl Holding {
    fn new(key: AlertKey, severity: Severity, value: f64, baseline: Option<f64>) -> Self {
        Holding {
            key,
            severity,
            value,
            baseline,
        }
    }
}

/// What one rule's evaluation found this tick.
#[derive(Default)]
struct Evaluated {
    holding: Vec<Holding>,
    /// The current values of judged series whose condition does not hold,
    /// by alert key: an alert that ends records the value that ended it.
    /// Gathered only for rules with alerts that may end, and looked up only
    /// when one does.
    values: Vec<(AlertKey, f64)>,
    /// Why the rule could not judge some or all of its series.
    error: Option<String>,
}

impl Evaluated {
    fn fail(&mut self, error: String) {
        self.error.get_or_insert(error);
    }
}

/// The per-rule evaluation results the HTTP API shows.
#[derive(Clone, Debug, Default)]
pub struct RuleHealth {
    pub last_error: Option<String>,
    pub evaluation_seconds: f64,
}

pub struct Evaluator {
    rules: RuleSet,
    /// By rule id, then series.
    alerts: HashMap<String, RuleAlerts>,
    /// By rule id, then series: a reload keeps or drops a rule's state by
    /// its exact id.
    counters: HashMap<String, HashMap<Arc<Labels>, CounterReading>>,
    trends: HashMap<String, HashMap<Arc<Labels>, Trend>>,
    /// Absent rules: when a matching series was last seen.
    last_seen: HashMap<String, f64>,
    budgets: HashMap<String, Budget>,
    health: HashMap<String, RuleHealth>,
    failures: HashMap<String, u64>,
    /// By rule id: alerts not kept because the group's limit was reached,
    /// summed over evaluations.
    cut: HashMap<String, u64>,
    /// Evaluations so far, to tell the alerts held in this one.
    evaluations: u64,
    group_seconds: HashMap<String, f64>,
    started: Option<f64>,
    last_evaluation: f64,
    resend_interval: f64,
    /// Added to every transition and notification, where absent.
    external_labels: ExternalLabels,
}

/// What one evaluation produced.
#[derive(Default)]
pub struct Outcome {
    pub families: Vec<Family>,
    pub transitions: Vec<Transition>,
    /// Firing alerts due to be (re)sent, and newly resolved ones.
    pub notifications: Vec<Alert>,
}

fn rule_id(group: &Group, rule: &Rule) -> String {
    format!("{}/{}", group.name, rule.name)
}

fn series_labels(labels: &Labels) -> BTreeMap<String, String> {
    labels
        .iter()
        .map(|(n, v)| (n.to_string(), v.clone()))
        .collect()
}

/// The labels an alert shows: its key's, but for the `metric` label an
/// anomaly rule's series carry.
fn shown_labels(rule: &Rule, key: &AlertKey) -> BTreeMap<String, String> {
    let mut labels = series_labels(&key.0);
    if matches!(rule.kind, Kind::Anomaly(_)) {
        labels.remove("metric");
    }
    labels
}

/// The labels of an alert's `outrider_rule_state` series.
fn state_labels(rule: &Rule, severity: Severity, labels: &BTreeMap<String, String>) -> Arc<Labels> {
    let mut out: Labels = Vec::with_capacity(labels.len() + 2);
    out.push(("rule".into(), rule.name.clone()));
    out.push(("severity".into(), severity.as_str().to_owned()));
    for (n, v) in labels {
        let name = if n == "rule" || n == "severity" {
            format!("exported_{n}")
        } else {
            n.clone()
        };
        out.push((name.into(), v.clone()));
    }
    Arc::new(out)
}

/// One tick of an alert whose condition holds: its value, severity and
/// state, and the transition and notification that brings.
fn advance(
    alert: &mut AlertState,
    holding: Holding,
    rule: &Rule,
    now: f64,
    evaluation: u64,
    outcome: &mut Outcome,
) {
    let for_seconds = rule.for_duration.as_secs_f64();
    let Holding {
        severity,
        value,
        baseline,
        ..
    } = holding;
    let before = (alert.state, alert.severity);
    // Alertmanager tells alerts apart by their labels, severity
    // included: a firing alert that changes severity is a new alert
    // there, and the old one is resolved now rather than left to
    // time out.
    if before.0 == State::Firing && before.1 != severity && alert.last_sent.is_some() {
        outcome.notifications.push(rule.alert(alert, Some(now)));
        alert.last_sent = None;
    }
    if before.1 != severity {
        alert.state_labels = state_labels(rule, severity, &alert.labels);
    }
    alert.value = value;
    alert.last_true = now;
    alert.held_in = evaluation;
    alert.severity = severity;
    alert.state = if now - alert.active_since >= for_seconds {
        State::Firing
    } else {
        State::Pending
    };
    if (alert.state, alert.severity) != before {
        outcome.transitions.push(Transition {
            time: now,
            rule: rule.name.clone(),
            labels: alert.labels.clone(),
            from: before.0.as_str(),
            to: alert.state.as_str(),
            severity: alert.severity,
            value,
            baseline,
        });
    }
}

impl Evaluator {
    pub fn new(rules: RuleSet, resend_interval: Duration) -> Self {
        Evaluator {
            rules,
            alerts: HashMap::new(),
            counters: HashMap::new(),
            trends: HashMap::new(),
            last_seen: HashMap::new(),
            budgets: HashMap::new(),
            health: HashMap::new(),
            failures: HashMap::new(),
            cut: HashMap::new(),
            evaluations: 0,
            group_seconds: HashMap::new(),
            started: None,
            last_evaluation: 0.0,
            resend_interval: resend_interval.as_secs_f64(),
            external_labels: ExternalLabels::default(),
        }
    }

    /// The labels that name this outrider on what it sends; from the next
    /// evaluation on.
    pub fn set_external_labels(&mut self, labels: ExternalLabels) {
        self.external_labels = labels;
    }

    pub fn external_labels(&self) -> &ExternalLabels {
        &self.external_labels
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Takes new rules; the pending and firing state of rules that did not
    /// change is kept, that of changed or removed rules is dropped (so their
    /// series disappear).
    pub fn replace_rules(&mut self, rules: RuleSet) {
        let unchanged: std::collections::HashSet<String> = self
            .rules
            .groups
            .iter()
            .flat_map(|g| g.rules.iter().map(move |r| (g, r)))
            .filter(|(g, r)| {
                rules
                    .groups
                    .iter()
                    .find(|ng| ng.name == g.name && ng.limit == g.limit)
                    .and_then(|ng| ng.rules.iter().find(|nr| nr.name == r.name))
                    .is_some_and(|nr| nr.config == r.config)
            })
            .map(|(g, r)| rule_id(g, r))
            .collect();
        self.alerts.retain(|id, _| unchanged.contains(id));
        self.last_seen.retain(|id, _| unchanged.contains(id));
        self.budgets.retain(|id, _| unchanged.contains(id));
        self.health.retain(|id, _| unchanged.contains(id));
        self.cut.retain(|id, _| unchanged.contains(id));
        self.counters.retain(|id, _| unchanged.contains(id));
        self.trends.retain(|id, _| unchanged.contains(id));
        self.rules = rules;
    }

    /// Evaluates every rule against this tick's families (collected series
    /// and the baseline gauges).
    pub fn evaluate(&mut self, families: &[Family], now: f64) -> Outcome {
        let started = *self.started.get_or_insert(now);
        let by_name: HashMap<&str, &Family> =
            families.iter().map(|f| (f.name.as_ref(), f)).collect();
        let mut index = LabelIndex::default();
        let mut outcome = Outcome::default();
        let groups = std::mem::take(&mut self.rules.groups);
        self.evaluations += 1;
        for group in &groups {
            let clock = std::time::Instant::now();
            let limit = group.alert_limit();
            for rule in &group.rules {
                let id = rule_id(group, rule);
                let rule_clock = std::time::Instant::now();
                let Evaluated {
                    holding,
                    values,
                    mut error,
                } = self.conditions(&id, rule, &by_name, &mut index, now, started);
                let (sent, logged) = (outcome.notifications.len(), outcome.transitions.len());
                let (held, cut) = self.step(&id, rule, limit, holding, values, now, &mut outcome);
                // A transition holds the series' labels only; the rule's
                // own labels win over external ones there too.
                for transition in &mut outcome.transitions[logged..] {
                    self.external_labels
                        .attach(&mut transition.labels, &rule.labels);
                }
                let none = BTreeMap::new();
                for alert in &mut outcome.notifications[sent..] {
                    self.external_labels.attach(&mut alert.labels, &none);
                }
                if let (Some(limit), 1..) = (limit, cut) {
                    *self.cut.entry(id.clone()).or_default() += cut as u64;
                    // As Prometheus, a rule over its limit is failing; the
                    // alerts it already held stay, and new ones wait for
                    // room.
                    error.get_or_insert_with(|| {
                        format!(
                            "limit: {held} alerts hold, over the group's limit of {limit}; {cut} not kept"
                        )
                    });
                }
                let was_failing = self.health.get(&id).is_some_and(|h| h.last_error.is_some());
                match &error {
                    Some(error) => {
                        *self.failures.entry(group.name.clone()).or_default() += 1;
                        // Once when it starts, not on every tick.
                        if !was_failing {
                            warn!(rule = %id, error = %error, "rule evaluation failed");
                        }
                    }
                    None if was_failing => info!(rule = %id, "rule evaluation recovered"),
                    None => {}
                }
                self.health.insert(
                    id,
                    RuleHealth {
                        last_error: error,
                        evaluation_seconds: rule_clock.elapsed().as_secs_f64(),
                    },
                );
            }
            self.group_seconds
                .insert(group.name.clone(), clock.elapsed().as_secs_f64());
        }
        self.rules.groups = groups;
        self.last_evaluation = now;
        outcome.families = self.families(&by_name);
        outcome
    }

    /// Moves every alert of the rule one tick forward, holding at most
    /// `limit` of them; returns how many hold (or keep firing) and how many
    /// of those were not kept for the limit. Alerts already held come
    /// first, so a flood of new series does not end alerts that are firing;
    /// of the new ones, the least label sets are kept, whatever order the
    /// series came in.
    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        id: &str,
        rule: &Rule,
        limit: Option<usize>,
        holding: Vec<Holding>,
        values: Vec<(AlertKey, f64)>,
        now: f64,
        outcome: &mut Outcome,
    ) -> (usize, usize) {
        let evaluation = self.evaluations;
        let resend_interval = self.resend_interval;
        let alerts = self.alerts.entry(id.to_owned()).or_default();
        let keep = rule.keep_firing_for.as_secs_f64();
        let mut new = Vec::new();
        for holding in holding {
            match alerts.get_mut(&holding.key) {
                Some(alert) => advance(alert, holding, rule, now, evaluation, outcome),
                None => new.push(holding),
            }
        }
        // Alerts whose condition no longer holds: pending ones end, firing
        // ones end once keep_firing_for has passed.
        let mut ended_values: Option<HashMap<AlertKey, f64>> = None;
        let mut resolved = Vec::new();
        alerts.retain(|key, alert| {
            if alert.held_in == evaluation
                || (alert.state == State::Firing && now - alert.last_true < keep)
            {
                return true;
            }
            // The value that ended it; a series that is gone has none.
            let value = ended_values
                .get_or_insert_with(|| values.iter().cloned().collect())
                .get(key)
                .copied()
                .unwrap_or(f64::NAN);
            outcome.transitions.push(Transition {
                time: now,
                rule: rule.name.clone(),
                labels: alert.labels.clone(),
                from: alert.state.as_str(),
                to: if alert.state == State::Firing {
                    "resolved"
                } else {
                    "inactive"
                },
                severity: alert.severity,
                value,
                baseline: None,
            });
            if alert.state == State::Firing && alert.last_sent.is_some() {
                resolved.push(alert.clone());
            }
            false
        });
        let held = alerts.len() + new.len();
        let room = limit.map_or(usize::MAX, |limit| limit.saturating_sub(alerts.len()));
        let cut = new.len().saturating_sub(room);
        if cut > 0 {
            // The least `room` label sets, without sorting what is cut: a
            // rule kept full by a flood costs no sort on every tick.
            if room > 0 {
                new.select_nth_unstable_by(room - 1, |a, b| a.key.0.cmp(&b.key.0));
            }
            new.truncate(room);
            new.sort_unstable_by(|a, b| a.key.0.cmp(&b.key.0));
        }
        for holding in new {
            let labels = shown_labels(rule, &holding.key);
            let alert = alerts
                .entry(holding.key.clone())
                .or_insert_with(|| AlertState {
                    state: State::Inactive,
                    severity: holding.severity,
                    state_labels: state_labels(rule, holding.severity, &labels),
                    labels,
                    value: holding.value,
                    active_since: now,
                    last_true: now,
                    last_sent: None,
                    held_in: evaluation,
                });
            advance(alert, holding, rule, now, evaluation, outcome);
        }
        for alert in alerts.values_mut().filter(|a| a.state == State::Firing) {
            if alert
                .last_sent
                .is_none_or(|sent| now - sent >= resend_interval)
            {
                alert.last_sent = Some(now);
                outcome.notifications.push(rule.alert(alert, None));
            }
        }
        for alert in resolved {
            outcome.notifications.push(rule.alert(&alert, Some(now)));
        }
        (held, cut)
    }

    /// The pending and firing alerts of one rule, in the order they started.
    pub fn alerts_of(&self, group: &Group, rule: &Rule) -> impl Iterator<Item = &AlertState> {
        self.alerts
            .get(&rule_id(group, rule))
            .into_iter()
            .flat_map(|alerts| alerts.values())
    }

    /// Every pending and firing alert, for /api/v1/alerts.
    pub fn active_alerts(&self) -> Vec<(&Group, &Rule, &AlertState)> {
        let mut out = Vec::new();
        for group in &self.rules.groups {
            for rule in &group.rules {
                if let Some(alerts) = self.alerts.get(&rule_id(group, rule)) {
                    out.extend(alerts.values().map(|a| (group, rule, a)));
                }
            }
        }
        out
    }

    pub fn health(&self, group: &Group, rule: &Rule) -> RuleHealth {
        self.health
            .get(&rule_id(group, rule))
            .cloned()
            .unwrap_or_default()
    }

    pub fn group_seconds(&self, group: &Group) -> f64 {
        self.group_seconds.get(&group.name).copied().unwrap_or(0.0)
    }

    pub fn last_evaluation(&self) -> f64 {
        self.last_evaluation
    }
}

pub use crate::model::clock::rfc3339;
