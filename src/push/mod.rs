//! Pushed metrics: the JSON push API and the Pushgateway's API write into
//! one store of groups. A group is what one pusher owns: the Pushgateway's
//! grouping key (`job` and more labels), or a JSON push's `service`.
//!
//! Every accepted change is an [`Op`], checked against the whole store
//! first (so a rejected request changes nothing), appended to a log on disk
//! and synced before the pusher hears "accepted", then applied. A restart
//! replays the log over the last compacted snapshot, so an accepted push
//! survives a kill -9.

pub mod endpoint;
pub mod json;
pub mod log;
pub mod otlp;
pub mod protobuf;
pub mod pushgateway;
pub mod series_map;
pub mod wire;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::metric::{Family, HostNames, Labels, MetricType, Sample};

/// The `push:` section.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PushConfig {
    /// Turns the push endpoints on or off. Unset: on exactly when a token is
    /// set. `true` without a token refuses to start.
    pub enabled: Option<bool>,
    /// Bearer token a push may carry. Also `OUTRIDER_PUSH_TOKEN`.
    pub token: Option<String>,
    /// Users who may push with HTTP basic auth instead of the token, as
    /// the client libraries' basic auth handlers send it: user name to
    /// bcrypt hash, the form of the web config's `basic_auth_users`. Kept
    /// apart from those readers, so a scrape credential cannot push.
    pub basic_auth_users: BTreeMap<String, String>,
    /// Removes a new group this long after its last push, unless a push
    /// asks for another time to live (`?ttl=`, the `Outrider-Ttl` header or
    /// `"ttl"` in a JSON body); a push that names none keeps the group's.
    /// Unset: groups stay until deleted, as in the Pushgateway.
    #[serde(with = "humantime_serde")]
    pub default_ttl: Option<Duration>,
    /// Bucket upper bounds for JSON histograms, by metric name; others get
    /// `default_buckets`.
    pub histogram_buckets: BTreeMap<String, Vec<f64>>,
    /// Bucket upper bounds for JSON histograms not named above.
    pub default_buckets: Vec<f64>,
    /// Compacts the log into a snapshot once it is this big, in bytes.
    pub log_compact_bytes: u64,
    /// Most groups held at once; a push that would start one more is
    /// refused (429); 0: no limit. Each group also exports
    /// `push_time_seconds` and `push_failure_time_seconds`, so empty groups
    /// cost too.
    pub max_groups: usize,
    /// Most labels a pushed series may carry, grouping labels included and
    /// the metric name not counted (Prometheus's `label_limit`); 0: no
    /// limit.
    pub label_limit: usize,
    /// Longest label name, in bytes (`label_name_length_limit`); 0: no
    /// limit.
    pub label_name_length_limit: usize,
    /// Longest label value, grouping values and metric names included, in
    /// bytes (`label_value_length_limit`); 0: no limit.
    pub label_value_length_limit: usize,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            enabled: None,
            token: None,
            basic_auth_users: BTreeMap::new(),
            default_ttl: None,
            histogram_buckets: BTreeMap::new(),
            // The client libraries' defaults.
            default_buckets: vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ],
            log_compact_bytes: 64 << 20,
            // Bounds what one pushed series can cost: a few KiB at most.
            max_groups: 10_000,
            label_limit: 30,
            label_name_length_limit: 128,
            label_value_length_limit: 2048,
        }
    }
}

impl PushConfig {
    /// Whether the push endpoints are served: when a token or a basic auth
    /// user is set, unless `enabled: false`. Refuses `enabled: true`
    /// without either, saying how to set one.
    pub fn active(&self) -> Result<bool, String> {
        let has_credentials = self.bearer_token().is_some() || !self.basic_auth_users.is_empty();
        match (self.enabled, has_credentials) {
            (Some(true), false) => Err(
                "push.enabled is true but no credentials are set: set push.token in the config or \
                 OUTRIDER_PUSH_TOKEN in the environment (pushes carry it as a bearer token), or \
                 push.basic_auth_users"
                    .to_owned(),
            ),
            (Some(false), _) => Ok(false),
            (_, has_credentials) => Ok(has_credentials),
        }
    }

    /// The token, unless it is empty (which no push may match).
    pub fn bearer_token(&self) -> Option<&str> {
        self.token.as_deref().filter(|t| !t.is_empty())
    }

    pub fn validate(&self) -> Result<(), String> {
        self.active()?;
        crate::web::auth::Users::new(&self.basic_auth_users).map_err(|e| format!("push.{e}"))?;
        let lists = std::iter::once(("default_buckets", &self.default_buckets))
            .chain(self.histogram_buckets.iter().map(|(n, b)| (n.as_str(), b)));
        for (name, bounds) in lists {
            if bounds.is_empty()
                || bounds.iter().any(|b| !b.is_finite())
                || bounds.windows(2).any(|w| w[0] >= w[1])
            {
                return Err(format!(
                    "push buckets for {name}: need finite upper bounds in increasing order \
                     (+Inf is added)"
                ));
            }
        }
        Ok(())
    }

