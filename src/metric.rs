//! The samples of one tick: metric families with their type, help and series.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Arc, RwLock};

/// A label name; host collectors use static names, so they cost no allocation.
pub type LabelName = Cow<'static, str>;

/// The label set of one series, in the order the collector gives them.
pub type Labels = Vec<(LabelName, String)>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Untyped,
    /// One of `x_bucket`, `x_sum`, `x_count`: a histogram's series are kept
    /// as one family per sample name, so rules and baselines select them by
    /// the names PromQL uses; the exposition groups them under `x` again.
    Histogram,
    /// `x` (the quantiles), `x_sum` or `x_count`, as for histograms.
    Summary,
}

impl MetricType {
    /// The family name a sample name belongs to in the exposition: a
    /// histogram's `x_bucket` belongs to `x`.
    pub fn base_name(self, sample_name: &str) -> &str {
        let suffixes: &[&str] = match self {
            MetricType::Histogram => &["_bucket", "_sum", "_count"],
            MetricType::Summary => &["_sum", "_count"],
            _ => &[],
        };
        suffixes
            .iter()
            .find_map(|suffix| sample_name.strip_suffix(suffix))
            .unwrap_or(sample_name)
    }

    /// Whether the series only go up (and a drop means a reset).
    pub fn is_cumulative(self, sample_name: &str) -> bool {
        match self {
            MetricType::Counter | MetricType::Histogram => true,
            MetricType::Summary => self.base_name(sample_name) != sample_name,
            MetricType::Gauge | MetricType::Untyped => false,
        }
    }
}

/// One series' value. The label set is shared, so a producer that exports
/// several values for one series (the baselines export 18) builds it once.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub labels: Arc<Labels>,
    pub value: f64,
}

/// One metric family: every series of one name.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    pub name: Cow<'static, str>,
    pub help: Cow<'static, str>,
    pub kind: MetricType,
    pub samples: Vec<Sample>,
    /// When the values were read (seconds since the epoch), where the
    /// producer knows; a rate over counters must use this, not the tick's
    /// start, since a collector can run well after the tick began.
    pub read_at: Option<f64>,
    /// The node_exporter collector that produced the family, which
    /// `collect[]` on /metrics selects by; None for everything else.
    pub origin: Option<&'static str>,
}

impl Family {
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
        kind: MetricType,
    ) -> Self {
        Family {
            name: name.into(),
            help: help.into(),
            kind,
            samples: Vec::new(),
            read_at: None,
            origin: None,
        }
    }

    pub fn counter(name: impl Into<Cow<'static, str>>, help: impl Into<Cow<'static, str>>) -> Self {
        Self::new(name, help, MetricType::Counter)
    }

    pub fn gauge(name: impl Into<Cow<'static, str>>, help: impl Into<Cow<'static, str>>) -> Self {
        Self::new(name, help, MetricType::Gauge)
    }

    /// Adds a series; `labels` pairs a static label name with its value.
    pub fn push<V: Into<String>>(
        &mut self,
        labels: impl IntoIterator<Item = (&'static str, V)>,
        value: f64,
    ) {
        let labels = labels
            .into_iter()
            .map(|(name, value)| (Cow::Borrowed(name), value.into()))
            .collect();
        self.samples.push(Sample {
            labels: Arc::new(labels),
            value,
        });
    }

    /// A family with a single series without labels.
    pub fn single(mut self, value: f64) -> Self {
        self.samples.push(Sample {
            labels: Arc::default(),
            value,
        });
        self
    }
}

/// The value of the label `name`, if the series has it.
pub fn label_value<'a>(labels: &'a Labels, name: &str) -> Option<&'a str> {
    labels
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The family names the host collectors have exported since the start, shared
/// with the push store, which refuses them: a pushed `node_*` series would
/// be counted by every host dashboard as if the host had said it.
#[derive(Clone, Debug, Default)]
pub struct HostNames(Arc<RwLock<HashSet<String>>>);

impl HostNames {
    pub fn contains(&self, name: &str) -> bool {
        self.0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains(name)
    }

    /// Adds the names not held yet. Names stay once seen: a collector
    /// that fails one tick does not free its names for pushes.
    pub fn update<'a>(&self, names: impl Iterator<Item = &'a str> + Clone) {
        let new = {
            let held = self.0.read().unwrap_or_else(|p| p.into_inner());
            names.clone().any(|n| !held.contains(n))
        };
        if new {
            self.0
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .extend(names.map(str::to_owned));
        }
    }
}
