//! What holds a rule's condition this tick, by kind of rule: thresholds,
//! anomalies and absent series (SLOs are in `slo`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::index::LabelIndex;
use super::trend::Trend;
use super::{AlertKey, Evaluated, Evaluator, Holding, Severity};
use crate::metric::{Family, Labels};
use crate::model::rate::{CounterReading, counter_rate};
use crate::rules::format::{Anomaly, Direction, Levels, Threshold};
use crate::rules::{Kind, Rule};

/// The level a value reaches, given its direction.
pub(super) fn level(value: f64, levels: &Levels, above: bool) -> Option<Severity> {
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

/// The type's name, as the exposition's `# TYPE` line gives it.
pub(super) fn kind_name(kind: crate::metric::MetricType) -> &'static str {
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
pub(super) fn series_text(name: &str, labels: &Labels) -> String {
    let pairs: Vec<String> = labels.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{name}{{{}}}", pairs.join(","))
}

/// Whether a rate or an SLO may count `family`: counters, histogram
/// buckets, sums and counts, and untyped series (which may be counters).
pub(super) fn countable(family: &Family) -> bool {
    family.kind == crate::metric::MetricType::Untyped || family.kind.is_cumulative(&family.name)
}

impl Evaluator {
    /// The series of a rule whose condition holds now: labels, severity,
    /// value (and the baseline, for anomalies); the current values of the
    /// others when an alert of the rule may end; and what kept the rule from
    /// judging its series. No data ("no such family yet") is not a failure:
    /// a failure is data the rule cannot use (a divisor missing for a
    /// series, a rate of a gauge, an SLO with errors but no total).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn conditions<'a>(
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
        let failed = match &rule.kind {
            Kind::Threshold(threshold) => self.threshold(
                id,
                rule,
                threshold,
                by_name,
                index,
                now,
                may_end,
                &mut evaluated,
            ),
            Kind::Anomaly(anomaly) => {
                Self::anomaly(rule, anomaly, by_name, index, may_end, &mut evaluated);
                None
            }
            Kind::Absent(after) => {
                self.absent(
                    id,
                    rule,
                    after,
                    by_name,
                    now,
                    started,
                    may_end,
                    &mut evaluated,
                );
                None
            }
            Kind::Slo(slo) => self.slo(id, rule, slo, by_name, now, may_end, &mut evaluated),
        };
        if let Some(error) = failed {
            evaluated.fail(error);
        }
        evaluated
    }

    /// A threshold rule: the watched series (or their rate, ratio or
    /// predicted value) against its levels.
    #[allow(clippy::too_many_arguments)]
    fn threshold<'a>(
        &mut self,
        id: &str,
        rule: &Rule,
        threshold: &Threshold,
        by_name: &HashMap<&str, &'a Family>,
        index: &mut LabelIndex<'a>,
        now: f64,
        may_end: bool,
        evaluated: &mut Evaluated,
    ) -> Option<String> {
        let holding = &mut evaluated.holding;
        let values = &mut evaluated.values;
        let mut failed: Option<String> = None;
        let Some(selector) = &rule.selector else {
            return None;
        };
        let family = selector.metric.as_deref().and_then(|m| by_name.get(m))?;
        if threshold.rate && !countable(family) {
            evaluated.fail(format!(
                "rate: {} is a {}; a rate needs a counter",
                family.name,
                kind_name(family.kind)
            ));
            return None;
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
        failed
    }

    /// An anomaly rule: the baseline gauges of the watched series against
    /// its ratio, z-score and score levels.
    fn anomaly<'a>(
        rule: &Rule,
        anomaly: &Anomaly,
        by_name: &HashMap<&str, &'a Family>,
        index: &mut LabelIndex<'a>,
        may_end: bool,
        evaluated: &mut Evaluated,
    ) {
        let holding = &mut evaluated.holding;
        let values = &mut evaluated.values;
        let Some(selector) = &rule.selector else {
            return;
        };
        let Some(metric) = selector.metric.as_deref() else {
            return;
        };
        let ratios = by_name.get("outrider_anomaly_ratio");
        let zscores = by_name.get("outrider_anomaly_zscore");
        let scores = by_name.get("outrider_anomaly_score");
        let baselines = by_name.get("outrider_baseline");
        // The baseline gauges carry the source labels plus `metric`.
        let Some(ratios) = ratios else {
            return;
        };
        let candidates = index.ratios_of(ratios, metric);
        let mut find = |family: Option<&&'a Family>, position: usize, labels: &Arc<Labels>| {
            family.and_then(|f| index.value(f, position, labels))
        };
        for (position, sample) in candidates
            .into_iter()
            .filter(|(_, s)| selector.matches_labels(&s.labels))
        {
            let ratio = sample.value;
            let z = find(zscores, position, &sample.labels);
            let mut severity = None;
            // As the generated `and outrider_anomaly_score`: no score yet,
            // a baseline too young to page on.
            let young = anomaly.wait_for_score && find(scores, position, &sample.labels).is_none();
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
            if let Some(severity) = severity.filter(|_| !young) {
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

    /// An absent rule: how long no series has matched.
    #[allow(clippy::too_many_arguments)]
    fn absent(
        &mut self,
        id: &str,
        rule: &Rule,
        after: &Duration,
        by_name: &HashMap<&str, &Family>,
        now: f64,
        started: f64,
        may_end: bool,
        evaluated: &mut Evaluated,
    ) {
        let holding = &mut evaluated.holding;
        let values = &mut evaluated.values;
        let Some(selector) = &rule.selector else {
            return;
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
}
