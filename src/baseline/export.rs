//! The gauges a tracked series is exported as, and their label sets.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use crate::metric::{Family, Labels};

/// A tracked series' exported label sets: its own labels plus `metric`, and
/// the same plus `window` for each window.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportedLabels {
    pub(super) base: Arc<Labels>,
    pub(super) windows: Vec<Arc<Labels>>,
}

impl ExportedLabels {
    pub(super) fn new(labels: &Labels, name: &str, window_labels: &[String]) -> Self {
        let base = export_labels(labels, name);
        let windows = window_labels
            .iter()
            .map(|window| {
                let mut with_window = base.clone();
                with_window.push((Cow::Borrowed("window"), window.clone()));
                Arc::new(with_window)
            })
            .collect();
        ExportedLabels {
            base: Arc::new(base),
            windows,
        }
    }
}

pub(super) struct Output {
    pub(super) baseline: Family,
    pub(super) stddev: Family,
    pub(super) upper: Family,
    pub(super) lower: Family,
    pub(super) ratio: Family,
    pub(super) zscore: Family,
    pub(super) anomaly: Family,
    pub(super) window_min: Family,
    pub(super) window_max: Family,
    pub(super) window_avg: Family,
    pub(super) window_samples: Family,
}

impl Output {
    pub(super) fn new() -> Self {
        Output {
            baseline: Family::gauge(
                "outrider_baseline",
                "Expected value of the series (EWMA, or the hour-of-week profile where learned); per second for counters.",
            ),
            stddev: Family::gauge(
                "outrider_baseline_stddev",
                "Standard deviation of the series around its baseline.",
            ),
            upper: Family::gauge(
                "outrider_baseline_upper",
                "Upper edge of the band: baseline + band_sigma * stddev.",
            ),
            lower: Family::gauge(
                "outrider_baseline_lower",
                "Lower edge of the band: baseline - band_sigma * stddev.",
            ),
            ratio: Family::gauge(
                "outrider_anomaly_ratio",
                "Current value divided by the baseline.",
            ),
            zscore: Family::gauge(
                "outrider_anomaly_zscore",
                "Standard deviations between the current value and the baseline.",
            ),
            anomaly: Family::gauge(
                "outrider_anomaly_score",
                "How anomalous the recent values are, 0 (as expected) to 1 (certainly): how improbable their distance from the baseline is for this series; 0.5 fires, then 0 for a day. Absent for a series' first day.",
            ),
            window_min: Family::gauge(
                "outrider_window_min",
                "Minimum of the series over the rolling window.",
            ),
            window_max: Family::gauge(
                "outrider_window_max",
                "Maximum of the series over the rolling window.",
            ),
            window_avg: Family::gauge(
                "outrider_window_avg",
                "Average of the series over the rolling window.",
            ),
            window_samples: Family::gauge(
                "outrider_window_samples",
                "Samples of the series in the rolling window (not `_count`: that suffix belongs to histograms and summaries).",
            ),
        }
    }

    pub(super) fn into_families(self) -> [Family; 11] {
        [
            self.baseline,
            self.stddev,
            self.upper,
            self.lower,
            self.ratio,
            self.zscore,
            self.anomaly,
            self.window_min,
            self.window_max,
            self.window_avg,
            self.window_samples,
        ]
    }
}

pub(super) fn push(family: &mut Family, labels: &Arc<Labels>, value: f64) {
    family.samples.push(crate::metric::Sample {
        labels: Arc::clone(labels),
        value,
    });
}

/// A duration in PromQL's style, in its largest exact unit: 5m, 1h, 1d.
pub fn duration_label(duration: Duration) -> String {
    let ms = duration.as_millis();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// The source series' labels plus `metric`; a source label already named
/// `metric` becomes `exported_metric`, as Prometheus renames clashes.
pub(super) fn export_labels(labels: &Labels, name: &str) -> Labels {
    let mut out: Labels = labels
        .iter()
        .map(|(n, v)| {
            if n == "metric" {
                (Cow::Borrowed("exported_metric"), v.clone())
            } else {
                (n.clone(), v.clone())
            }
        })
        .collect();
    out.push((Cow::Borrowed("metric"), name.to_owned()));
    out
}
