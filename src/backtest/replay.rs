//! Replays series through the sidecar's own baselines (`Tracker`) and rules
//! (`Evaluator`), one tick per distinct timestamp, with `now` taken from the
//! data: the same calls the tick loop makes, driven by the data's clock.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::input::Series;
use crate::baseline::{self, Score, TrackConfig, Tracker};
use crate::metric::{Family, Labels, Sample};
use crate::rules::RuleSet;
use crate::rules::eval::{Evaluator, Transition};
use crate::selector::Selector;

/// One replayed sample and what the baselines made of it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub series: usize,
    pub time: f64,
    pub value: f64,
    /// None while the baseline warms up.
    pub score: Option<Score>,
}

/// The baselines section, with every series not picked by one of its
/// `track` entries tracked under the section's own settings. Replayed
/// series are few, so unless the section says otherwise they keep the
/// seasonal profile, which lets the score know a daily peak from an
/// anomaly: the section's default, so an anomaly rule's series that does
/// not say `seasonal:` gets it too, and scores as it does without rules.
pub fn track_everything(mut config: baseline::Config) -> baseline::Config {
    config.seasonal.get_or_insert(true);
    config.track.push(TrackConfig {
        // No matcher at all: every name and label set matches, and no
        // regex runs per series and tick.
        selector: Selector {
            text: "{}".to_owned(),
            metric: None,
            matchers: Vec::new(),
        },
        seasonal: None,
        volume_floor: 0.0,
        half_life: None,
        histogram: None,
    });
    config.max_series = config.max_series.max(1);
    config
}

