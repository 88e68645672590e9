//! Rule evaluation: on every tick, per rule and watched series, a state
//! machine inactive → pending (`for`) → firing → resolved, with the severity
//! that currently holds. It reads no clock: `now` comes in, so tests step
//! time. Evaluating returns gauges, transitions and the alerts to notify;
//! sending them is someone else's job.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use indexmap::IndexMap;
use serde::Serialize;
use tracing::{info, warn};

use super::format::{Direction, Levels};
use super::{Group, Kind, Rule, RuleSet};
use crate::baseline::{CounterReading, counter_rate};
use crate::external_labels::ExternalLabels;
use crate::metric::{Family, Labels, Sample, label_value};
use crate::notify::Alert;

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

/// The level a value reaches, given its direction.
fn level(value: f64, levels: &Levels, above: bool) -> Option<Severity> {
    let reached =
        |limit: Option<f64>| limit.is_some_and(|l| if above { value >= l } else { value <= l });
    if reached(levels.critical) {
        Some(Severity::Critical)
    } else if reached(levels.warning) {
        Some(Severity::Warning)
    } else {
        None
    }
}

/// A burn-rate budget kept in one-minute buckets over the longest window
/// evaluated in process (6 h), per value of the SLO's `by` labels (one
/// service's errors do not burn another's budget): fixed size per service
/// whatever the traffic.
#[derive(Clone, Debug)]
struct Budget {
    by: Vec<String>,
    services: HashMap<BTreeMap<String, String>, Minutes>,
    readings: HashMap<String, CounterReading>,
}

/// (minute, errors, events) per minute slot.
type Minutes = Vec<(i64, f64, f64)>;

const BUDGET_MINUTES: usize = 360;

/// Increases by service (the values of the `by` labels).
type ByService = HashMap<BTreeMap<String, String>, f64>;

impl Budget {
    fn new(by: &[String]) -> Self {
        Budget {
            by: by.to_vec(),
            services: HashMap::new(),
            readings: HashMap::new(),
        }
    }

    /// The service a series belongs to: its values of the `by` labels (a
    /// label it lacks is left out, as `sum by` does).
    fn service_of(&self, labels: &Labels) -> BTreeMap<String, String> {
        self.by
            .iter()
            .filter_map(|name| {
                label_value(labels, name)
                    .filter(|v| !v.is_empty())
                    .map(|v| (name.clone(), v.to_owned()))
            })
            .collect()
    }

    fn add(&mut self, service: BTreeMap<String, String>, now: f64, errors: f64, total: f64) {
        let minute = (now / 60.0).floor() as i64;
        let minutes = self
            .services
            .entry(service)
            .or_insert_with(|| vec![(i64::MIN, 0.0, 0.0); BUDGET_MINUTES]);
        let slot = &mut minutes[minute.rem_euclid(BUDGET_MINUTES as i64) as usize];
        if slot.0 != minute {
            *slot = (minute, 0.0, 0.0);
        }
        slot.1 += errors;
        slot.2 += total;
    }

    /// Errors and events of `minutes` over the last `window`.
    fn over(minutes: &Minutes, now: f64, window: Duration) -> (f64, f64) {
        let minute = (now / 60.0).floor() as i64;
        let oldest = minute - (window.as_secs() / 60).max(1) as i64 + 1;
        minutes
            .iter()
            .filter(|(m, _, _)| (oldest..=minute).contains(m))
            .fold((0.0, 0.0), |(e, t), (_, de, dt)| (e + de, t + dt))
    }

    /// Services with nothing in the last 6 hours hold no budget: dropped,
    /// so a service that went away costs nothing.
    fn forget_idle(&mut self, now: f64) {
        let minute = (now / 60.0).floor() as i64;
        let oldest = minute - BUDGET_MINUTES as i64 + 1;
        self.services
            .retain(|_, minutes| minutes.iter().any(|(m, _, _)| *m >= oldest));
    }

    /// The increase of a counter family's matching series since the last
    /// tick, summed by service; a reset counts from zero. Every service
    /// with a matching series is in the answer, with 0 when it did not
    /// move.
    fn increase(
        &mut self,
        family: Option<&Family>,
        select: impl Fn(&Labels) -> bool,
        prefix: &str,
        now: f64,
    ) -> ByService {
        let mut sums = ByService::new();
        let Some(family) = family else { return sums };
        let now = family.read_at.unwrap_or(now);
        for sample in family.samples.iter().filter(|s| select(&s.labels)) {
            let sum = sums.entry(self.service_of(&sample.labels)).or_default();
            let key = format!("{prefix}{:?}", sample.labels);
            let reading = CounterReading {
                value: sample.value,
                time: now,
            };
            if let Some(before) = self.readings.insert(key, reading) {
                if let Some(rate) = counter_rate(before, sample.value, now) {
                    *sum += rate * (now - before.time);
                }
            }
        }
        sums
    }
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

/// The type's name, as the exposition's `# TYPE` line gives it.
fn kind_name(kind: crate::metric::MetricType) -> &'static str {
    use crate::metric::MetricType;
    match kind {
        MetricType::Counter => "counter",
        MetricType::Gauge => "gauge",
        MetricType::Untyped => "untyped",
        MetricType::Histogram => "histogram",
        MetricType::Summary => "summary",
    }
}

/// `name{a="b",...}`, for error messages.
fn series_text(name: &str, labels: &Labels) -> String {
    let pairs: Vec<String> = labels.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{name}{{{}}}", pairs.join(","))
}

/// Whether a rate or an SLO may count `family`: counters, histogram
/// buckets, sums and counts, and untyped series (which may be counters).
fn countable(family: &Family) -> bool {
    family.kind == crate::metric::MetricType::Untyped || family.kind.is_cumulative(&family.name)
}

/// An exponentially weighted least-squares line through a series' recent
/// values: five sums, whatever the history.
#[derive(Clone, Debug)]
struct Trend {
    origin: f64,
    first: f64,
    last: f64,
    sums: [f64; 5],
}

impl Trend {
    fn new(now: f64) -> Self {
        Trend {
            origin: now,
            first: now,
            last: now,
            sums: [0.0; 5],
        }
    }

    fn add(&mut self, now: f64, value: f64, half_life: f64) {
        if !value.is_finite() || now < self.last {
            return;
        }
        let decay = (-(now - self.last) * std::f64::consts::LN_2 / half_life.max(1.0)).exp();
        let t = now - self.origin;
        for (sum, term) in self.sums.iter_mut().zip([1.0, t, value, t * t, t * value]) {
            *sum = *sum * decay + term;
        }
        self.last = now;
    }

