//! What a tracked series' value is at a tick: a gauge as read, a counter as
//! a per-second rate since its last reading, a histogram as the mean or a
//! quantile of the tick's increase.

use serde::{Deserialize, Serialize};

use super::config::HistogramStat;
use crate::metric::{Family, Labels};
pub use crate::model::rate::{CounterReading, counter_rate};

/// A histogram's cumulative reading.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistogramReading {
    pub sum: f64,
    pub count: f64,
    /// Cumulative counts by upper bound, sorted by bound, `+Inf` last.
    pub buckets: Vec<(f64, f64)>,
}

/// The last raw reading of a cumulative series, to turn it into a per-tick
/// value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Previous {
    Counter(CounterReading),
    Histogram(HistogramReading),
}

/// One tick's raw input for a tracked series.
pub(super) enum Input {
    Gauge(f64),
    /// A counter's value and when it was read.
    Counter(f64, f64),
    Histogram(HistogramReading, HistogramStat),
}

impl Input {
    /// The value to track, given the last reading; None while there is no
    /// previous reading to take a difference from.
    pub(super) fn value(self, previous: &mut Option<Previous>) -> Option<f64> {
        match self {
            Input::Gauge(value) => Some(value),
            Input::Counter(value, read_at) => {
                let reading = CounterReading {
                    value,
                    time: read_at,
                };
                match previous.replace(Previous::Counter(reading)) {
                    Some(Previous::Counter(before)) => counter_rate(before, value, read_at),
                    _ => None,
                }
            }
            Input::Histogram(reading, stat) => {
                match previous.replace(Previous::Histogram(reading.clone())) {
                    Some(Previous::Histogram(before)) => histogram_value(&before, &reading, stat),
                    _ => None,
                }
            }
        }
    }
}

/// The histogram's mean or quantile over the increase since `before`; a drop
/// in count is a reset, so the new reading is the increase.
pub fn histogram_value(
    before: &HistogramReading,
    now: &HistogramReading,
    stat: HistogramStat,
) -> Option<f64> {
    let reset = now.count < before.count
        || before.buckets.len() != now.buckets.len()
        || before
            .buckets
            .iter()
            .zip(&now.buckets)
            .any(|(b, n)| b.0 != n.0 || n.1 < b.1);
    let increase = |now: f64, before: f64| if reset { now } else { now - before };
    let value = match stat {
        HistogramStat::Mean => {
            let count = increase(now.count, before.count);
            (count > 0.0).then(|| increase(now.sum, before.sum) / count)?
        }
        HistogramStat::Quantile(q) => {
            let buckets: Vec<(f64, f64)> = now
                .buckets
                .iter()
                .enumerate()
                .map(|(i, &(bound, count))| {
                    (
                        bound,
                        increase(count, before.buckets.get(i).map_or(0.0, |b| b.1)),
                    )
                })
                .collect();
            histogram_quantile(q, &buckets)?
        }
    };
    value.is_finite().then_some(value)
}

/// Prometheus' histogram_quantile over cumulative buckets sorted by bound:
/// linear interpolation inside the bucket where the rank falls.
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let &(last_bound, total) = buckets.last()?;
    if last_bound != f64::INFINITY || total.is_nan() || total <= 0.0 || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let rank = q * total;
    let (mut lower_bound, mut lower_count) = (0.0, 0.0);
    for (i, &(bound, count)) in buckets.iter().enumerate() {
        if count >= rank {
            if bound == f64::INFINITY {
                // The rank is beyond the last finite bucket: its bound is
                // the best estimate there is.
                return (i > 0).then_some(lower_bound);
            }
            if i == 0 && bound <= 0.0 {
                return Some(bound);
            }
            let in_bucket = count - lower_count;
            if in_bucket <= 0.0 {
                return Some(bound);
            }
            return Some(lower_bound + (bound - lower_bound) * (rank - lower_count) / in_bucket);
        }
        lower_bound = bound;
        lower_count = count;
    }
    None
}

/// The histograms named `base` (its `_bucket`, `_sum` and `_count`
/// families), one reading per label set.
pub(super) fn histogram_readings(
    families: &[Family],
    base: &str,
) -> Vec<(Labels, HistogramReading)> {
    let find = |suffix: &str| {
        let name = format!("{base}{suffix}");
        families.iter().find(move |f| f.name == name)
    };
    let Some(buckets) = find("_bucket") else {
        return Vec::new();
    };
    let mut readings: Vec<(Labels, HistogramReading)> = Vec::new();
    for sample in &buckets.samples {
        let Some(bound) = crate::metric::label_value(&sample.labels, "le").and_then(parse_bound)
        else {
            continue;
        };
        let labels: Labels = sample
            .labels
            .iter()
            .filter(|(n, _)| n != "le")
            .cloned()
            .collect();
        let reading = match readings.iter_mut().find(|(l, _)| *l == labels) {
            Some((_, reading)) => reading,
            None => {
                readings.push((
                    labels,
                    HistogramReading {
                        sum: f64::NAN,
                        count: f64::NAN,
                        buckets: Vec::new(),
                    },
                ));
                &mut readings.last_mut().expect("just pushed").1
            }
        };
        reading.buckets.push((bound, sample.value));
    }
    for (suffix, is_sum) in [("_sum", true), ("_count", false)] {
        for sample in find(suffix)
            .map(|f| f.samples.as_slice())
            .unwrap_or_default()
        {
            if let Some((_, reading)) = readings.iter_mut().find(|(l, _)| *l == *sample.labels) {
                if is_sum {
                    reading.sum = sample.value;
                } else {
                    reading.count = sample.value;
                }
            }
        }
    }
    for (_, reading) in &mut readings {
        reading.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        if reading.count.is_nan() {
            reading.count = reading.buckets.last().map_or(0.0, |b| b.1);
        }
        if reading.sum.is_nan() {
            reading.sum = 0.0;
        }
    }
    readings
}

fn parse_bound(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" | "inf" => Some(f64::INFINITY),
        other => other.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantile_interpolates_like_prometheus() {
        let inf = f64::INFINITY;
        let buckets = [(0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (inf, 100.0)];
        assert_eq!(histogram_quantile(0.5, &buckets), Some(0.1));
        assert!((histogram_quantile(0.7, &buckets).unwrap() - 0.3).abs() < 1e-12);
        assert!((histogram_quantile(0.95, &buckets).unwrap() - 0.75).abs() < 1e-12);
        // Beyond the last finite bucket: its bound.
        assert_eq!(
            histogram_quantile(0.99, &[(1.0, 10.0), (inf, 20.0)]),
            Some(1.0)
        );
        assert_eq!(histogram_quantile(0.5, &[(1.0, 0.0), (inf, 0.0)]), None);
        assert_eq!(histogram_quantile(0.5, &[(1.0, 5.0)]), None);
        assert_eq!(histogram_quantile(1.5, &buckets), None);
    }

    #[test]
    fn a_histogram_reset_counts_from_zero() {
        let before = HistogramReading {
            sum: 100.0,
            count: 50.0,
            buckets: vec![(1.0, 50.0), (f64::INFINITY, 50.0)],
        };
        let after = HistogramReading {
            sum: 4.0,
            count: 2.0,
            buckets: vec![(1.0, 2.0), (f64::INFINITY, 2.0)],
        };
        assert_eq!(
            histogram_value(&before, &after, HistogramStat::Mean),
            Some(2.0)
        );
        assert_eq!(histogram_value(&after, &after, HistogramStat::Mean), None);
    }
}
