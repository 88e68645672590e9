//! The table of tracked series: which track entry picks each series, its
//! state, and one update per tick that returns the baseline families.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::config::{Config, HistogramStat};
use super::export::{ExportedLabels, Output, duration_label, push};
use super::input::{Input, Previous, histogram_readings};
use super::state::{Score, SeriesState, Settings};
use crate::metric::{Family, Labels};

/// One tracked series.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tracked {
    pub name: String,
    pub labels: Vec<(String, String)>,
    /// Which `track` entry picked it.
    pub track: usize,
    pub previous: Option<Previous>,
    pub state: SeriesState,
    pub last_seen: f64,
    /// The label sets this series is exported with, built on first export
    /// and shared by all its samples; rebuilt after a restore.
    #[serde(skip)]
    pub exported: Option<ExportedLabels>,
}

pub struct Tracker {
    config: Config,
    settings: Vec<Settings>,
    window_labels: Vec<String>,
    series: HashMap<String, Tracked>,
    /// Distinct series refused at the last tick. A gauge of the last tick,
    /// not a count of every refused series ever: remembering the series
    /// refused would take the memory `max_series` exists to bound.
    refused: usize,
    /// Hashes the refused series' keys so a series two selectors pick is
    /// counted once in a tick.
    hasher: RandomState,
}

/// Writes the series' identity into `key` (a buffer reused from series to
/// series, so a lookup allocates nothing).
fn series_key(key: &mut String, name: &str, labels: &Labels) {
    key.clear();
    key.push_str(name);
    for (label, value) in labels {
        key.push('\u{0}');
        key.push_str(label);
        key.push('=');
        key.push_str(value);
    }
}