    /// The value `ahead` seconds from now, once the fit spans an eighth of
    /// `ahead`.
    fn predict(&self, now: f64, ahead: f64) -> Option<f64> {
        if now - self.first < ahead / 8.0 {
            return None;
        }
        let [n, t, v, tt, tv] = self.sums;
        let spread = n * tt - t * t;
        if spread.abs() < f64::EPSILON {
            return None;
        }
        let slope = (n * tv - t * v) / spread;
        let intercept = (v - slope * t) / n;
        let predicted = intercept + slope * (now - self.origin + ahead);
        predicted.is_finite().then_some(predicted)
    }
}

/// Values of a family by label set, built on first use in a tick and shared
/// by every rule that looks series up in that family (divide_by, the
/// baseline gauges), so a lookup is a hash, not a scan.
#[derive(Default)]
struct LabelIndex<'a> {
    families: HashMap<&'a str, HashMap<&'a Labels, f64>>,
    /// The anomaly ratios by their `metric` label.
    ratios: Option<HashMap<&'a str, Vec<(usize, &'a Sample)>>>,
}

impl<'a> LabelIndex<'a> {
    /// The anomaly ratios of one metric, with their positions in the family.
    fn ratios_of(&mut self, ratios: &'a Family, metric: &str) -> Vec<(usize, &'a Sample)> {
        self.ratios
            .get_or_insert_with(|| {
                let mut by_metric: HashMap<&str, Vec<_>> = HashMap::new();
                for (position, sample) in ratios.samples.iter().enumerate() {
                    if let Some(m) = label_value(&sample.labels, "metric") {
                        by_metric.entry(m).or_default().push((position, sample));
                    }
                }
                by_metric
            })
            .get(metric)
            .cloned()
            .unwrap_or_default()
    }

