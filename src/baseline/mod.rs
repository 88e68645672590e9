//! Baselines: for every series a `baselines.track` selector picks, fixed-size
//! state (see `state`) updated once per tick, and the gauges that compare the
//! current value with it. Counters are tracked as per-second rates.
//!
//! Exported, with the source series' labels plus `metric` (its name):
//! `outrider_baseline`, `outrider_baseline_stddev`, `outrider_baseline_upper`,
//! `outrider_baseline_lower`, `outrider_anomaly_ratio`, `outrider_anomaly_zscore`
//! and `outrider_window_{min,max,avg,count}{window}`; and
//! `outrider_baseline_series`, `outrider_baseline_series_refused_total`.

pub mod snapshot;
pub mod state;

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::metric::{Family, Labels, MetricType};
use crate::selector::Selector;
pub use state::{SeriesState, Settings};

/// The `baselines:` section.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Half-life of the EWMA mean and variance.
    #[serde(with = "humantime_serde")]
    pub half_life: Duration,
    /// Rolling windows for min/max/avg/count.
    #[serde(deserialize_with = "durations")]
    pub windows: Vec<Duration>,
    /// Samples before a baseline is trusted; until then no ratio is exported.
    pub min_samples: u32,
    /// Samples are clipped to mean ± clip_sigma·σ before they update the state.
    pub clip_sigma: f64,
    /// The band is baseline ± band_sigma·σ.
    pub band_sigma: f64,
    /// The most series tracked at once; new series beyond it are refused.
    pub max_series: usize,
    /// A series not seen for this long is dropped from state.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// How often state is written to `<storage.path>/baselines.snapshot`.
    #[serde(with = "humantime_serde")]
    pub snapshot_interval: Duration,
    /// Which series to track.
    pub track: Vec<TrackConfig>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrackConfig {
    /// A PromQL series selector, such as `node_load1` or
    /// `node_network_receive_bytes_total{device=~"eth.*"}`.
    pub selector: Selector,
    /// Keep an hour-of-week profile (168 buckets) for these series.
    #[serde(default)]
    pub seasonal: bool,
    /// Below this baseline and value (per second, for counters) no anomaly is
    /// claimed.
    #[serde(default)]
    pub volume_floor: f64,
    /// Overrides the section's half-life for these series.
    #[serde(default, with = "humantime_serde")]
    pub half_life: Option<Duration>,
}

fn track(selector: &str, volume_floor: f64) -> TrackConfig {
    TrackConfig {
        selector: Selector::parse(selector).expect("built-in selectors are valid"),
        seasonal: false,
        volume_floor,
        half_life: None,
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            half_life: Duration::from_secs(3600),
            windows: vec![
                Duration::from_secs(300),
                Duration::from_secs(3600),
                Duration::from_secs(86400),
            ],
            min_samples: 20,
            clip_sigma: 3.0,
            band_sigma: 3.0,
            max_series: 10_000,
            idle_timeout: Duration::from_secs(3600),
            snapshot_interval: Duration::from_secs(300),
            // Host CPU, memory, disk and network throughput, so a plain
            // `outrider run` exports baselines.
            track: vec![
                track(
                    r#"node_cpu_seconds_total{mode=~"user|system|iowait|steal"}"#,
                    0.01,
                ),
                track("node_memory_MemAvailable_bytes", 0.0),
                track("node_load1", 0.0),
                track("node_disk_read_bytes_total", 4096.0),
                track("node_disk_written_bytes_total", 4096.0),
                track("node_network_receive_bytes_total", 1024.0),
                track("node_network_transmit_bytes_total", 1024.0),
            ],
        }
    }
}

impl Config {
    pub fn validate(&self) -> Result<(), String> {
        if self.half_life.is_zero()
            || self
                .track
                .iter()
                .any(|t| t.half_life.is_some_and(|h| h.is_zero()))
        {
            return Err("baselines: half_life must be more than 0s".into());
        }
        if self.windows.iter().any(|w| w.is_zero()) {
            return Err("baselines: every window must be more than 0s".into());
        }
        let positive = |x: f64| x > 0.0; // false for NaN too
        if !positive(self.clip_sigma) || !positive(self.band_sigma) {
            return Err("baselines: clip_sigma and band_sigma must be more than 0".into());
        }
        if self.snapshot_interval.is_zero() {
            return Err("baselines: snapshot_interval must be more than 0s".into());
        }
        Ok(())
    }

