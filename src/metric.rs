//! The samples of one tick: metric families with their type, help and series.

use std::borrow::Cow;
use std::sync::Arc;

/// A label name; host collectors use static names, so they cost no allocation.
pub type LabelName = Cow<'static, str>;

/// The label set of one series, in the order the collector gives them.
pub type Labels = Vec<(LabelName, String)>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Untyped,
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