    pub fn buckets_for(&self, name: &str) -> &[f64] {
        self.histogram_buckets
            .get(name)
            .unwrap_or(&self.default_buckets)
    }
}

/// A group's grouping labels, sorted by name.
pub type GroupKey = Vec<(String, String)>;

/// One series of a pushed family: its sample name (`x_bucket`) and labels,
/// sorted by name.
pub type SeriesKey = (String, Vec<(String, String)>);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    Counter,
    Gauge,
    Untyped,
    Histogram,
    Summary,
}

impl From<MetricType> for Kind {
    fn from(kind: MetricType) -> Self {
        match kind {
            MetricType::Counter => Kind::Counter,
            MetricType::Gauge => Kind::Gauge,
            MetricType::Untyped => Kind::Untyped,
            MetricType::Histogram => Kind::Histogram,
            MetricType::Summary => Kind::Summary,
        }
    }
}

impl From<Kind> for MetricType {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::Counter => MetricType::Counter,
            Kind::Gauge => MetricType::Gauge,
            Kind::Untyped => MetricType::Untyped,
            Kind::Histogram => MetricType::Histogram,
            Kind::Summary => MetricType::Summary,
        }
    }
}

/// A pushed metric family.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredFamily {
    pub kind: Kind,
    pub help: String,
    /// For JSON histograms, the upper bounds their buckets were made with.
    pub bounds: Vec<f64>,
    pub series: series_map::SeriesMap,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredValue {
    pub value: f64,
    /// The pusher's timestamp of a JSON gauge, which orders late sets.
    pub timestamp: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// By family name (a histogram's `x`).
    pub families: BTreeMap<String, StoredFamily>,
    pub push_time: f64,
    pub push_failure_time: f64,
    pub expires_at: Option<f64>,
}

/// How many series a group holds once `families` are pushed to it: only
/// those for a whole-group replace (PUT), else also the group's families
/// of other names, which stay (POST).
fn series_after_push(
    old: Option<&Group>,
    families: &BTreeMap<String, StoredFamily>,
    whole_group: bool,
) -> usize {
    let kept: usize = match (old, whole_group) {
        (Some(old), false) => old
            .families
            .iter()
            .filter(|(name, _)| !families.contains_key(*name))
            .map(|(_, f)| f.series.len())
            .sum(),
        _ => 0,
    };
    kept + families.values().map(|f| f.series.len()).sum::<usize>()
}

impl Group {
    fn series_count(&self) -> usize {
        self.families.values().map(|f| f.series.len()).sum()
    }

    /// The time to live of the group's last push.
    fn ttl(&self) -> Option<f64> {
        self.expires_at.map(|at| at - self.push_time)
    }
}

/// A change to the store, as logged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// PUT (`whole_group`) or POST of Pushgateway families.
    Replace {
        group: GroupKey,
        families: BTreeMap<String, StoredFamily>,
        whole_group: bool,
        at: f64,
        ttl: Option<f64>,
    },
    Delete {
        group: GroupKey,
    },
    /// A JSON batch; counters add, gauges set, histograms observe.
    Json {
        group: GroupKey,
        updates: Vec<json::Update>,
        at: f64,
        ttl: Option<f64>,
    },
    /// A rejected push to an existing group sets its failure time, as the
    /// Pushgateway's `push_failure_time_seconds` shows.
    Failure {
        group: GroupKey,
        at: f64,
    },
    /// Replaces of several groups, checked and applied together: an OTLP
    /// export of several resources.
    Batch(Vec<Op>),
}

/// The bodies the Pushgateway's API takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GatewayFormat {
    /// The text format, 0.0.4.
    Text,
    /// Delimited `io.prometheus.client.MetricFamily` messages.
    Protobuf,
}

/// The Pushgateway's methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushMethod {
    Put,
    Post,
    Delete,
}

/// Why a push is refused; each maps to one HTTP status.
#[derive(Clone, Debug, thiserror::Error)]
pub enum PushError {
    /// Malformed or inconsistent input: 400.
    #[error("{0}")]
    Invalid(String),
    /// A series limit: 429.
    #[error("{0}")]
    Limit(String),
    /// The log could not be written: 500, and nothing was applied.
    #[error("the push could not be stored: {0}")]
    Storage(String),
    /// The disk is full: 507 with Retry-After, since the same push may
    /// succeed once space is freed; nothing was applied.
    #[error("the push could not be stored: {0}")]
    NoSpace(String),
}

impl From<&log::LogError> for PushError {
    fn from(error: &log::LogError) -> Self {
        let full = match error {
            log::LogError::Io { source, .. } => {
                source.kind() == std::io::ErrorKind::StorageFull
                    || source.kind() == std::io::ErrorKind::QuotaExceeded
            }
            _ => false,
        };
        if full {
            PushError::NoSpace(error.to_string())
        } else {
            PushError::Storage(error.to_string())
        }
    }
}