/// Replays `series` in time order. `on_point` sees every sample once it is
/// scored, `on_transition` every alert state change of `rules`.
pub fn replay(
    series: &[Series],
    baselines: baseline::Config,
    rules: RuleSet,
    on_point: &mut dyn FnMut(Point),
    on_transition: &mut dyn FnMut(Transition),
) {
    let has_rules = rules.groups.iter().any(|g| !g.rules.is_empty());
    let mut tracker = Tracker::new(baselines);
    // Alerts are not sent, so the resend interval does not matter.
    let mut evaluator = has_rules.then(|| Evaluator::new(rules, Duration::from_secs(3600)));

    // One family per metric name, reused tick after tick; each series'
    // label set is built once and shared, and its address tells the
    // tracker's report which series it is about.
    let mut names: Vec<&str> = Vec::new();
    let mut family_of: Vec<usize> = Vec::with_capacity(series.len());
    for s in series {
        let index = match names.iter().position(|n| *n == s.name) {
            Some(i) => i,
            None => {
                names.push(&s.name);
                names.len() - 1
            }
        };
        family_of.push(index);
    }
    let mut families: Vec<Family> = names
        .iter()
        .map(|n| Family::gauge(n.to_string(), "Replayed series."))
        .collect();
    let labels: Vec<Arc<Labels>> = series
        .iter()
        .map(|s| {
            Arc::new(
                s.labels
                    .iter()
                    .map(|(n, v)| (n.clone().into(), v.clone()))
                    .collect(),
            )
        })
        .collect();
    let by_address: HashMap<usize, usize> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (Arc::as_ptr(l) as usize, i))
        .collect();

    let mut cursors = vec![0usize; series.len()];
    let mut due: Vec<usize> = Vec::with_capacity(series.len());
    loop {
        // The next tick: the earliest timestamp any series has left.
        let mut now = f64::INFINITY;
        for (s, &at) in series.iter().zip(&cursors) {
            if let Some(&t) = s.times.get(at) {
                now = now.min(t);
            }
        }
        if now == f64::INFINITY {
            break;
        }
        due.clear();
        for family in &mut families {
            family.samples.clear();
        }
        for (i, s) in series.iter().enumerate() {
            let at = cursors[i];
            if s.times.get(at) == Some(&now) {
                families[family_of[i]].samples.push(Sample {
                    labels: Arc::clone(&labels[i]),
                    value: s.values[at],
                });
                cursors[i] += 1;
                due.push(i);
            }
        }
        let mut report = |l: &Labels, value: f64, score: Option<&Score>| {
            if let Some(&index) = by_address.get(&(l as *const Labels as usize)) {
                on_point(Point {
                    series: index,
                    time: now,
                    value,
                    score: score.copied(),
                });
            }
        };
        let gauges = tracker.observe_with(&families, now, &mut report, has_rules);
        if let Some(evaluator) = &mut evaluator {
            let mut all = gauges;
            let own = all.len();
            all.append(&mut families);
            let outcome = evaluator.evaluate(&all, now);
            families = all.split_off(own);
            for transition in outcome.transitions {
                on_transition(transition);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, points: &[(f64, f64)]) -> Series {
        let mut s = Series::new(name);
        for &(t, v) in points {
            s.times.push(t);
            s.values.push(v);
        }
        s
    }

    fn config() -> baseline::Config {
        track_everything(baseline::Config {
            min_samples: 3,
            track: Vec::new(),
            ..baseline::Config::default()
        })
    }

    #[test]
    fn every_sample_is_reported_in_time_order_with_the_trackers_scores() {
        let a = series("a", &[(10.0, 1.0), (20.0, 1.0), (30.0, 1.0), (40.0, 2.0)]);
        let b = series("b", &[(15.0, 5.0), (30.0, 5.0)]);
        let mut points = Vec::new();
        replay(
            &[a, b],
            config(),
            RuleSet::default(),
            &mut |p| points.push(p),
            &mut |_| {},
        );
        let order: Vec<(usize, f64)> = points.iter().map(|p| (p.series, p.time)).collect();
        assert_eq!(
            order,
            [
                (0, 10.0),
                (1, 15.0),
                (0, 20.0),
                (0, 30.0),
                (1, 30.0),
                (0, 40.0)
            ]
        );
        assert!(points[..5].iter().all(|p| p.score.is_none()));
        let last = points[5].score.unwrap();
        assert_eq!((last.baseline, last.ratio), (1.0, Some(2.0)));
    }

    #[test]
    fn a_series_back_after_the_idle_timeout_starts_afresh_whether_replayed_alone_or_not() {
        let config = || baseline::Config {
            idle_timeout: Duration::from_secs(60),
            ..config()
        };
        // Five samples, 100 s without any, four more.
        let times = (0..5)
            .map(|i| f64::from(i) * 10.0)
            .chain((0..4).map(|i| 140.0 + f64::from(i) * 10.0));
        let gapped: Vec<(f64, f64)> = times.map(|t| (t, 1.0 + t / 1000.0)).collect();
        // Another series sampled all through the gap.
        let steady: Vec<(f64, f64)> = (0..18).map(|i| (f64::from(i) * 10.0, 5.0)).collect();
        let scores_of_gapped = |replayed: &[Series]| {
            let mut scores = Vec::new();
            replay(
                replayed,
                config(),
                RuleSet::default(),
                &mut |p| {
                    if p.series == 0 {
                        scores.push((p.time, p.score));
                    }
                },
                &mut |_| {},
            );
            scores
        };
        let alone = scores_of_gapped(&[series("a", &gapped)]);
        let beside = scores_of_gapped(&[series("a", &gapped), series("b", &steady)]);
        assert_eq!(alone, beside);
        // Warm before the gap, warming up again after it.
        assert!(alone[4].1.is_some());
        assert!(alone[5..8].iter().all(|(_, score)| score.is_none()));
    }

    #[test]
    fn rules_step_with_the_datas_clock() {
        let groups = crate::rules::parse(
            "groups:\n  - name: g\n    rules:\n      - alert: Jump\n        selector: a\n        anomaly: {ratio: {warning: 1.5}}\n        for: 20s\n",
            "t.yml",
        )
        .unwrap();
        let rules = RuleSet::from_groups(groups).unwrap();
        let points: Vec<(f64, f64)> = (0..10)
            .map(|i| {
                (
                    f64::from(i) * 10.0,
                    if (5..8).contains(&i) { 4.0 } else { 1.0 },
                )
            })
            .collect();
        let mut transitions = Vec::new();
        replay(
            &[series("a", &points)],
            config(),
            rules,
            &mut |_| {},
            &mut |t| transitions.push((t.time, t.to)),
        );
        assert_eq!(
            transitions,
            [(50.0, "pending"), (70.0, "firing"), (80.0, "resolved")]
        );
    }
}
