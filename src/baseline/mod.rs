//! Baselines: for every series a `baselines.track` selector picks, fixed-size
//! state (see `state`) updated once per tick, and the gauges that compare the
//! current value with it. Counters are tracked as per-second rates.
//!
//! Exported, with the source series' labels plus `metric` (its name):
//! `outrider_baseline`, `outrider_baseline_stddev`, `outrider_baseline_upper`,
//! `outrider_baseline_lower`, `outrider_anomaly_ratio`, `outrider_anomaly_zscore`,
//! `outrider_anomaly_score` (0..1, see `state`)
//! and `outrider_window_{min,max,avg,count}{window}`; and
//! `outrider_baseline_series`, `outrider_baseline_series_refused`.

pub mod snapshot;
pub mod state;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::metric::{Family, Labels};
use crate::selector::Selector;
pub use state::{Score, SeriesState, Settings};

/// The `baselines:` section.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Half-life of the EWMA mean and variance.
    #[serde(with = "humantime_serde")]
    pub half_life: Duration,
    /// Keep an hour-of-week profile for the series of track entries and
    /// anomaly rules that do not say `seasonal:`. Unset: no in the sidecar
    /// (168 buckets a series); yes in `outrider backtest`, whose series are
    /// few. One default for both, so a series scores the same whether a
    /// rule or the backtest itself tracks it.
    pub seasonal: Option<bool>,
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
    /// Keep an hour-of-week profile (168 buckets) for these series; unset:
    /// the section's `seasonal`.
    #[serde(default)]
    pub seasonal: Option<bool>,
    /// Below this baseline and value (per second, for counters) no anomaly is
    /// claimed.
    #[serde(default)]
    pub volume_floor: f64,
    /// Overrides the section's half-life for these series.
    #[serde(default, with = "humantime_serde")]
    pub half_life: Option<Duration>,
    /// For a histogram (the selector names it without `_bucket`): follow
    /// its per-tick `mean` or `{quantile: 0.99}`.
    #[serde(default)]
    pub histogram: Option<HistogramStat>,
}

/// Which number of a histogram a track follows, computed from the tick's
/// increases as `rate(x_sum)/rate(x_count)` and `histogram_quantile` would.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(try_from = "HistogramStatText")]
pub enum HistogramStat {
    Mean,
    Quantile(f64),
}

/// `mean` or `{quantile: 0.99}` as written in YAML.
#[derive(Deserialize)]
#[serde(untagged)]
enum HistogramStatText {
    Name(String),
    Quantile { quantile: f64 },
}

impl TryFrom<HistogramStatText> for HistogramStat {
    type Error = String;

    fn try_from(text: HistogramStatText) -> Result<Self, String> {
        match text {
            HistogramStatText::Name(name) if name == "mean" => Ok(HistogramStat::Mean),
            HistogramStatText::Name(other) => Err(format!(
                "histogram: expected `mean` or `{{quantile: 0.99}}`, got {other:?}"
            )),
            HistogramStatText::Quantile { quantile } => Ok(HistogramStat::Quantile(quantile)),
        }
    }
}

fn track(selector: &str, volume_floor: f64) -> TrackConfig {
    TrackConfig {
        selector: Selector::parse(selector).expect("built-in selectors are valid"),
        seasonal: None,
        volume_floor,
        half_life: None,
        histogram: None,
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            half_life: Duration::from_secs(3600),
            seasonal: None,
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
        for t in &self.track {
            if t.histogram.is_some() && t.selector.metric.is_none() {
                return Err(format!(
                    "baselines: histogram selector {} must name the histogram",
                    t.selector
                ));
            }
            if let Some(HistogramStat::Quantile(q)) = t.histogram {
                if !(0.0..=1.0).contains(&q) {
                    return Err(format!(
                        "baselines: quantile {q} of {} must be between 0 and 1",
                        t.selector
                    ));
                }
            }
        }
        if self.snapshot_interval.is_zero() {
            return Err("baselines: snapshot_interval must be more than 0s".into());
        }
        Ok(())
    }

    /// Whether a track entry that does not say keeps a seasonal profile:
    /// the section's `seasonal`, else no.
    fn seasonal_by_default(&self) -> bool {
        self.seasonal.unwrap_or(false)
    }

    /// Settles every track entry's `seasonal` as the sidecar would, so a
    /// replay that later changes the section's default (the backtest's)
    /// still scores these entries as the running sidecar does.
    pub fn settle_seasonal(&mut self) {
        let default = self.seasonal_by_default();
        for track in &mut self.track {
            track.seasonal.get_or_insert(default);
        }
    }

    fn settings(&self, track: &TrackConfig) -> Settings {
        Settings {
            half_life_seconds: track.half_life.unwrap_or(self.half_life).as_secs_f64(),
            windows_seconds: self.windows.iter().map(Duration::as_secs_f64).collect(),
            seasonal: track.seasonal.unwrap_or(self.seasonal_by_default()),
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
enum Input {
    Gauge(f64),
    /// A counter's value and when it was read.
    Counter(f64, f64),
    Histogram(HistogramReading, HistogramStat),
}

impl Input {
    /// The value to track, given the last reading; None while there is no
    /// previous reading to take a difference from.
    fn value(self, previous: &mut Option<Previous>) -> Option<f64> {
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
fn histogram_readings(families: &[Family], base: &str) -> Vec<(Labels, HistogramReading)> {
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

/// A tracked series' exported label sets: its own labels plus `metric`, and
/// the same plus `window` for each window.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportedLabels {
    base: Arc<Labels>,
    windows: Vec<Arc<Labels>>,
}

impl ExportedLabels {
    fn new(labels: &Labels, name: &str, window_labels: &[String]) -> Self {
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

struct Output {
    baseline: Family,
    stddev: Family,
    upper: Family,
    lower: Family,
    ratio: Family,
    zscore: Family,
    anomaly: Family,
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
            anomaly: Family::gauge(
                "outrider_anomaly_score",
                "How anomalous the current value is, 0 (as expected) to 1 (certainly): its distance from the baseline weighed by how rarely the series has been that far off.",
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

    fn into_families(self) -> [Family; 11] {
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

fn push(family: &mut Family, labels: &Arc<Labels>, value: f64) {
    family.samples.push(crate::metric::Sample {
        labels: Arc::clone(labels),
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
        let tracked = match self.series.get_mut(self.key.as_str()) {
            // Selectors may overlap: a series belongs to the track that
            // first picked it, so it is updated once per tick.
            Some(tracked) if tracked.track != self.track => return,
            Some(tracked) => tracked,
            None => {
                if self.series.len() >= self.max_series {
                    self.refused.insert(self.hasher.hash_one(self.key.as_str()));
                    return;
                }
                self.series
                    .entry(self.key.clone())
                    .or_insert_with(|| Tracked {
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
                    })
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
            push(&mut out.anomaly, &exported.base, score.anomaly);
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
        assert_eq!(b.track[0].seasonal, Some(true));
        assert_eq!(b.track[0].half_life, Some(Duration::from_secs(1800)));
        let bad =
            crate::config::Config::from_yaml("baselines:\n  track:\n    - selector: 'up{'\n", "t");
        assert!(bad.unwrap_err().to_string().contains("selector"));
        let zero = crate::config::Config::from_yaml("baselines: {half_life: 0s}", "t").unwrap();
        assert!(zero.validate().is_err());
    }

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
        tracing::subscriber::with_default(subscriber, f);
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
}