/// The groups, and the type each family name has across all of them (a
/// name must keep one type, or the exposition would be invalid).
#[derive(Debug, Default)]
pub struct State {
    groups: BTreeMap<GroupKey, Group>,
    /// The groups with an empty grouping value (`instance@base64/=`), the
    /// only ones that can collide with another group in Prometheus.
    with_empty_values: std::collections::BTreeSet<GroupKey>,
    kinds: HashMap<String, (Kind, usize)>,
    series_total: usize,
}

pub struct Limits {
    pub per_group: usize,
    pub total: usize,
    pub groups: usize,
    pub labels: usize,
    pub name_length: usize,
    pub value_length: usize,
}

impl Limits {
    /// The series limits (from `web.limits`) with the group and label
    /// limits of `push:`.
    pub fn new(per_group: usize, total: usize, config: &PushConfig) -> Self {
        let or_unlimited = |n: usize| if n == 0 { usize::MAX } else { n };
        Limits {
            per_group,
            total,
            groups: or_unlimited(config.max_groups),
            labels: or_unlimited(config.label_limit),
            name_length: or_unlimited(config.label_name_length_limit),
            value_length: or_unlimited(config.label_value_length_limit),
        }
    }

    /// Checks one series' name and labels (grouping labels first).
    fn check_series<'a>(
        &self,
        name: &str,
        labels: impl Iterator<Item = (&'a str, &'a str)> + Clone,
    ) -> Result<(), String> {
        if name.len() > self.value_length {
            return Err(format!(
                "the metric name {}… is {} bytes; the limit is {} (push.label_value_length_limit)",
                clip(name),
                name.len(),
                self.value_length
            ));
        }
        let count = labels.clone().count();
        // target_info carries every resource attribute of an OTLP push, as
        // Prometheus's translation does; one series a group, bounded by the
        // body limit. An enriched Kubernetes resource has more than 30.
        if count > self.labels && name != "target_info" {
            return Err(format!(
                "{name} has {count} labels; the limit is {} (push.label_limit)",
                self.labels
            ));
        }
        for (label, value) in labels {
            if label.len() > self.name_length {
                return Err(format!(
                    "{name}: the label name {}… is {} bytes; the limit is {} (push.label_name_length_limit)",
                    clip(label),
                    label.len(),
                    self.name_length
                ));
            }
            if value.len() > self.value_length {
                return Err(format!(
                    "{name}: the value of label {} is {} bytes; the limit is {} (push.label_value_length_limit)",
                    clip(label),
                    value.len(),
                    self.value_length
                ));
            }
        }
        Ok(())
    }
}