impl Tracker {
    pub fn new(config: Config) -> Self {
        let settings = config.track.iter().map(|t| config.settings(t)).collect();
        let window_labels = config.windows.iter().map(|w| duration_label(*w)).collect();
        Tracker {
            config,
            settings,
            window_labels,
            series: HashMap::new(),
            refused: 0,
            hasher: RandomState::new(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    pub fn series(&self) -> impl Iterator<Item = &Tracked> {
        self.series.values()
    }

    /// Adopts restored series whose selector and shape still fit the config;
    /// returns how many were kept.
    pub fn restore(&mut self, restored: Vec<Tracked>) -> usize {
        let mut kept = 0;
        for mut tracked in restored {
            let labels: Labels = tracked
                .labels
                .iter()
                .map(|(n, v)| (Cow::Owned(n.clone()), v.clone()))
                .collect();
            // The track that picks the series now (the list may have changed
            // since the snapshot or before a reload).
            let Some(index) = self.config.track.iter().position(|t| {
                t.selector.matches_name(&tracked.name) && t.selector.matches_labels(&labels)
            }) else {
                continue;
            };
            if !tracked.state.fits(&self.settings[index])
                || self.series.len() >= self.config.max_series
            {
                continue;
            }
            tracked.track = index;
            tracked.exported = None;
            let mut key = String::new();
            series_key(&mut key, &tracked.name, &labels);
            self.series.insert(key, tracked);
            kept += 1;
        }
        kept
    }

    /// Puts `tracked` in place of the tracked series of the same name and
    /// labels (a warm start's seeded state for a cold one); false when that
    /// series is no longer tracked or its state does not fit.
    pub fn replace(&mut self, mut tracked: Tracked) -> bool {
        let labels: Labels = tracked
            .labels
            .iter()
            .map(|(n, v)| (Cow::Owned(n.clone()), v.clone()))
            .collect();
        let mut key = String::new();
        series_key(&mut key, &tracked.name, &labels);
        let Some(current) = self.series.get_mut(&key) else {
            return false;
        };
        if current.track != tracked.track || !tracked.state.fits(&self.settings[current.track]) {
            return false;
        }
        tracked.exported = None;
        *current = tracked;
        true
    }

    /// The same baselines under a new config: series that are still
    /// tracked, with a state of the same shape, keep it.
    pub fn reconfigure(self, config: Config) -> Tracker {
        let mut tracker = Tracker::new(config);
        // Carried over so a reload does not warn again about a limit that
        // was already reported.
        tracker.refused = self.refused;
        tracker.restore(self.series.into_values().collect());
        tracker
    }

    /// Updates every tracked series from this tick's families and returns
    /// the baseline families. `now` is the tick's time in seconds since the
    /// epoch.
    pub fn observe(&mut self, families: &[Family], now: f64) -> Vec<Family> {
        self.observe_with(families, now, &mut |_, _, _| {}, true)
    }

    /// `observe`, telling `scored` each tracked source sample's labels (the
    /// very `Labels` of the family's sample), the value tracked and its
    /// score, as exported; the backtest reads its results through it.
    /// Without `export`, the per-series gauges are not built (a backtest
    /// without rules reads none of them, and building them is most of a
    /// tick's cost).
    pub fn observe_with(
        &mut self,
        families: &[Family],
        now: f64,
        scored: &mut dyn FnMut(&Labels, f64, Option<&Score>),
        export: bool,
    ) -> Vec<Family> {
        let mut out = Output::new();
        let mut key = String::with_capacity(128);
        let mut refused = HashSet::new();
        for (index, track) in self.config.track.iter().enumerate() {
            let mut recorder = Recorder {
                series: &mut self.series,
                key: &mut key,
                refused: &mut refused,
                hasher: &self.hasher,
                max_series: self.config.max_series,
                idle: self.config.idle_timeout.as_secs_f64(),
                settings: &self.settings[index],
                window_labels: &self.window_labels,
                track: index,
                now,
                out: &mut out,
                scored: &mut *scored,
                export,
            };
            if let (Some(stat), Some(base)) = (track.histogram, &track.selector.metric) {
                for (mut labels, reading) in histogram_readings(families, base) {
                    if track.selector.matches_labels(&labels) {
                        // A quantile is told apart from the mean (and from
                        // other quantiles) as summaries do it.
                        if let HistogramStat::Quantile(q) = stat {
                            labels.push((Cow::Borrowed("quantile"), q.to_string()));
                        }
                        recorder.record(base, &labels, Input::Histogram(reading, stat));
                    }
                }
                continue;
            }
            for family in families
                .iter()
                .filter(|f| track.selector.matches_name(&f.name))
            {
                for sample in family
                    .samples
                    .iter()
                    .filter(|s| track.selector.matches_labels(&s.labels))
                {
                    let input = if family.kind.is_cumulative(&family.name) {
                        Input::Counter(sample.value, family.read_at.unwrap_or(now))
                    } else {
                        Input::Gauge(sample.value)
                    };
                    recorder.record(&family.name, &sample.labels, input);
                }
            }
        }
        let idle = self.config.idle_timeout.as_secs_f64();
        self.series.retain(|_, t| now - t.last_seen <= idle);
        self.report_refused(refused.len());
        let mut families: Vec<Family> = out.into_families().into_iter().collect();
        families.push(
            Family::gauge(
                "outrider_baseline_series",
                "Series whose baselines are tracked.",
            )
            .single(self.series.len() as f64),
        );
        families.push(
            Family::gauge(
                "outrider_baseline_series_refused",
                "Series not tracked at the last tick because baselines.max_series was reached.",
            )
            .single(self.refused as f64),
        );
        families
    }

    /// Logs once when series start being refused, and once when none are
    /// any more, rather than at every tick in between.
    fn report_refused(&mut self, refused: usize) {
        let max_series = self.config.max_series;
        if refused > 0 && self.refused == 0 {
            warn!(
                limit = "baselines.max_series",
                max_series,
                refused,
                "baseline series limit reached: new series get no baseline until tracked ones go idle or the limit is raised"
            );
        } else if refused == 0 && self.refused > 0 {
            info!(
                limit = "baselines.max_series",
                max_series, "no series refused a baseline any more"
            );
        }
        self.refused = refused;
    }
}

/// What recording one series needs, borrowed apart from the config so the
/// selectors can be read while the series table is written.
struct Recorder<'a> {
    series: &'a mut HashMap<String, Tracked>,
    key: &'a mut String,
    refused: &'a mut HashSet<u64>,
    hasher: &'a RandomState,
    max_series: usize,
    idle: f64,
    settings: &'a Settings,
    window_labels: &'a [String],
    track: usize,
    now: f64,
    out: &'a mut Output,
    scored: &'a mut dyn FnMut(&Labels, f64, Option<&Score>),
    export: bool,
}

impl Recorder<'_> {
    /// Scores the series' value against its baseline, updates the baseline
    /// and adds the series' gauges to the output.
    fn record(&mut self, name: &str, labels: &Labels, input: Input) {
        series_key(self.key, name, labels);
        let now = self.now;
        let fresh = || Tracked {
            name: name.to_owned(),
            labels: labels
                .iter()
                .map(|(n, v)| (n.to_string(), v.clone()))
                .collect(),
            track: self.track,
            previous: None,
            state: SeriesState::new(self.settings),
            last_seen: now,
            exported: None,
        };
        let tracked = match self.series.get_mut(self.key.as_str()) {
            // Selectors may overlap: a series belongs to the track that
            // first picked it, so it is updated once per tick.
            Some(tracked) if tracked.track != self.track => return,
            // Back after longer than the idle timeout: a sidecar ticking
            // through the gap would have dropped it, whether or not a tick
            // came in between (a replay ticks only at samples' times).
            Some(tracked) if now - tracked.last_seen > self.idle => {
                *tracked = fresh();
                tracked
            }
            Some(tracked) => tracked,
            None => {
                if self.series.len() >= self.max_series {
                    self.refused.insert(self.hasher.hash_one(self.key.as_str()));
                    return;
                }
                self.series.entry(self.key.clone()).or_insert_with(fresh)
            }
        };
        tracked.last_seen = now;
        let Some(value) = input.value(&mut tracked.previous).filter(|v| v.is_finite()) else {
            return;
        };
        let score = tracked.state.score(value, now, self.settings);
        tracked.state.update(value, now, self.settings);
        (self.scored)(labels, value, score.as_ref());
        if !self.export {
            return;
        }
        let exported = tracked
            .exported
            .get_or_insert_with(|| ExportedLabels::new(labels, name, self.window_labels));
        let out = &mut *self.out;
        if let Some(score) = score {
            push(&mut out.baseline, &exported.base, score.baseline);
            push(&mut out.stddev, &exported.base, score.stddev);
            push(&mut out.upper, &exported.base, score.upper);
            push(&mut out.lower, &exported.base, score.lower);
            if let Some(ratio) = score.ratio {
                push(&mut out.ratio, &exported.base, ratio);
            }
            if let Some(z) = score.zscore {
                push(&mut out.zscore, &exported.base, z);
            }
            if let Some(anomaly) = score.anomaly {
                push(&mut out.anomaly, &exported.base, anomaly);
            }
        }
        let stats = tracked.state.window_stats(now, self.settings);
        for (labels, stats) in exported.windows.iter().zip(stats) {
            let Some(stats) = stats else { continue };
            push(&mut out.window_min, labels, stats.min);
            push(&mut out.window_max, labels, stats.max);
            push(&mut out.window_avg, labels, stats.avg);
            push(&mut out.window_samples, labels, f64::from(stats.count));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::baseline::config::track;
    use crate::baseline::input::{CounterReading, counter_rate};

    fn config(selector: &str) -> Config {
        Config {
            min_samples: 3,
            track: vec![track(selector, 0.0)],
            ..Config::default()
        }
    }

    fn counter(value: f64) -> Family {
        let mut f = Family::counter("requests_total", "R.");
        f.push([("path", "/"), ("metric", "x")], value);
        f
    }

    fn find<'a>(families: &'a [Family], name: &str) -> &'a Family {
        families.iter().find(|f| f.name == name).unwrap()
    }

    #[test]
    fn counters_are_tracked_as_rates_and_resets_are_handled() {
        assert_eq!(
            counter_rate(
                CounterReading {
                    value: 10.0,
                    time: 0.0
                },
                40.0,
                15.0
            ),
            Some(2.0)
        );
        assert_eq!(
            counter_rate(
                CounterReading {
                    value: 100.0,
                    time: 0.0
                },
                30.0,
                15.0
            ),
            Some(2.0)
        );
        assert_eq!(
            counter_rate(
                CounterReading {
                    value: 1.0,
                    time: 5.0
                },
                2.0,
                5.0
            ),
            None
        );

        let mut tracker = Tracker::new(config("requests_total"));
        let mut out = Vec::new();
        for i in 0..6 {
            out = tracker.observe(
                &[counter(30.0 * f64::from(i))],
                1000.0 + 15.0 * f64::from(i),
            );
        }
        let baseline = find(&out, "outrider_baseline");
        assert_eq!(baseline.samples.len(), 1);
        assert_eq!(baseline.samples[0].value, 2.0);
        let labels = &baseline.samples[0].labels;
        assert!(labels.contains(&(Cow::Borrowed("metric"), "requests_total".to_owned())));
        assert!(labels.contains(&(Cow::Borrowed("exported_metric"), "x".to_owned())));
        assert_eq!(find(&out, "outrider_anomaly_ratio").samples[0].value, 1.0);
        let windows: Vec<&str> = find(&out, "outrider_window_samples")
            .samples
            .iter()
            .map(|s| s.labels.last().unwrap().1.as_str())
            .collect();
        assert_eq!(windows, ["5m", "1h", "1d"]);
        assert_eq!(duration_label(Duration::from_millis(1500)), "1500ms");
        assert_eq!(duration_label(Duration::from_secs(90)), "90s");
    }

    fn histogram(sum: f64, buckets: &[(&'static str, f64)]) -> Vec<Family> {
        let mut bucket = Family::counter("latency_seconds_bucket", "L.");
        for (le, count) in buckets {
            bucket.push([("path", "/"), ("le", *le)], *count);
        }
        let count = buckets.last().unwrap().1;
        let mut s = Family::counter("latency_seconds_sum", "L.");
        s.push([("path", "/")], sum);
        let mut c = Family::counter("latency_seconds_count", "L.");
        c.push([("path", "/")], count);
        vec![bucket, s, c]
    }

    #[test]
    fn histograms_are_tracked_by_their_mean_or_quantile_per_tick() {
        let yaml = "baselines:\n  min_samples: 2\n  track:\n    - selector: latency_seconds\n      histogram: mean\n    - selector: latency_seconds{path=\"/\"}\n      histogram: {quantile: 0.9}\n";
        let config = crate::config::Config::from_yaml(yaml, "t").unwrap();
        config.validate().unwrap();
        let mut tracker = Tracker::new(config.baselines);
        // Each tick adds 10 requests: 9 fast (≤0.1 s), 1 slow (≤1 s), 1.8 s in all.
        let mut out = Vec::new();
        for tick in 0..4 {
            let n = f64::from(tick);
            let families = histogram(
                1.8 * n,
                &[("0.1", 9.0 * n), ("1", 10.0 * n), ("+Inf", 10.0 * n)],
            );
            out = tracker.observe(&families, 1000.0 + 15.0 * n);
        }
        let baselines = &find(&out, "outrider_baseline").samples;
        assert_eq!(baselines.len(), 2, "{baselines:?}");
        let values: Vec<f64> = baselines.iter().map(|s| s.value).collect();
        assert!(
            values.iter().any(|v| (v - 0.18).abs() < 1e-9),
            "mean: {values:?}"
        );
        assert!(
            values.iter().any(|v| (v - 0.1).abs() < 1e-9),
            "p90: {values:?}"
        );
        let labels = &baselines[0].labels;
        assert!(labels.contains(&(Cow::Borrowed("metric"), "latency_seconds".to_owned())));
        assert!(!labels.iter().any(|(n, _)| n == "le"));
    }

    #[test]
    fn reconfiguring_keeps_series_still_tracked() {
        let two = Config {
            track: vec![track("g", 0.0), track("h", 0.0)],
            ..config("g")
        };
        let mut tracker = Tracker::new(two);
        let families = [
            Family::gauge("g", "G.").single(1.0),
            Family::gauge("h", "H.").single(2.0),
        ];
        tracker.observe(&families, 0.0);
        assert_eq!(tracker.len(), 2);
        // `h` is no longer tracked; `g` moves to a new index and keeps its state.
        let tracker = tracker.reconfigure(Config {
            track: vec![track("x", 0.0), track("g", 0.0)],
            ..config("g")
        });
        let kept: Vec<(&str, usize, u32)> = tracker
            .series()
            .map(|t| (t.name.as_str(), t.track, t.state.ewma.count))
            .collect();
        assert_eq!(kept, [("g", 1, 1)]);
    }

    #[test]
    fn nothing_is_claimed_during_warm_up() {
        let mut tracker = Tracker::new(config("requests_total"));
        let out = tracker.observe(&[counter(1.0)], 1000.0);
        assert!(find(&out, "outrider_baseline").samples.is_empty());
        assert!(find(&out, "outrider_anomaly_ratio").samples.is_empty());
        assert_eq!(find(&out, "outrider_baseline_series").samples[0].value, 1.0);
    }

    #[test]
    fn the_score_is_absent_until_the_series_was_seen_a_day() {
        let mut tracker = Tracker::new(config("g"));
        let family = |v: f64| Family::gauge("g", "G.").single(v);
        let mut out = Vec::new();
        let mut now = 0.0;
        // A warm baseline and ratio after a few ticks, no score yet.
        for tick in 0..10 {
            out = tracker.observe(&[family(10.0 + f64::from(tick % 2))], now);
            now += 15.0;
        }
        assert_eq!(find(&out, "outrider_baseline").samples.len(), 1);
        assert_eq!(find(&out, "outrider_anomaly_ratio").samples.len(), 1);
        assert!(find(&out, "outrider_anomaly_score").samples.is_empty());
        // A day later, it is there.
        now += 86400.0;
        for tick in 0..2 {
            out = tracker.observe(&[family(10.0 + f64::from(tick % 2))], now);
            now += 15.0;
        }
        assert_eq!(find(&out, "outrider_anomaly_score").samples.len(), 1);
    }

    /// Log lines written while `f` runs.
    fn logged(f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Capture(Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Capture {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            // Tests on other threads start and drop subscribers of their
            // own; each change recomputes which events any subscriber wants,
            // and one made while none was alive turns this one's off.
            tracing::callsite::rebuild_interest_cache();
            f()
        });
        let bytes = capture.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn refused_series_are_counted_once_per_tick_and_logged_once() {
        let mut c = config("g");
        // Two selectors pick the same series: each is still one series.
        c.track.push(track("g", 0.0));
        c.max_series = 2;
        c.idle_timeout = Duration::from_secs(60);
        let mut tracker = Tracker::new(c);
        let mut g = Family::gauge("g", "G.");
        for i in 0..5 {
            g.push([("i", i.to_string())], 1.0);
        }
        let refused =
            |out: &[Family]| find(out, "outrider_baseline_series_refused").samples[0].value;
        let log = logged(|| {
            for tick in 0..4 {
                let out = tracker.observe(std::slice::from_ref(&g), f64::from(tick) * 15.0);
                assert_eq!(refused(&out), 3.0, "tick {tick}");
            }
        });
        assert_eq!(
            log.matches("baseline series limit reached").count(),
            1,
            "{log}"
        );
        assert!(log.contains("baselines.max_series"), "{log}");
        assert!(log.contains("max_series=2"), "{log}");
        // Fewer series: none refused, and the next time the limit is
        // reached it is reported again.
        let mut few = Family::gauge("g", "G.");
        few.push([("i", "0")], 1.0);
        let log = logged(|| {
            let out = tracker.observe(&[few], 200.0);
            assert_eq!(refused(&out), 0.0);
            let out = tracker.observe(std::slice::from_ref(&g), 215.0);
            assert_eq!(refused(&out), 3.0);
        });
        assert_eq!(
            log.matches("baseline series limit reached").count(),
            1,
            "{log}"
        );
    }

    #[test]
    fn the_cap_refuses_new_series_and_idle_ones_are_dropped() {
        let mut c = config("g");
        c.max_series = 2;
        c.idle_timeout = Duration::from_secs(60);
        let mut tracker = Tracker::new(c);
        let mut g = Family::gauge("g", "G.");
        for i in 0..3 {
            g.push([("i", i.to_string())], 1.0);
        }
        let out = tracker.observe(std::slice::from_ref(&g), 0.0);
        assert_eq!(tracker.len(), 2);
        assert_eq!(
            find(&out, "outrider_baseline_series_refused").samples[0].value,
            1.0
        );
        tracker.observe(&[], 61.0);
        assert!(tracker.is_empty());
    }

    #[test]
    fn by_default_a_series_outlives_an_outage_of_days_and_goes_after_a_week() {
        let mut tracker = Tracker::new(config("g"));
        let mut g = Family::gauge("g", "G.");
        g.push([("i", "0")], 1.0);
        tracker.observe(std::slice::from_ref(&g), 0.0);
        // A target down over a weekend, or a sidecar stopped as long.
        tracker.observe(&[], 3.0 * 86400.0);
        assert_eq!(tracker.len(), 1);
        tracker.observe(&[], 7.0 * 86400.0 + 1.0);
        assert!(tracker.is_empty());
    }
}
