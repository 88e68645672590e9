//! Lookups of series by label set, shared by the rules of one tick.

use std::collections::HashMap;
use std::sync::Arc;

use crate::metric::{Family, Labels, Sample, label_value};

/// Values of a family by label set, built on first use in a tick and shared
/// by every rule that looks series up in that family (divide_by, the
/// baseline gauges), so a lookup is a hash, not a scan.
#[derive(Default)]
pub(super) struct LabelIndex<'a> {
    families: HashMap<&'a str, HashMap<&'a Labels, f64>>,
    /// The anomaly ratios by their `metric` label.
    ratios: Option<HashMap<&'a str, Vec<(usize, &'a Sample)>>>,
}

impl<'a> LabelIndex<'a> {
    /// The anomaly ratios of one metric, with their positions in the family.
    pub(super) fn ratios_of(
        &mut self,
        ratios: &'a Family,
        metric: &str,
    ) -> Vec<(usize, &'a Sample)> {
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
    pub(super) fn value(
        &mut self,
        family: &'a Family,
        position: usize,
        labels: &Arc<Labels>,
    ) -> Option<f64> {
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