    fn settings(&self, track: &TrackConfig) -> Settings {
        Settings {
            half_life_seconds: track.half_life.unwrap_or(self.half_life).as_secs_f64(),
            windows_seconds: self.windows.iter().map(Duration::as_secs_f64).collect(),
            seasonal: track.seasonal,
            min_samples: self.min_samples,
            clip_sigma: self.clip_sigma,
            band_sigma: self.band_sigma,
            volume_floor: track.volume_floor,
            ..Settings::default()
        }
    }
}

fn durations<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<Duration>, D::Error> {
    let raw: Vec<humantime_serde::Serde<Duration>> = Vec::deserialize(deserializer)?;
    Ok(raw
        .into_iter()
        .map(humantime_serde::Serde::into_inner)
        .collect())
}

/// A counter's previous reading, to turn it into a rate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CounterReading {
    pub value: f64,
    pub time: f64,
}

/// One tracked series.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tracked {
    pub name: String,
    pub labels: Vec<(String, String)>,
    /// Which `track` entry picked it.
    pub track: usize,
    pub counter: Option<CounterReading>,
    pub state: SeriesState,
    pub last_seen: f64,
}

/// The per-second rate between two counter readings; a drop is a reset, so
/// the new value is the increase since it (as Prometheus' rate() assumes).
pub fn counter_rate(previous: CounterReading, value: f64, now: f64) -> Option<f64> {
    let elapsed = now - previous.time;
    // Also refuses NaN and time going backwards.
    if elapsed.is_nan() || elapsed <= 0.0 {
        return None;
    }
    let increase = if value >= previous.value {
        value - previous.value
    } else {
        value
    };
    Some(increase / elapsed).filter(|r| r.is_finite())
}

pub struct Tracker {
    config: Config,
    settings: Vec<Settings>,
    window_labels: Vec<String>,
    series: HashMap<String, Tracked>,
    refused_total: u64,
}

fn series_key(name: &str, labels: &Labels) -> String {
    let mut key = String::with_capacity(64);
    key.push_str(name);
    for (label, value) in labels {
        key.push('\u{0}');
        key.push_str(label);
        key.push('=');
        key.push_str(value);
    }
    key
}

struct Output {
    baseline: Family,
    stddev: Family,
    upper: Family,
    lower: Family,
    ratio: Family,
    zscore: Family,
    window_min: Family,
    window_max: Family,
    window_avg: Family,
    window_samples: Family,
}

impl Output {
    fn new() -> Self {
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

    fn into_families(self) -> [Family; 10] {
        [
            self.baseline,
            self.stddev,
            self.upper,
            self.lower,
            self.ratio,
            self.zscore,
            self.window_min,
            self.window_max,
            self.window_avg,
            self.window_samples,
        ]
    }
}

fn push(family: &mut Family, labels: &Labels, value: f64) {
    family.samples.push(crate::metric::Sample {
        labels: labels.clone(),
        value,
    });
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
            refused_total: 0,
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
        for tracked in restored {
            let fits = self
                .config
                .track
                .get(tracked.track)
                .zip(self.settings.get(tracked.track))
                .is_some_and(|(track, settings)| {
                    track.selector.matches_name(&tracked.name) && tracked.state.fits(settings)
                });
            if fits && self.series.len() < self.config.max_series {
                let labels: Labels = tracked
                    .labels
                    .iter()
                    .map(|(n, v)| (Cow::Owned(n.clone()), v.clone()))
                    .collect();
                self.series
                    .insert(series_key(&tracked.name, &labels), tracked);
                kept += 1;
            }
        }
        kept
    }