/// The start of a long name, for a message that stays short.
fn clip(text: &str) -> &str {
    let mut end = text.len().min(64);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl State {
    pub fn groups(&self) -> &BTreeMap<GroupKey, Group> {
        &self.groups
    }

    pub fn series_total(&self) -> usize {
        self.series_total
    }

    /// Whether `op` may be applied; checks everything `apply` relies on.
    pub fn check(&self, op: &Op, limits: &Limits) -> Result<(), PushError> {
        if let Some(group) = op.group() {
            let starts_one = op.adds_data() && !self.groups.contains_key(group);
            if starts_one {
                self.check_distinct(group)?;
            }
            if starts_one && self.groups.len() >= limits.groups {
                return Err(PushError::Limit(format!(
                    "group {} would be group {} held; the limit is {} (push.max_groups)",
                    describe(group),
                    self.groups.len() + 1,
                    limits.groups
                )));
            }
        }
        if let Some(group) = op.group().filter(|_| op.adds_data()) {
            limits
                .check_series("the grouping key", series_map::pairs(group))
                .map_err(PushError::Invalid)?;
        }
        match op {
            Op::Replace {
                group,
                families,
                whole_group,
                ..
            } => {
                for family in families.values() {
                    for series in family.series.iter() {
                        limits
                            .check_series(
                                series.name(),
                                series_map::pairs(group).chain(series.labels()),
                            )
                            .map_err(PushError::Invalid)?;
                    }
                }
                let old = self.groups.get(group);
                for (name, family) in families {
                    self.check_kind(group, name, family.kind)?;
                }
                let old_count = old.map_or(0, Group::series_count);
                let new_count = series_after_push(old, families, *whole_group);
                self.check_counts(group, old_count, new_count, limits)
            }
            Op::Json { group, updates, .. } => {
                let old = self.groups.get(group);
                let mut added: HashMap<&str, usize> = HashMap::new();
                let mut sums: HashMap<SeriesKey, f64> = HashMap::new();
                for (i, update) in updates.iter().enumerate() {
                    limits
                        .check_series(
                            &update.name,
                            series_map::pairs(group).chain(series_map::pairs(&update.labels)),
                        )
                        .map_err(|e| PushError::Invalid(format!("metrics[{i}]: {e}")))?;
                    let existing = old.and_then(|g| g.families.get(&update.name));
                    if let Some((series, held)) = update.summed(existing) {
                        let sum = sums.entry(series).or_insert(held);
                        *sum += update.value;
                        if !sum.is_finite() {
                            return Err(PushError::Invalid(format!(
                                "metrics[{i}].value: adding {} to {} overflows",
                                update.value, update.name
                            )));
                        }
                    }
                    let kind = update.kind.stored();
                    if let Some(existing) = existing {
                        if existing.kind != kind {
                            return Err(PushError::Invalid(format!(
                                "metrics[{i}]: {} was pushed as a {:?} before, not a {:?}",
                                update.name, existing.kind, kind
                            )));
                        }
                    } else {
                        self.check_kind(group, &update.name, kind)
                            .map_err(|e| PushError::Invalid(format!("metrics[{i}]: {e}")))?;
                    }
                    let new_series = update.new_series(existing);
                    *added.entry(update.name.as_str()).or_default() += new_series;
                }
                let old_count = old.map_or(0, Group::series_count);
                // Series repeated within one batch are counted once per
                // update: a bound that errs on the safe side.
                let new_count = old_count + added.values().sum::<usize>();
                self.check_counts(group, old_count, new_count, limits)
            }
            Op::Batch(ops) => self.check_batch(ops, limits),
            Op::Delete { .. } | Op::Failure { .. } => Ok(()),
        }
    }

    /// Each op against the store, then what they do together: one type per
    /// name across them, and the group and series totals of all of them.
    fn check_batch(&self, ops: &[Op], limits: &Limits) -> Result<(), PushError> {
        let mut kinds: HashMap<&str, Kind> = HashMap::new();
        let mut new_groups = 0;
        let mut total = self.series_total;
        for op in ops {
            let Op::Replace {
                group,
                families,
                whole_group,
                ..
            } = op
            else {
                return Err(PushError::Invalid("a batch holds replaces only".to_owned()));
            };
            self.check(op, limits)?;
            for (name, family) in families {
                if let Some(kind) = kinds.insert(name, family.kind) {
                    if kind != family.kind {
                        return Err(PushError::Invalid(format!(
                            "{name} is pushed as a {kind:?} and as a {:?}",
                            family.kind
                        )));
                    }
                }
            }
            let old = self.groups.get(group);
            if old.is_none() {
                new_groups += 1;
            }
            let old_count = old.map_or(0, Group::series_count);
            total = total - old_count + series_after_push(old, families, *whole_group);
        }
        if self.groups.len() + new_groups > limits.groups {
            return Err(PushError::Limit(format!(
                "the push would start {new_groups} groups beside the {} held; the limit is {} (push.max_groups)",
                self.groups.len(),
                limits.groups
            )));
        }
        if total > self.series_total && total > limits.total {
            return Err(PushError::Limit(format!(
                "the store would hold {total} series; the limit is {} (web.limits.max_push_series_total)",
                limits.total
            )));
        }
        Ok(())
    }

    /// Refuses a new group that Prometheus could not tell from a held one:
    /// an empty label is no label there, so `{job="x",a=""}` and
    /// `{job="x",b=""}` would expose the same series. An empty value is
    /// still kept (`instance@base64/=` is how a Pushgateway client keeps
    /// Prometheus from adding an instance).
    fn check_distinct(&self, group: &GroupKey) -> Result<(), PushError> {
        let seen = |key: &GroupKey| -> GroupKey {
            key.iter().filter(|(_, v)| !v.is_empty()).cloned().collect()
        };
        let this = seen(group);
        let clash = if this.len() < group.len() && self.groups.contains_key(&this) {
            Some(&this)
        } else {
            self.with_empty_values
                .iter()
                .find(|held| *held != group && seen(held) == this)
        };
        match clash {
            Some(held) => Err(PushError::Invalid(format!(
                "group {} would expose the same series as the group {} held (an empty label is no label in Prometheus)",
                describe(group),
                describe(held)
            ))),
            None => Ok(()),
        }
    }

    fn check_kind(&self, group: &GroupKey, name: &str, kind: Kind) -> Result<(), PushError> {
        let Some(&(known, holders)) = self.kinds.get(name) else {
            return Ok(());
        };
        let only_here = holders == 1
            && self
                .groups
                .get(group)
                .is_some_and(|g| g.families.contains_key(name));
        if known != kind && !only_here {
            return Err(PushError::Invalid(format!(
                "{name} is a {known:?} in other groups; it cannot be pushed as a {kind:?}"
            )));
        }
        Ok(())
    }

    fn check_counts(
        &self,
        group: &GroupKey,
        old_count: usize,
        new_count: usize,
        limits: &Limits,
    ) -> Result<(), PushError> {
        if new_count > limits.per_group {
            return Err(PushError::Limit(format!(
                "group {} would hold {new_count} series; the limit is {} (web.limits.max_push_series_per_group)",
                describe(group),
                limits.per_group
            )));
        }
        let total = self.series_total - old_count + new_count;
        if new_count > old_count && total > limits.total {
            return Err(PushError::Limit(format!(
                "the store would hold {total} series; the limit is {} (web.limits.max_push_series_total)",
                limits.total
            )));
        }
        Ok(())
    }

    /// Applies a checked op; returns how many JSON gauge sets were older
    /// than the value held and left it alone. Replaying the log applies the
    /// same ops in the same order, so it rebuilds the same state.
    pub fn apply(&mut self, op: &Op) -> usize {
        let mut stale = 0;
        match op {
            Op::Replace {
                group,
                families,
                whole_group,
                at,
                ttl,
            } => {
                let mut entry = self.take_group(group).unwrap_or_default();
                if *whole_group {
                    entry.families.clear();
                }
                for (name, family) in families {
                    entry.families.insert(name.clone(), family.clone());
                }
                entry.push_time = *at;
                entry.expires_at = ttl.map(|ttl| at + ttl);
                self.put_group(group.clone(), entry);
            }
            Op::Delete { group } => {
                self.take_group(group);
            }
            Op::Json {
                group,
                updates,
                at,
                ttl,
            } => {
                let mut entry = self.take_group(group).unwrap_or_default();
                for update in updates {
                    if !update.apply(&mut entry.families) {
                        stale += 1;
                    }
                }
                entry.push_time = *at;
                entry.expires_at = ttl.map(|ttl| at + ttl);
                self.put_group(group.clone(), entry);
            }
            Op::Failure { group, at } => {
                if let Some(entry) = self.groups.get_mut(group) {
                    entry.push_failure_time = *at;
                }
            }
            Op::Batch(ops) => {
                for op in ops {
                    stale += self.apply(op);
                }
            }
        }
        stale
    }

    fn take_group(&mut self, key: &GroupKey) -> Option<Group> {
        let group = self.groups.remove(key)?;
        self.with_empty_values.remove(key);
        self.series_total -= group.series_count();
        for name in group.families.keys() {
            if let Some((_, holders)) = self.kinds.get_mut(name) {
                *holders -= 1;
                if *holders == 0 {
                    self.kinds.remove(name);
                }
            }
        }
        Some(group)
    }

    fn put_group(&mut self, key: GroupKey, group: Group) {
        if key.iter().any(|(_, v)| v.is_empty()) {
            self.with_empty_values.insert(key.clone());
        }
        self.series_total += group.series_count();
        for (name, family) in &group.families {
            let entry = self.kinds.entry(name.clone()).or_insert((family.kind, 0));
            entry.0 = family.kind;
            entry.1 += 1;
        }
        self.groups.insert(key, group);
    }

    /// Removes the groups whose time to live has passed; returns how many.
    pub fn expire(&mut self, now: f64) -> usize {
        let expired: Vec<GroupKey> = self
            .groups
            .iter()
            .filter(|(_, g)| g.expires_at.is_some_and(|at| at <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in &expired {
            self.take_group(key);
        }
        expired.len()
    }

    /// The store as the tick's families: one per sample name, every series
    /// with its group's labels (which win over a pushed label of the same
    /// name, as in the Pushgateway), plus `push_time_seconds` and
    /// `push_failure_time_seconds` per group.
    pub fn families(&self) -> Vec<Family> {
        let mut out: Vec<Family> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut push_time = Family::gauge(
            "push_time_seconds",
            "Last Unix time when changing this group in the Pushgateway succeeded.",
        );
        let mut failure_time = Family::gauge(
            "push_failure_time_seconds",
            "Last Unix time when changing this group in the Pushgateway failed.",
        );
        for (key, group) in &self.groups {
            let group_labels: Labels = key
                .iter()
                .map(|(n, v)| (Cow::Owned(n.clone()), v.clone()))
                .collect();
            let group_labels = Arc::new(group_labels);
            push_time.samples.push(Sample {
                labels: Arc::clone(&group_labels),
                value: group.push_time,
            });
            failure_time.samples.push(Sample {
                labels: Arc::clone(&group_labels),
                value: group.push_failure_time,
            });
            for family in group.families.values() {
                for series in family.series.iter() {
                    let sample_name = series.name();
                    let at = *index.entry(sample_name).or_insert_with(|| {
                        let help = if family.help.is_empty() {
                            // Exporters must document every family.
                            "Pushed without help text.".to_owned()
                        } else {
                            family.help.clone()
                        };
                        out.push(Family::new(
                            sample_name.to_owned(),
                            help,
                            family.kind.into(),
                        ));
                        out.len() - 1
                    });
                    let labels = series.labels();
                    let mut merged: Labels = Vec::with_capacity(labels.len() + key.len());
                    merged.extend(
                        labels
                            .filter(|(n, _)| !key.iter().any(|(k, _)| k == n))
                            .map(|(n, v)| (Cow::Owned(n.to_owned()), v.to_owned())),
                    );
                    merged.extend(group_labels.iter().cloned());
                    out[at].samples.push(Sample {
                        labels: Arc::new(merged),
                        value: series.value.value,
                    });
                }
            }
        }
        out.push(push_time);
        out.push(failure_time);
        out
    }
}

/// `{job="x",instance="y"}`, for messages.
pub fn describe(group: &GroupKey) -> String {
    let inner: Vec<String> = group.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{{{}}}", inner.join(","))
}

/// The store the HTTP handlers write and the tick reads.
pub struct PushStore {
    state: Mutex<State>,
    log: Arc<log::Log>,
    syncer: log::Syncer,
    limits: Limits,
    compact_bytes: u64,
    pub config: PushConfig,
    host_names: HostNames,
}

impl PushStore {
    /// Opens the store in `dir`: the last snapshot, then every logged op
    /// after it. A torn last record (a crash while it was written, before
    /// it was acknowledged) is dropped.
    pub fn open(
        dir: &Path,
        config: PushConfig,
        limits: Limits,
    ) -> Result<PushStore, log::LogError> {
        let (log, ops, snapshot) = log::Log::open(dir)?;
        let mut state = State::default();
        let restored_groups = snapshot.len();
        for (key, group) in snapshot {
            state.put_group(key, group);
        }
        let replayed = ops.len();
        for op in &ops {
            state.apply(op);
        }
        if restored_groups > 0 || replayed > 0 {
            info!(
                groups = state.groups.len(),
                series = state.series_total,
                replayed,
                "pushed metrics restored"
            );
        }
        let log = Arc::new(log);
        Ok(PushStore {
            state: Mutex::new(state),
            syncer: log::Syncer::start(Arc::clone(&log)),
            log,
            limits,
            compact_bytes: config.log_compact_bytes,
            config,
            host_names: HostNames::default(),
        })
    }

    /// Refuses pushes of the families the host collectors export.
    pub fn refusing(mut self, host_names: HostNames) -> Self {
        self.host_names = host_names;
        self
    }

    /// The first family the op pushes that a host collector exports.
    fn host_family<'a>(&self, op: &'a Op) -> Option<&'a str> {
        match op {
            Op::Replace { families, .. } => families
                .keys()
                .map(String::as_str)
                .find(|name| self.host_names.contains(name)),
            Op::Json { updates, .. } => updates
                .iter()
                .find(|u| {
                    let suffixes: &[&str] = match u.kind {
                        json::UpdateKind::Histogram => &["_bucket", "_sum", "_count"],
                        _ => &[""],
                    };
                    suffixes
                        .iter()
                        .any(|suffix| self.host_names.contains(&format!("{}{suffix}", u.name)))
                })
                .map(|u| u.name.as_str()),
            Op::Batch(ops) => ops.iter().find_map(|op| self.host_family(op)),
            Op::Delete { .. } | Op::Failure { .. } => None,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the state was held: what is there was checked
        // and logged op by op, so it is still consistent.
        crate::model::sync::lock(&self.state)
    }

    /// Checks, logs and applies `op`; returns the number of stale gauge
    /// sets and the log position to wait for with [`PushStore::durable`]
    /// before the pusher may hear "accepted".
    pub fn submit(&self, mut op: Op) -> Result<(usize, u64), PushError> {
        if let Some(name) = self.host_family(&op) {
            return Err(PushError::Invalid(format!(
                "{name} is a family outrider's host collectors export; push it under another name"
            )));
        }
        let (written_to, stale) = {
            let mut state = self.lock();
            op.settle_ttl(&state.groups, self.config.default_ttl);
            if let Err(error) = state.check(&op, &self.limits) {
                if let Some(group) = op.group().filter(|g| state.groups.contains_key(*g)) {
                    let failure = Op::Failure {
                        group: group.clone(),
                        at: crate::model::clock::unix_now(),
                    };
                    if self.log.append(&failure).is_ok() {
                        state.apply(&failure);
                    }
                }
                return Err(error);
            }
            let offset = self.log.append(&op).map_err(|e| PushError::from(&e))?;
            let stale = state.apply(&op);
            if self.log.pending_bytes() >= self.compact_bytes {
                if let Err(e) = self.log.compact(state.groups()) {
                    warn!(error = %e, "push log compaction failed; the log keeps growing");
                }
            }
            (offset, stale)
        };
        Ok((stale, written_to))
    }

    /// Completes once the log is on disk up to `position`. One thread does
    /// the syncs, and pushes that wait together share one.
    pub async fn durable(&self, position: u64) -> Result<(), PushError> {
        self.syncer.wait(position).await
    }

    /// The tick's families; drops expired groups first.
    pub fn families(&self, now: f64) -> Vec<Family> {
        let mut state = self.lock();
        let expired = state.expire(now);
        if expired > 0 {
            info!(groups = expired, "pushed groups expired");
        }
        let mut families = state.families();
        families.push(
            Family::gauge("outrider_push_series", "Pushed series held.")
                .single(state.series_total as f64),
        );
        families.push(
            Family::gauge("outrider_push_groups", "Pushed groups held.")
                .single(state.groups.len() as f64),
        );
        let damage = self.log.damage();
        families.push(
            Family::gauge(
                "outrider_push_log_records_lost",
                "Acknowledged pushes found damaged in push.log at the start and skipped (the damaged log is kept beside it).",
            )
            .single(damage.log_records_lost as f64),
        );
        families.push(
            Family::gauge(
                "outrider_push_snapshot_damaged",
                "1 when push.snapshot was found damaged at the start and set aside, losing the groups it held; 0 otherwise.",
            )
            .single(if damage.snapshot_set_aside { 1.0 } else { 0.0 }),
        );
        families
    }

    /// Writes a snapshot and empties the log (on a clean stop, so the next
    /// start has nothing to replay).
    pub fn compact(&self) -> Result<(), log::LogError> {
        let state = self.lock();
        self.log.compact(state.groups())
    }
}

impl Op {
    /// The op of a JSON push body received at `now`; also returns how many
    /// metrics it carries.
    pub fn from_json(
        body: &[u8],
        config: &PushConfig,
        now: f64,
        ttl: Option<f64>,
    ) -> Result<(Op, usize), String> {
        let batch = json::parse(body, config)?;
        let count = batch.updates.len();
        let op = Op::Json {
            group: vec![("service".to_owned(), batch.service)],
            updates: batch.updates,
            at: now,
            ttl: ttl.or(batch.ttl),
        };
        Ok((op, count))
    }

    /// The op of a Pushgateway request in the text format: `PUT` replaces
    /// the group, `POST` its families of the names pushed, `DELETE`
    /// removes it.
    pub fn from_pushgateway(
        method: PushMethod,
        path: &str,
        body: &[u8],
        now: f64,
        ttl: Option<f64>,
    ) -> Result<Op, String> {
        Op::from_pushgateway_as(method, path, body, GatewayFormat::Text, now, ttl)
    }

    /// The op of a Pushgateway request whose body is in `format`.
    pub fn from_pushgateway_as(
        method: PushMethod,
        path: &str,
        body: &[u8],
        format: GatewayFormat,
        now: f64,
        ttl: Option<f64>,
    ) -> Result<Op, String> {
        let group = match pushgateway::grouping_key(path) {
            Some(result) => result?,
            None => return Err(format!("{path} is not under {}", pushgateway::PREFIX)),
        };
        if method == PushMethod::Delete {
            return Ok(Op::Delete { group });
        }
        let parsed = match format {
            GatewayFormat::Text => {
                let text =
                    std::str::from_utf8(body).map_err(|e| format!("the body is not UTF-8: {e}"))?;
                crate::textparse::parse(text, crate::textparse::Dialect::Text)
                    .map_err(|e| e.to_string())?
            }
            GatewayFormat::Protobuf => protobuf::decode(body)?,
        };
        let families = pushgateway::into_group(parsed, &group)?;
        Ok(Op::Replace {
            group,
            families,
            whole_group: method == PushMethod::Put,
            at: now,
            ttl,
        })
    }

    /// The op of an OTLP export: each resource's families replace those of
    /// the same names in its group, as a Pushgateway POST does.
    pub fn from_otlp(
        body: &[u8],
        encoding: otlp::Encoding,
        now: f64,
        ttl: Option<f64>,
    ) -> Result<Op, String> {
        let groups = otlp::translate(otlp::decode(body, encoding)?)?;
        let mut ops = Vec::with_capacity(groups.len());
        for (group, parsed) in groups {
            let families = pushgateway::into_group(parsed, &group)
                .map_err(|e| format!("{}: {e}", describe(&group)))?;
            ops.push(Op::Replace {
                group,
                families,
                whole_group: false,
                at: now,
                ttl,
            });
        }
        match ops.len() {
            1 => Ok(ops.remove(0)),
            _ => Ok(Op::Batch(ops)),
        }
    }

    /// A push that names no time to live keeps its group's, as it keeps
    /// the group; a new group takes `push.default_ttl`. Settled before the
    /// op is logged, so a replay applies the same expiry.
    fn settle_ttl(&mut self, groups: &BTreeMap<GroupKey, Group>, default: Option<Duration>) {
        match self {
            Op::Replace { ttl, group, .. } | Op::Json { ttl, group, .. } => {
                if ttl.is_none() {
                    *ttl = groups
                        .get(group)
                        .and_then(Group::ttl)
                        .or(default.map(|d| d.as_secs_f64()));
                }
            }
            Op::Batch(ops) => {
                for op in ops {
                    op.settle_ttl(groups, default);
                }
            }
            Op::Delete { .. } | Op::Failure { .. } => {}
        }
    }

    /// Whether the op can add to what is held (a delete or a failure
    /// record cannot).
    fn adds_data(&self) -> bool {
        matches!(self, Op::Replace { .. } | Op::Json { .. } | Op::Batch(_))
    }

    fn group(&self) -> Option<&GroupKey> {
        match self {
            Op::Replace { group, .. }
            | Op::Delete { group }
            | Op::Json { group, .. }
            | Op::Failure { group, .. } => Some(group),
            Op::Batch(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_users_turn_pushing_on_and_must_be_bcrypt() {
        let mut config = PushConfig::default();
        assert_eq!(config.active(), Ok(false));
        config.enabled = Some(true);
        assert!(
            config
                .active()
                .unwrap_err()
                .contains("push.basic_auth_users")
        );
        config.enabled = None;
        config
            .basic_auth_users
            .insert("ci".into(), bcrypt::hash("pw", 4).unwrap());
        assert_eq!(config.active(), Ok(true));
        assert_eq!(config.validate(), Ok(()));
        config
            .basic_auth_users
            .insert("batch".into(), "plain".into());
        let error = config.validate().unwrap_err();
        assert!(
            error.starts_with(
                "push.basic_auth_users: the password of \"batch\" is not a bcrypt hash"
            ),
            "{error}"
        );
        // An empty token is no token: it could match an empty bearer.
        config.token = Some(String::new());
        assert_eq!(config.bearer_token(), None);
    }

    fn otlp_json(resources: &[(&str, &str, &str)]) -> Vec<u8> {
        let resources: Vec<String> = resources
            .iter()
            .map(|(service, name, kind)| {
                let data = match *kind {
                    "gauge" => r#""gauge":{"dataPoints":[{"asDouble":1}]}"#.to_owned(),
                    _ => r#""sum":{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[{"asInt":"1"}]}"#.to_owned(),
                };
                format!(
                    r#"{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"{service}"}}}}]}},"scopeMetrics":[{{"metrics":[{{"name":"{name}",{data}}}]}}]}}"#
                )
            })
            .collect();
        format!(r#"{{"resourceMetrics":[{}]}}"#, resources.join(",")).into_bytes()
    }

    #[test]
    fn an_enriched_resource_is_not_refused_for_its_target_info_labels() {
        // 40 resource attributes, as a Kubernetes resource enriched by the
        // Collector carries: target_info holds them all; the metrics stay
        // under push.label_limit (30).
        let attributes: Vec<String> = (0..40)
            .map(|i| format!(r#"{{"key":"k8s.attr{i}","value":{{"stringValue":"v"}}}}"#))
            .collect();
        let body = format!(
            r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"shop"}}}},{}]}},"scopeMetrics":[{{"metrics":[{{"name":"queue","gauge":{{"dataPoints":[{{"asDouble":1}}]}}}}]}}]}}]}}"#,
            attributes.join(",")
        );
        let limits = Limits::new(10_000, 100_000, &PushConfig::default());
        let mut state = State::default();
        let op = Op::from_otlp(body.as_bytes(), otlp::Encoding::Json, 1.0, None).unwrap();
        state.check(&op, &limits).unwrap();
        state.apply(&op);
        assert_eq!(state.series_total(), 2);
    }

    #[test]
    fn an_otlp_export_of_several_resources_is_applied_whole_or_not_at_all() {
        let limits = Limits::new(10_000, 100_000, &PushConfig::default());
        let mut state = State::default();
        let body = otlp_json(&[("a", "jobs", "sum"), ("b", "queue", "gauge")]);
        let op = Op::from_otlp(&body, otlp::Encoding::Json, 1.0, None).unwrap();
        assert!(matches!(op, Op::Batch(ref ops) if ops.len() == 2));
        state.check(&op, &limits).unwrap();
        state.apply(&op);
        assert_eq!(state.groups().len(), 2);
        assert_eq!(state.series_total(), 2);

        // One name, two types across the resources of one export.
        let clash = otlp_json(&[("c", "depth", "sum"), ("d", "depth.total", "gauge")]);
        let clash = Op::from_otlp(&clash, otlp::Encoding::Json, 2.0, None);
        let clash = clash.map(|op| state.check(&op, &limits));
        assert!(
            matches!(clash, Ok(Err(PushError::Invalid(ref m))) if m.contains("depth")),
            "{clash:?}"
        );

        // Over the group limit with the two new groups together.
        let tight = Limits::new(
            10_000,
            100_000,
            &PushConfig {
                max_groups: 3,
                ..PushConfig::default()
            },
        );
        let two_more = otlp_json(&[("e", "x", "gauge"), ("f", "y", "gauge")]);
        let op = Op::from_otlp(&two_more, otlp::Encoding::Json, 3.0, None).unwrap();
        assert!(matches!(state.check(&op, &tight), Err(PushError::Limit(_))));
        assert_eq!(state.groups().len(), 2);
    }
}