    /// The value of the series with `labels` in `family`. Related families
    /// list their series in the same order (the tracker's ratio, z-score and
    /// baseline share label sets; avail and size come from one mount
    /// table), so the sample at the same `position` is tried before the
    /// hash.
    fn value(&mut self, family: &'a Family, position: usize, labels: &Arc<Labels>) -> Option<f64> {
        if let Some(sample) = family.samples.get(position) {
            if Arc::ptr_eq(&sample.labels, labels) || sample.labels == *labels {
                return Some(sample.value);
            }
        }
        self.families
            .entry(family.name.as_ref())
            .or_insert_with(|| {
                family
                    .samples
                    .iter()
                    .map(|s| (&*s.labels, s.value))
                    .collect()
            })
            .get(&**labels)
            .copied()
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

    /// The series of a rule whose condition holds now: labels, severity,
    /// value (and the baseline, for anomalies); the current values of the
    /// others when an alert of the rule may end; and what kept the rule from
    /// judging its series. No data ("no such family yet") is not a failure:
    /// a failure is data the rule cannot use (a divisor missing for a
    /// series, a rate of a gauge, an SLO with errors but no total).
    #[allow(clippy::too_many_arguments)]
    fn conditions<'a>(
        &mut self,
        id: &str,
        rule: &Rule,
        by_name: &HashMap<&str, &'a Family>,
        index: &mut LabelIndex<'a>,
        now: f64,
        started: f64,
    ) -> Evaluated {
        let mut evaluated = Evaluated::default();
        let may_end = self.alerts.get(id).is_some_and(|a| !a.is_empty());
        let holding = &mut evaluated.holding;
        let values = &mut evaluated.values;
        let mut failed: Option<String> = None;
        match &rule.kind {
            Kind::Threshold(threshold) => {
                let Some(selector) = &rule.selector else {
                    return evaluated;
                };
                let Some(family) = selector.metric.as_deref().and_then(|m| by_name.get(m)) else {
                    return evaluated;
                };
                if threshold.rate && !countable(family) {
                    evaluated.fail(format!(
                        "rate: {} is a {}; a rate needs a counter",
                        family.name,
                        kind_name(family.kind)
                    ));
                    return evaluated;
                }
                let divisor = threshold.divide_by.as_deref().and_then(|d| by_name.get(d));
                // Series the divisor has no series for: they cannot be judged.
                let mut undivided = (0usize, None);
                for (position, sample) in family
                    .samples
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| selector.matches_labels(&s.labels))
                {
                    let mut value = sample.value;
                    if threshold.rate {
                        let read_at = family.read_at.unwrap_or(now);
                        let reading = CounterReading {
                            value,
                            time: read_at,
                        };
                        match self
                            .counters
                            .entry(id.to_owned())
                            .or_default()
                            .insert(Arc::clone(&sample.labels), reading)
                            .and_then(|b| counter_rate(b, value, read_at))
                        {
                            Some(rate) => value = rate,
                            None => continue,
                        }
                    }
                    if let Some(name) = threshold.divide_by.as_deref() {
                        // A zero divisor means "unlimited" or "not
                        // reported" (cAdvisor's limit, btrfs' inodes): no
                        // ratio, and no failure.
                        match divisor.and_then(|d| index.value(d, position, &sample.labels)) {
                            Some(d) if d != 0.0 => value /= d,
                            Some(_) => continue,
                            None => {
                                undivided.0 += 1;
                                undivided
                                    .1
                                    .get_or_insert_with(|| series_text(name, &sample.labels));
                                continue;
                            }
                        }
                    }
                    if let Some(ahead) = threshold.predict {
                        let trend = self
                            .trends
                            .entry(id.to_owned())
                            .or_default()
                            .entry(Arc::clone(&sample.labels))
                            .or_insert_with(|| Trend::new(now));
                        trend.add(now, value, ahead.as_secs_f64() / 4.0);
                        match trend.predict(now, ahead.as_secs_f64()) {
                            Some(predicted) => value = predicted,
                            None => continue,
                        }
                    }
                    let severity = [
                        threshold.above.as_ref().map(|l| (l, true)),
                        threshold.below.as_ref().map(|l| (l, false)),
                    ]
                    .into_iter()
                    .flatten()
                    .filter_map(|(levels, above)| level(value, levels, above))
                    .max();
                    if let Some(severity) = severity {
                        holding.push(Holding::new(
                            AlertKey::of(&sample.labels),
                            severity,
                            value,
                            None,
                        ));
                    } else if may_end {
                        values.push((AlertKey::of(&sample.labels), value));
                    }
                }
                if let (count @ 1.., Some(example)) = undivided {
                    failed = Some(format!(
                        "divide_by: no series {example} to divide by{}",
                        if count > 1 {
                            format!(" (and {} more series without a divisor)", count - 1)
                        } else {
                            String::new()
                        }
                    ));
                }
            }
            Kind::Anomaly(anomaly) => {
                let Some(selector) = &rule.selector else {
                    return evaluated;
                };
                let Some(metric) = selector.metric.as_deref() else {
                    return evaluated;
                };
                let ratios = by_name.get("outrider_anomaly_ratio");
                let zscores = by_name.get("outrider_anomaly_zscore");
                let scores = by_name.get("outrider_anomaly_score");
                let baselines = by_name.get("outrider_baseline");
                // The baseline gauges carry the source labels plus `metric`.
                let Some(ratios) = ratios else {
                    return evaluated;
                };
                let candidates = index.ratios_of(ratios, metric);
                let mut find =
                    |family: Option<&&'a Family>, position: usize, labels: &Arc<Labels>| {
                        family.and_then(|f| index.value(f, position, labels))
                    };
                for (position, sample) in candidates
                    .into_iter()
                    .filter(|(_, s)| selector.matches_labels(&s.labels))
                {
                    let ratio = sample.value;
                    let z = find(zscores, position, &sample.labels);
                    let mut severity = None;
                    if let Some(levels) = &anomaly.ratio {
                        let by_ratio = match anomaly.direction {
                            Direction::Up => level(ratio, levels, true),
                            Direction::Down => (ratio > 0.0)
                                .then(|| level(1.0 / ratio, levels, true))
                                .flatten(),
                            Direction::Both => level(
                                ratio.max(if ratio > 0.0 { 1.0 / ratio } else { 0.0 }),
                                levels,
                                true,
                            ),
                        };
                        severity = severity.max(by_ratio);
                    }
                    if let (Some(levels), Some(z)) = (&anomaly.zscore, z) {
                        let size = match anomaly.direction {
                            Direction::Up => z,
                            Direction::Down => -z,
                            Direction::Both => z.abs(),
                        };
                        severity = severity.max(level(size, levels, true));
                    }
                    if let Some(levels) = &anomaly.score {
                        let score = find(scores, position, &sample.labels);
                        severity = severity.max(score.and_then(|s| level(s, levels, true)));
                    }
                    if let Some(severity) = severity {
                        holding.push(Holding::new(
                            AlertKey::of(&sample.labels),
                            severity,
                            ratio,
                            find(baselines, position, &sample.labels),
                        ));
                    } else if may_end {
                        values.push((AlertKey::of(&sample.labels), ratio));
                    }
                }
            }
            Kind::Absent(after) => {
                let Some(selector) = &rule.selector else {
                    return evaluated;
                };
                let present = selector
                    .metric
                    .as_deref()
                    .and_then(|m| by_name.get(m))
                    .is_some_and(|f| f.samples.iter().any(|s| selector.matches_labels(&s.labels)));
                let seen = self.last_seen.entry(id.to_owned()).or_insert(started);
                if present {
                    *seen = now;
                }
                // The value is how long the series has been missing.
                if !present && now - *seen >= after.as_secs_f64() {
                    holding.push(Holding::new(
                        AlertKey::of_map(&rule.absent_labels()),
                        Severity::Critical,
                        now - *seen,
                        None,
                    ));
                } else if may_end {
                    values.push((AlertKey::of_map(&rule.absent_labels()), now - *seen));
                }
            }
            Kind::Slo(slo) => {
                let budget = self
                    .budgets
                    .entry(id.to_owned())
                    .or_insert_with(|| Budget::new(&slo.by));
                let family_of = |s: &crate::selector::Selector| {
                    s.metric.as_deref().and_then(|m| by_name.get(m).copied())
                };
                let matches = |s: &crate::selector::Selector| {
                    family_of(s)
                        .is_some_and(|f| f.samples.iter().any(|x| s.matches_labels(&x.labels)))
                };
                let counted = [Some(&slo.total), slo.errors.as_ref(), slo.good.as_ref()];
                if let Some(family) = counted
                    .into_iter()
                    .flatten()
                    .filter_map(family_of)
                    .find(|f| !countable(f))
                {
                    evaluated.fail(format!(
                        "{} is a {}; an SLO counts counters",
                        family.name,
                        kind_name(family.kind)
                    ));
                    return evaluated;
                }
                let counts = [slo.errors.as_ref(), slo.good.as_ref()];
                if !matches(&slo.total) && counts.into_iter().flatten().any(matches) {
                    failed = Some(format!(
                        "total: no series match {}, so the burn rate cannot be computed",
                        slo.total
                    ));
                }
                let totals = budget.increase(
                    family_of(&slo.total),
                    |l| slo.total.matches_labels(l),
                    "t",
                    now,
                );
                let (errors, good) = match (&slo.errors, &slo.good) {
                    (Some(errors), _) => (
                        budget.increase(family_of(errors), |l| errors.matches_labels(l), "e", now),
                        ByService::new(),
                    ),
                    (None, Some(good)) => (
                        ByService::new(),
                        budget.increase(family_of(good), |l| good.matches_labels(l), "g", now),
                    ),
                    (None, None) => (ByService::new(), ByService::new()),
                };
                let mut services: Vec<&BTreeMap<String, String>> =
                    totals.keys().chain(errors.keys()).collect();
                services.sort();
                services.dedup();
                for service in services {
                    let total = totals.get(service).copied().unwrap_or(0.0);
                    let spent = match &slo.good {
                        Some(_) => (total - good.get(service).copied().unwrap_or(0.0)).max(0.0),
                        None => errors.get(service).copied().unwrap_or(0.0),
                    };
                    budget.add(service.clone(), now, spent, total);
                }
                budget.forget_idle(now);
                let allowed = 1.0 - slo.objective / 100.0;
                let minutes = |m: u64| Duration::from_secs(m * 60);
                // The multi-window pairs of the SRE workbook that fit in
                // process (the 1d and 3d pairs are the generated rules').
                let page = [
                    (minutes(5), minutes(60), 14.4),
                    (minutes(30), minutes(360), 6.0),
                ];
                let ticket = [(minutes(120), minutes(360), 3.0)];
                for (service, spent) in &budget.services {
                    let burn = |window: Duration| {
                        let (e, t) = Budget::over(spent, now, window);
                        if t > 0.0 { e / t / allowed } else { 0.0 }
                    };
                    // The alert carries the service's labels and the SLO's
                    // name, as the generated rules' alerts do.
                    let mut labels = service.clone();
                    labels.insert(super::SLO_LABEL.to_owned(), rule.name.clone());
                    let fires = |pairs: &[(Duration, Duration, f64)]| {
                        pairs
                            .iter()
                            .find(|(short, long, factor)| {
                                burn(*short) > *factor && burn(*long) > *factor
                            })
                            .map(|(_, long, _)| burn(*long))
                    };
                    // Below `min_rate` there is too little traffic to judge.
                    let (_, hour_total) = Budget::over(spent, now, minutes(60));
                    let burning = (hour_total / 3600.0 >= slo.min_rate)
                        .then(|| {
                            fires(&page)
                                .map(|rate| (Severity::Critical, rate))
                                .or_else(|| fires(&ticket).map(|rate| (Severity::Warning, rate)))
                        })
                        .flatten();
                    // The value of an SLO alert is the burn rate over the
                    // long window of its pair; one that ends records the
                    // hour's.
                    let key = AlertKey::of_map(&labels);
                    match burning {
                        Some((severity, rate)) => {
                            holding.push(Holding::new(key, severity, rate, None));
                        }
                        None if may_end => values.push((key, burn(minutes(60)))),
                        None => {}
                    }
                }
            }
        }
        if let Some(error) = failed {
            evaluated.fail(error);
        }
        evaluated
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

    fn families(&self, _by_name: &HashMap<&str, &Family>) -> Vec<Family> {
        let mut state = Family::gauge(
            "outrider_rule_state",
            "State of each alert of each rule: 0 ok, 1 pending, 2 firing.",
        );
        let mut critical: f64 = 0.0;
        let mut warning: f64 = 0.0;
        for group in &self.rules.groups {
            for rule in &group.rules {
                let Some(alerts) = self.alerts.get(&rule_id(group, rule)) else {
                    continue;
                };
                for alert in alerts.values() {
                    let value = match alert.state {
                        State::Inactive => 0.0,
                        State::Pending => 1.0,
                        State::Firing => 2.0,
                    };
                    if alert.state == State::Firing {
                        match alert.severity {
                            Severity::Critical => critical += 1.0,
                            Severity::Warning => warning += 1.0,
                        }
                    }
                    state.samples.push(crate::metric::Sample {
                        labels: Arc::clone(&alert.state_labels),
                        value,
                    });
                }
            }
        }
        let mut duration = Family::gauge(
            "outrider_rule_evaluation_duration_seconds",
            "Seconds the last evaluation of the rule group took.",
        );
        let mut failures = Family::counter(
            "outrider_rule_evaluation_failures_total",
            "Evaluations of the rule group that failed.",
        );
        for group in &self.rules.groups {
            duration.push(
                [("rule_group", group.name.as_str())],
                self.group_seconds.get(&group.name).copied().unwrap_or(0.0),
            );
            failures.push(
                [("rule_group", group.name.as_str())],
                self.failures.get(&group.name).copied().unwrap_or(0) as f64,
            );
        }
        let mut cut = Family::counter(
            "outrider_rule_alerts_cut_total",
            "Alerts a rule did not keep because its group's limit was reached, summed over evaluations; present once the rule has cut one.",
        );
        for group in &self.rules.groups {
            for rule in &group.rules {
                if let Some(count) = self.cut.get(&rule_id(group, rule)) {
                    cut.push(
                        [
                            ("rule_group", group.name.as_str()),
                            ("rule", rule.name.as_str()),
                        ],
                        *count as f64,
                    );
                }
            }
        }
        let health = (100.0 - 10.0 * critical - 3.0 * warning).max(0.0);
        vec![
            state,
            duration,
            failures,
            Family::gauge(
                "outrider_health_score",
                "100 minus 10 per firing critical alert and 3 per firing warning, floored at 0.",
            )
            .single(health),
            cut,
        ]
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

/// Seconds since the epoch as RFC 3339.
pub fn rfc3339(seconds: f64) -> String {
    let time = UNIX_EPOCH + Duration::from_secs_f64(seconds.max(0.0));
    humantime::format_rfc3339_millis(time).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{RuleSet, parse};

    fn evaluator(rules: &str) -> Evaluator {
        let groups = parse(
            &format!("groups:\n  - name: g\n    rules:\n{rules}"),
            "t.yml",
        )
        .unwrap();
        Evaluator::new(
            RuleSet::from_groups(groups).unwrap(),
            Duration::from_secs(60),
        )
    }

    fn gauge(name: &'static str, device: &str, value: f64) -> Family {
        let mut f = Family::gauge(name, "x");
        f.push([("device", device)], value);
        f
    }

    fn disk(avail: f64) -> Vec<Family> {
        vec![gauge("avail", "sda", avail), gauge("size", "sda", 100.0)]
    }

    const DISK_RULE: &str = "      - alert: DiskFull\n        selector: avail\n        threshold: {divide_by: size, below: {warning: 0.2, critical: 0.1}}\n        for: 30s\n        keep_firing_for: 20s\n        summary: '{{ $labels.device }} at {{ $value | humanizePercentage }}'\n";

    fn states(outcome: &Outcome) -> Vec<(String, f64)> {
        outcome.families[0]
            .samples
            .iter()
            .map(|s| {
                (
                    label_value(&s.labels, "severity").unwrap().to_owned(),
                    s.value,
                )
            })
            .collect()
    }

    #[test]
    fn pending_then_firing_then_kept_then_resolved() {
        let mut e = evaluator(DISK_RULE);
        assert!(states(&e.evaluate(&disk(50.0), 0.0)).is_empty());
        let o = e.evaluate(&disk(15.0), 15.0);
        assert_eq!(states(&o), [("warning".to_owned(), 1.0)]);
        assert_eq!(o.transitions[0].to, "pending");
        assert!(o.notifications.is_empty());
        // 30 s after it became true: firing, and sent.
        let o = e.evaluate(&disk(15.0), 45.0);
        assert_eq!(states(&o), [("warning".to_owned(), 2.0)]);
        assert_eq!(o.notifications.len(), 1);
        let alert = &o.notifications[0];
        assert_eq!(alert.labels["alertname"], "DiskFull");
        assert_eq!(alert.labels["severity"], "warning");
        assert_eq!(alert.annotations["summary"], "sda at 15%");
        // Worse: the same alert, now critical.
        let o = e.evaluate(&disk(5.0), 60.0);
        assert_eq!(states(&o), [("critical".to_owned(), 2.0)]);
        assert_eq!(o.transitions[0].severity, Severity::Critical);
        // Clears, but keep_firing_for (20 s) holds it.
        let o = e.evaluate(&disk(50.0), 75.0);
        assert_eq!(states(&o), [("critical".to_owned(), 2.0)]);
        let o = e.evaluate(&disk(50.0), 90.0);
        assert!(states(&o).is_empty());
        assert_eq!(o.transitions[0].to, "resolved");
        assert!(o.notifications[0].ends_at.is_some());
        assert_eq!(o.families[3].samples[0].value, 100.0);
    }

    #[test]
    fn health_score_counts_firing_alerts() {
        let mut e = evaluator(
            "      - alert: Hot\n        selector: t\n        threshold: {above: {warning: 1, critical: 2}}\n",
        );
        let mut t = Family::gauge("t", "x");
        for (i, v) in [3.0, 3.0, 1.5].into_iter().enumerate() {
            t.push([("i", i.to_string())], v);
        }
        let o = e.evaluate(&[t], 0.0);
        assert_eq!(o.families[3].samples[0].value, 100.0 - 20.0 - 3.0);
    }

    #[test]
    fn anomaly_rules_read_the_baseline_gauges() {
        let mut e = evaluator(
            "      - alert: Busy\n        selector: 'cpu{mode=\"user\"}'\n        anomaly: {ratio: {warning: 1.5, critical: 2}, zscore: {warning: 10}}\n",
        );
        let baseline = |ratio: f64, z: f64| {
            let mut r = Family::gauge("outrider_anomaly_ratio", "r");
            r.push([("mode", "user"), ("metric", "cpu")], ratio);
            r.push([("mode", "system"), ("metric", "cpu")], 9.0);
            let mut zf = Family::gauge("outrider_anomaly_zscore", "z");
            zf.push([("mode", "user"), ("metric", "cpu")], z);
            vec![r, zf]
        };
        assert!(states(&e.evaluate(&baseline(1.2, 3.0), 0.0)).is_empty());
        assert_eq!(
            states(&e.evaluate(&baseline(1.2, 11.0), 15.0)),
            [("warning".to_owned(), 2.0)]
        );
        let o = e.evaluate(&baseline(2.5, 0.0), 30.0);
        assert_eq!(states(&o), [("critical".to_owned(), 2.0)]);
        assert!(!o.notifications.is_empty() || e.active_alerts().len() == 1);
    }

    #[test]
    fn rate_thresholds_and_absent_rules() {
        let mut e = evaluator(
            "      - alert: Errors\n        selector: errors_total\n        threshold: {rate: true, above: {critical: 1}}\n      - alert: Gone\n        selector: 'up{job=\"app\"}'\n        absent: 1m\n",
        );
        let tick = |e: &mut Evaluator, errors: f64, up: bool, now: f64| {
            let mut families = vec![Family::counter("errors_total", "e").single(errors)];
            if up {
                let mut u = Family::gauge("up", "u");
                u.push([("job", "app")], 1.0);
                families.push(u);
            }
            let o = e.evaluate(&families, now);
            o.families[0]
                .samples
                .iter()
                .map(|s| label_value(&s.labels, "rule").unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        assert!(tick(&mut e, 0.0, true, 0.0).is_empty());
        // 30 errors in 15 s: 2/s.
        assert_eq!(tick(&mut e, 30.0, true, 15.0), ["Errors"]);
        assert!(tick(&mut e, 31.0, false, 30.0).is_empty());
        assert!(tick(&mut e, 31.0, false, 60.0).is_empty());
        let o = e.evaluate(&[], 91.0);
        let gone: Vec<_> = o.families[0]
            .samples
            .iter()
            .filter(|s| label_value(&s.labels, "rule") == Some("Gone"))
            .collect();
        assert_eq!(gone.len(), 1);
        assert_eq!(label_value(&gone[0].labels, "job"), Some("app"));
    }

    #[test]
    fn slo_pages_on_a_fast_burn_and_not_when_idle() {
        let rule = "      - alert: Burn\n        slo: {objective: 99, errors: 'req_total{code=\"500\"}', total: req_total, period: 28d, min_rate: 1}\n";
        let requests = |ok: f64, failed: f64| {
            let mut f = Family::counter("req_total", "r");
            f.push([("code", "200")], ok);
            f.push([("code", "500")], failed);
            vec![f]
        };
        // 20% errors at 10 req/s: 20x the 1% budget.
        let mut e = evaluator(rule);
        let mut fired = false;
        for tick in 0..=240 {
            let t = f64::from(tick) * 15.0;
            let o = e.evaluate(&requests(t * 8.0, t * 2.0), t);
            fired |= o.families[0].samples.iter().any(|s| s.value == 2.0);
        }
        assert!(fired);
        // The same ratio at 0.1 req/s is under min_rate: no page.
        let mut idle = evaluator(rule);
        for tick in 0..=240 {
            let t = f64::from(tick) * 15.0;
            let o = idle.evaluate(&requests(t * 0.08, t * 0.02), t);
            assert!(o.families[0].samples.is_empty());
        }
    }

    #[test]
    fn a_latency_slo_counts_slow_requests_from_the_good_bucket() {
        let rule = "      - alert: Slow\n        slo: {objective: 99, good: 'latency_bucket{le=\"0.5\"}', total: latency_count, period: 28d}\n";
        let mut e = evaluator(rule);
        let mut fired = false;
        for tick in 0..=240 {
            let t = f64::from(tick) * 15.0;
            // 10 req/s, of which 8 within 0.5 s: 20% slow, 20x the budget.
            let mut bucket = Family::counter("latency_bucket", "b");
            bucket.push([("le", "0.5")], t * 8.0);
            bucket.push([("le", "+Inf")], t * 10.0);
            let count = Family::counter("latency_count", "c").single(t * 10.0);
            let o = e.evaluate(&[bucket, count], t);
            fired |= o.families[0].samples.iter().any(|s| s.value == 2.0);
        }
        assert!(fired);
    }

    #[test]
    fn a_disk_filling_up_is_predicted_not_a_steady_one() {
        let rule = "      - alert: FillingUp\n        selector: avail\n        threshold: {divide_by: size, predict: 24h, below: {critical: 0}}\n";
        let run = |loss_per_hour: f64| {
            let mut e = evaluator(rule);
            let mut fired_at = None;
            for minute in 0..=(6 * 60) {
                let t = f64::from(minute) * 60.0;
                let avail =
                    60.0 - loss_per_hour * t / 3600.0 + if minute % 2 == 0 { 0.5 } else { -0.5 };
                let o = e.evaluate(&disk(avail), t);
                if fired_at.is_none() && o.families[0].samples.iter().any(|s| s.value == 2.0) {
                    fired_at = Some(t / 3600.0);
                }
            }
            fired_at
        };
        // 60% left, losing 4% an hour: empty in 15 h, so within 24 h.
        let fired = run(4.0).expect("a filling disk is predicted full");
        assert!(
            (3.0..3.1).contains(&fired),
            "predicted only after {fired} h"
        );
        // Losing 1% an hour: 60 h left; nothing to say.
        assert_eq!(run(1.0), None);
        assert_eq!(run(0.0), None);
    }

    #[test]
    fn a_reload_keeps_state_of_unchanged_rules_only() {
        let two = format!(
            "{DISK_RULE}      - alert: Other\n        selector: avail\n        threshold: {{below: {{warning: 90}}}}\n"
        );
        let mut e = evaluator(&two);
        e.evaluate(&disk(15.0), 0.0);
        assert_eq!(e.active_alerts().len(), 2);
        let changed = two.replace("warning: 90", "warning: 95");
        let groups = parse(
            &format!("groups:\n  - name: g\n    rules:\n{changed}"),
            "t.yml",
        )
        .unwrap();
        e.replace_rules(RuleSet::from_groups(groups).unwrap());
        let kept: Vec<&str> = e
            .active_alerts()
            .iter()
            .map(|(_, r, _)| r.name.as_str())
            .collect();
        assert_eq!(kept, ["DiskFull"]);
    }

    #[test]
    fn a_reload_drops_the_counters_of_a_changed_rule_whose_name_extends_another() {
        let rules = |errors_level: &str| {
            format!(
                "      - alert: Err\n        selector: errors_total\n        threshold: {{rate: true, above: {{critical: 1}}}}\n      - alert: Errors\n        selector: errors_total\n        threshold: {{rate: true, above: {{warning: {errors_level}}}}}\n"
            )
        };
        let mut e = evaluator(&rules("1"));
        let errors = |count: f64| vec![Family::counter("errors_total", "e").single(count)];
        let active = |e: &Evaluator| {
            let mut names: Vec<String> = e
                .active_alerts()
                .iter()
                .map(|(_, r, _)| r.name.clone())
                .collect();
            names.sort();
            names
        };
        e.evaluate(&errors(0.0), 0.0);
        e.evaluate(&errors(30.0), 15.0);
        assert_eq!(active(&e), ["Err", "Errors"]);
        let groups = parse(
            &format!("groups:\n  - name: g\n    rules:\n{}", rules("1.5")),
            "t.yml",
        )
        .unwrap();
        e.replace_rules(RuleSet::from_groups(groups).unwrap());
        assert_eq!(active(&e), ["Err"]);
        // Err still has its last reading, so it has a rate at once; the
        // changed Errors starts afresh and needs two readings.
        e.evaluate(&errors(60.0), 30.0);
        assert_eq!(active(&e), ["Err"]);
        e.evaluate(&errors(90.0), 45.0);
        assert_eq!(active(&e), ["Err", "Errors"]);
    }

    /// The health of rule `i` of the one group, and the group's failures.
    fn health_of(e: &Evaluator, outcome: &Outcome, i: usize) -> (Option<String>, f64) {
        let group = &e.rules().groups[0];
        let failures = outcome
            .families
            .iter()
            .find(|f| f.name == "outrider_rule_evaluation_failures_total")
            .unwrap();
        (
            e.health(group, &group.rules[i]).last_error,
            failures.samples[0].value,
        )
    }

    #[test]
    fn a_divisor_missing_for_a_series_is_a_failure_until_it_is_there() {
        let mut e = evaluator(DISK_RULE);
        let wrong_device = vec![gauge("avail", "sda", 15.0), gauge("size", "sdb", 100.0)];
        let o = e.evaluate(&wrong_device, 0.0);
        let (error, failures) = health_of(&e, &o, 0);
        assert_eq!(
            error.as_deref(),
            Some("divide_by: no series size{device=\"sda\"} to divide by")
        );
        assert_eq!(failures, 1.0);
        let o = e.evaluate(&[gauge("avail", "sda", 15.0)], 15.0);
        assert_eq!(health_of(&e, &o, 0).1, 2.0, "one failure per evaluation");
        // The divisor shows up: healthy again, and the count stays.
        let o = e.evaluate(&disk(15.0), 30.0);
        assert_eq!(health_of(&e, &o, 0), (None, 2.0));
        // A zero divisor (no limit) and no data at all are not failures.
        let o = e.evaluate(
            &[gauge("avail", "sda", 15.0), gauge("size", "sda", 0.0)],
            45.0,
        );
        assert_eq!(health_of(&e, &o, 0), (None, 2.0));
        let o = e.evaluate(&[], 60.0);
        assert_eq!(health_of(&e, &o, 0), (None, 2.0));
    }

    #[test]
    fn a_rate_of_a_gauge_is_a_failure() {
        let mut e = evaluator(
            "      - alert: Errors\n        selector: errors\n        threshold: {rate: true, above: {critical: 1}}\n",
        );
        let o = e.evaluate(&[Family::gauge("errors", "e").single(3.0)], 0.0);
        assert_eq!(
            health_of(&e, &o, 0),
            (
                Some("rate: errors is a gauge; a rate needs a counter".to_owned()),
                1.0
            )
        );
        let o = e.evaluate(&[Family::counter("errors", "e").single(3.0)], 15.0);
        assert_eq!(health_of(&e, &o, 0), (None, 1.0));
    }

    #[test]
    fn an_slo_with_errors_but_no_total_is_a_failure() {
        let mut e = evaluator(
            "      - alert: Burn\n        slo: {objective: 99, errors: 'errors_total', total: requests_total, period: 28d}\n",
        );
        // No traffic metrics at all: no data, not a failure.
        let o = e.evaluate(&[], 0.0);
        assert_eq!(health_of(&e, &o, 0), (None, 0.0));
        let errors = Family::counter("errors_total", "e").single(1.0);
        let o = e.evaluate(std::slice::from_ref(&errors), 15.0);
        let (error, failures) = health_of(&e, &o, 0);
        assert_eq!(
            error.as_deref(),
            Some("total: no series match requests_total, so the burn rate cannot be computed")
        );
        assert_eq!(failures, 1.0);
        let total = Family::counter("requests_total", "r").single(10.0);
        let o = e.evaluate(&[errors, total], 30.0);
        assert_eq!(health_of(&e, &o, 0), (None, 1.0));
        // A gauge where the SLO counts events.
        let o = e.evaluate(&[Family::gauge("requests_total", "r").single(10.0)], 45.0);
        assert_eq!(
            health_of(&e, &o, 0).0.as_deref(),
            Some("requests_total is a gauge; an SLO counts counters")
        );
    }

    #[test]
    fn a_severity_change_resolves_the_old_severity_in_the_same_notification_batch() {
        let mut e = evaluator(DISK_RULE);
        e.evaluate(&disk(15.0), 0.0);
        let o = e.evaluate(&disk(15.0), 30.0);
        assert_eq!(o.notifications.len(), 1);
        assert_eq!(o.notifications[0].labels["severity"], "warning");
        let sent = |o: &Outcome| {
            o.notifications
                .iter()
                .map(|a| (a.labels["severity"].clone(), a.ends_at.is_some()))
                .collect::<Vec<_>>()
        };
        // Worse: the warning ends, the critical starts, at once.
        let o = e.evaluate(&disk(5.0), 45.0);
        assert_eq!(
            sent(&o),
            [("warning".to_owned(), true), ("critical".to_owned(), false)]
        );
        // Better again: the other way round.
        let o = e.evaluate(&disk(15.0), 60.0);
        assert_eq!(
            sent(&o),
            [("critical".to_owned(), true), ("warning".to_owned(), false)]
        );
        // No change: nothing new until the resend interval.
        assert!(e.evaluate(&disk(15.0), 75.0).notifications.is_empty());
    }

    #[test]
    fn an_alert_that_ends_records_the_value_that_ended_it() {
        let mut e = evaluator(DISK_RULE);
        e.evaluate(&disk(15.0), 0.0);
        e.evaluate(&disk(5.0), 30.0);
        // keep_firing_for holds it at 45 s; it resolves at 60 s.
        e.evaluate(&disk(40.0), 45.0);
        let o = e.evaluate(&disk(50.0), 60.0);
        let ended = &o.transitions[0];
        assert_eq!((ended.from, ended.to), ("firing", "resolved"));
        assert_eq!(ended.value, 0.5, "the ratio now, not the last firing one");
        // A pending alert that ends, likewise.
        let mut e = evaluator(DISK_RULE);
        e.evaluate(&disk(15.0), 0.0);
        let o = e.evaluate(&disk(30.0), 15.0);
        let ended = &o.transitions[0];
        assert_eq!(
            (ended.from, ended.to, ended.value),
            ("pending", "inactive", 0.3)
        );
        // A series that is gone has no value to record.
        let mut e = evaluator(DISK_RULE);
        e.evaluate(&disk(15.0), 0.0);
        let o = e.evaluate(&[], 15.0);
        assert!(o.transitions[0].value.is_nan());
    }

    /// `count` gauges `hot{i="00000".."count-1"}` that all fire, listed in
    /// reverse order, each with a 1 KB label.
    fn hot(count: usize) -> Vec<Family> {
        let mut f = Family::gauge("hot", "h");
        let blob = "x".repeat(1000);
        for i in (0..count).rev() {
            f.push([("blob", blob.clone()), ("i", format!("{i:05}"))], 1.0);
        }
        vec![f]
    }

    fn limited(limit: &str) -> Evaluator {
        let text = format!(
            "groups:\n  - name: g\n{limit}    rules:\n      - alert: Hot\n        selector: hot\n        threshold: {{above: {{warning: 0}}}}\n"
        );
        let groups = parse(&text, "t.yml").unwrap();
        Evaluator::new(
            RuleSet::from_groups(groups).unwrap(),
            Duration::from_secs(60),
        )
    }

    fn family<'a>(o: &'a Outcome, name: &str) -> Option<&'a Family> {
        o.families.iter().find(|f| f.name == name)
    }

    fn held(e: &Evaluator) -> Vec<String> {
        e.active_alerts()
            .iter()
            .map(|(_, _, a)| a.labels["i"].clone())
            .collect()
    }

    #[test]
    fn a_rule_over_its_limit_keeps_what_it_held_and_counts_the_cut() {
        let mut e = limited("    limit: 3\n");
        let o = e.evaluate(&hot(5), 0.0);
        // The least label sets, whatever order the series came in.
        assert_eq!(held(&e), ["00000", "00001", "00002"]);
        assert_eq!(family(&o, "outrider_rule_state").unwrap().samples.len(), 3);
        assert_eq!(o.notifications.len(), 3);
        let cut = |o: &Outcome| {
            let f = family(o, "outrider_rule_alerts_cut_total").unwrap();
            assert_eq!(label_value(&f.samples[0].labels, "rule"), Some("Hot"));
            assert_eq!(label_value(&f.samples[0].labels, "rule_group"), Some("g"));
            f.samples[0].value
        };
        assert_eq!(cut(&o), 2.0);
        let (error, failures) = health_of(&e, &o, 0);
        assert_eq!(
            error.as_deref(),
            Some("limit: 5 alerts hold, over the group's limit of 3; 2 not kept")
        );
        assert_eq!(failures, 1.0);
        // Counted on every evaluation that cuts.
        let o = e.evaluate(&hot(5), 15.0);
        assert_eq!(cut(&o), 4.0);
        // Firing alerts are not pushed out by new series that sort first.
        let mut first = hot(5);
        first[0].push([("blob", "a"), ("i", "new")], 1.0);
        e.evaluate(&first, 30.0);
        assert_eq!(held(&e), ["00000", "00001", "00002"]);
        // One ends: room for the least of the others.
        let mut fewer = hot(5);
        fewer[0]
            .samples
            .retain(|s| label_value(&s.labels, "i") != Some("00001"));
        let o = e.evaluate(&fewer, 45.0);
        assert_eq!(held(&e), ["00000", "00002", "00003"]);
        assert_eq!(cut(&o), 4.0 + 3.0 + 1.0);
        // Back under the limit: healthy, and the count stays.
        let o = e.evaluate(&hot(3), 60.0);
        assert_eq!(health_of(&e, &o, 0), (None, 4.0));
        assert_eq!(cut(&o), 8.0);
    }

    #[test]
    fn a_group_without_a_limit_holds_the_default_and_zero_is_no_limit() {
        let mut e = limited("");
        let o = e.evaluate(&hot(crate::rules::DEFAULT_ALERT_LIMIT + 1), 0.0);
        assert_eq!(e.active_alerts().len(), crate::rules::DEFAULT_ALERT_LIMIT);
        assert!(health_of(&e, &o, 0).0.unwrap().contains("limit of 1000"));
        let mut e = limited("    limit: 0\n");
        let o = e.evaluate(&hot(crate::rules::DEFAULT_ALERT_LIMIT + 1), 0.0);
        assert_eq!(e.active_alerts().len(), 1001);
        assert_eq!(health_of(&e, &o, 0), (None, 0.0));
        assert!(
            family(&o, "outrider_rule_alerts_cut_total")
                .unwrap()
                .samples
                .is_empty()
        );
    }

    #[test]
    fn a_reload_that_changes_the_limit_starts_the_group_afresh() {
        let mut e = limited("    limit: 5\n");
        e.evaluate(&hot(5), 0.0);
        let groups = parse(
            "groups:\n  - name: g\n    limit: 2\n    rules:\n      - alert: Hot\n        selector: hot\n        threshold: {above: {warning: 0}}\n",
            "t.yml",
        )
        .unwrap();
        e.replace_rules(RuleSet::from_groups(groups).unwrap());
        assert!(e.active_alerts().is_empty());
        e.evaluate(&hot(5), 15.0);
        assert_eq!(held(&e), ["00000", "00001"]);
    }

    /// The hashes and comparisons of alert keys one steady tick does per
    /// alert, with `count` alerts held and a tenth of them ending.
    fn key_operations_per_alert(count: usize) -> f64 {
        let mut e = limited("    limit: 0\n");
        let families = hot(count);
        e.evaluate(&families, 0.0);
        e.evaluate(&families, 15.0);
        let mut fewer = families.clone();
        fewer[0].samples.truncate(count * 9 / 10);
        for s in &mut fewer[0].samples {
            s.value = if s.value > 0.0 { 1.0 } else { -1.0 };
        }
        fewer[0].samples.extend(
            families[0].samples[count * 9 / 10..]
                .iter()
                .map(|s| Sample {
                    labels: Arc::clone(&s.labels),
                    value: -1.0,
                }),
        );
        let before = KEY_OPERATIONS.with(|c| c.get());
        let o = e.evaluate(&fewer, 30.0);
        let spent = KEY_OPERATIONS.with(|c| c.get()) - before;
        assert_eq!(o.transitions.len(), count / 10);
        assert!(o.transitions.iter().all(|t| t.value == -1.0));
        spent as f64 / count as f64
    }

    #[test]
    fn a_tick_does_the_same_work_per_alert_at_any_number_of_alerts() {
        // Not timed: counted. Finding a held alert is a hash and a
        // comparison, and so is finding the value that ended one; a scan of
        // the other alerts per alert would grow with their number.
        let small = key_operations_per_alert(300);
        let large = key_operations_per_alert(3000);
        assert!(small <= 3.0, "{small} key operations per alert");
        assert!(
            large <= small * 1.05,
            "{small} per alert at 300, {large} at 3000"
        );
    }

    #[test]
    fn a_held_alert_is_not_copied_on_every_tick() {
        let mut e = limited("");
        let families = hot(50);
        let o = e.evaluate(&families, 0.0);
        let first = family(&o, "outrider_rule_state").unwrap().samples.clone();
        let o = e.evaluate(&families, 15.0);
        let second = &family(&o, "outrider_rule_state").unwrap().samples;
        assert_eq!(first.len(), 50);
        assert!(
            first
                .iter()
                .zip(second)
                .all(|(a, b)| Arc::ptr_eq(&a.labels, &b.labels)),
            "the state series' labels are built again"
        );
        // A new severity is a new series.
        let mut worse = families.clone();
        worse[0].samples[0].value = -1.0;
        let o = e.evaluate(&worse, 30.0);
        assert_eq!(family(&o, "outrider_rule_state").unwrap().samples.len(), 49);
    }
}

#[cfg(test)]
mod quiet_host {
    use std::path::Path;

    use super::*;
    use crate::collect::filesystem::{self, FilesystemCollector, FsUsage, StatFs};
    use crate::collect::{CollectorsConfig, Registry};
    use crate::paths::HostPaths;
    use crate::rules::RuleSet;

    /// Every filesystem a third used, so the test does not depend on the
    /// disks of the machine it runs on.
    struct RoomyStatFs;

    impl StatFs for RoomyStatFs {
        fn statfs(&self, _path: &Path) -> std::io::Result<FsUsage> {
            Ok(FsUsage {
                blocks: 3000,
                block_size: 4096,
                blocks_free: 2000,
                blocks_available: 2000,
                files: 3000,
                files_free: 2000,
            })
        }
    }

    /// The healthy host of the fixture tree (the golden test's).
    fn healthy_host() -> Registry {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let paths = HostPaths {
            procfs: fixtures.join("proc"),
            sysfs: fixtures.join("sys"),
            rootfs: "/".into(),
            udev_data: fixtures.join("udev"),
        };
        let mut config = CollectorsConfig::default();
        config.containers.enabled = false;
        config.filesystem.enabled = false;
        let mut registry = Registry::from_config(&config, &paths).unwrap();
        let statfs = std::sync::Arc::new(RoomyStatFs);
        let filesystems =
            FilesystemCollector::with_statfs(&filesystem::Config::default(), &paths, statfs)
                .unwrap();
        registry.add("filesystem", Box::new(filesystems));
        registry
    }

    /// The default threshold, absent and SLO rules hold nothing on a healthy
    /// host, even with their `for` durations taken away. (Anomaly rules are
    /// relative to hours of history and are covered by the baselines' own
    /// accuracy tests.)
    #[test]
    fn default_rules_are_quiet_on_a_healthy_host() {
        let mut rules = RuleSet::embedded();
        for group in &mut rules.groups {
            group.rules.retain(|r| !matches!(r.kind, Kind::Anomaly(_)));
            for rule in &mut group.rules {
                rule.for_duration = Duration::ZERO;
            }
        }
        let mut registry = healthy_host();
        let mut evaluator = Evaluator::new(rules, Duration::from_secs(60));
        for tick in 0..3 {
            let families = registry.collect_all();
            let outcome = evaluator.evaluate(&families, 1_700_000_000.0 + f64::from(tick) * 15.0);
            let loud: Vec<_> = evaluator
                .active_alerts()
                .iter()
                .map(|(_, r, a)| (r.name.clone(), a.labels.clone()))
                .collect();
            assert!(loud.is_empty(), "alerts on a healthy host: {loud:?}");
            // Nor do they fail: missing app metrics are no data, a zero
            // divisor is no limit.
            let failing: Vec<_> = evaluator
                .rules()
                .groups
                .iter()
                .flat_map(|g| g.rules.iter().map(move |r| (g, r)))
                .filter_map(|(g, r)| {
                    evaluator
                        .health(g, r)
                        .last_error
                        .map(|e| (r.name.clone(), e))
                })
                .collect();
            assert!(failing.is_empty(), "failing default rules: {failing:?}");
            let health = outcome
                .families
                .iter()
                .find(|f| f.name == "outrider_health_score")
                .expect("the health score is exported");
            assert_eq!(health.samples[0].value, 100.0);
        }
    }
}