    /// Updates every tracked series from this tick's families and returns
    /// the baseline families. `now` is the tick's time in seconds since the
    /// epoch.
    pub fn observe(&mut self, families: &[Family], now: f64) -> Vec<Family> {
        let mut out = Output::new();
        for family in families {
            for (index, track) in self.config.track.iter().enumerate() {
                if !track.selector.matches_name(&family.name) {
                    continue;
                }
                let is_counter = family.kind == MetricType::Counter;
                for sample in family
                    .samples
                    .iter()
                    .filter(|s| track.selector.matches_labels(&s.labels))
                {
                    let key = series_key(&family.name, &sample.labels);
                    let settings = &self.settings[index];
                    let tracked = match self.series.get_mut(&key) {
                        Some(tracked) => tracked,
                        None => {
                            if self.series.len() >= self.config.max_series {
                                self.refused_total += 1;
                                continue;
                            }
                            self.series.entry(key).or_insert_with(|| Tracked {
                                name: family.name.to_string(),
                                labels: sample
                                    .labels
                                    .iter()
                                    .map(|(n, v)| (n.to_string(), v.clone()))
                                    .collect(),
                                track: index,
                                counter: None,
                                state: SeriesState::new(settings),
                                last_seen: now,
                            })
                        }
                    };
                    tracked.last_seen = now;
                    let value = if is_counter {
                        let previous = tracked.counter.replace(CounterReading {
                            value: sample.value,
                            time: now,
                        });
                        match previous.and_then(|p| counter_rate(p, sample.value, now)) {
                            Some(rate) => rate,
                            None => continue,
                        }
                    } else {
                        sample.value
                    };
                    if !value.is_finite() {
                        continue;
                    }
                    let score = tracked.state.score(value, now, settings);
                    tracked.state.update(value, now, settings);
                    let mut labels = export_labels(&sample.labels, &family.name);
                    if let Some(score) = score {
                        push(&mut out.baseline, &labels, score.baseline);
                        push(&mut out.stddev, &labels, score.stddev);
                        push(&mut out.upper, &labels, score.upper);
                        push(&mut out.lower, &labels, score.lower);
                        if let Some(ratio) = score.ratio {
                            push(&mut out.ratio, &labels, ratio);
                        }
                        if let Some(z) = score.zscore {
                            push(&mut out.zscore, &labels, z);
                        }
                    }
                    labels.push((Cow::Borrowed("window"), String::new()));
                    let stats = tracked.state.window_stats(now, settings);
                    for (window, stats) in self.window_labels.iter().zip(stats) {
                        let Some(stats) = stats else { continue };
                        labels
                            .last_mut()
                            .expect("window label")
                            .1
                            .clone_from(window);
                        push(&mut out.window_min, &labels, stats.min);
                        push(&mut out.window_max, &labels, stats.max);
                        push(&mut out.window_avg, &labels, stats.avg);
                        push(&mut out.window_samples, &labels, f64::from(stats.count));
                    }
                }
            }
        }
        let idle = self.config.idle_timeout.as_secs_f64();
        self.series.retain(|_, t| now - t.last_seen <= idle);
        let mut families: Vec<Family> = out.into_families().into_iter().collect();
        families.push(
            Family::gauge(
                "outrider_baseline_series",
                "Series whose baselines are tracked.",
            )
            .single(self.series.len() as f64),
        );
        families.push(
            Family::counter(
                "outrider_baseline_series_refused_total",
                "Series not tracked because baselines.max_series was reached.",
            )
            .single(self.refused_total as f64),
        );
        families
    }
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
fn export_labels(labels: &Labels, name: &str) -> Labels {
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn the_section_reads_from_yaml_and_checks_values() {
        let config = crate::config::Config::from_yaml(
            "baselines:\n  windows: [1m, 10m]\n  track:\n    - selector: 'up{job=~\"a|b\"}'\n      seasonal: true\n      half_life: 30m\n",
            "t",
        )
        .unwrap();
        let b = &config.baselines;
        assert_eq!(
            b.windows,
            [Duration::from_secs(60), Duration::from_secs(600)]
        );
        assert!(b.track[0].seasonal);
        assert_eq!(b.track[0].half_life, Some(Duration::from_secs(1800)));
        let bad =
            crate::config::Config::from_yaml("baselines:\n  track:\n    - selector: 'up{'\n", "t");
        assert!(bad.unwrap_err().to_string().contains("selector"));
        let zero = crate::config::Config::from_yaml("baselines: {half_life: 0s}", "t").unwrap();
        assert!(zero.validate().is_err());
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
    fn the_cap_refuses_new_series_and_idle_ones_are_dropped() {
        let mut c = config("g");
        c.max_series = 2;
        c.idle_timeout = Duration::from_secs(60);
        let mut tracker = Tracker::new(c);
        let mut g = Family::gauge("g", "G.");
        for i in 0..3 {
            g.push([("i", i.to_string())], 1.0);
        }
        let out = tracker.observe(&[g], 0.0);
        assert_eq!(tracker.len(), 2);
        assert_eq!(
            find(&out, "outrider_baseline_series_refused_total").samples[0].value,
            1.0
        );
        tracker.observe(&[], 61.0);
        assert!(tracker.is_empty());
    }
}
