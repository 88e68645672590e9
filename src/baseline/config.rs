//! The `baselines:` section of the config, and the `Settings` each track
//! entry gives its series.

use std::time::Duration;

use serde::Deserialize;

use super::state::Settings;
use crate::selector::Selector;

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
    /// A series not seen for this long is dropped from state: a week by
    /// default, the anomaly score's longest memory, so an outage of hours
    /// or days does not cost a series its baselines.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// How often state is written to `<storage.path>/baselines.snapshot`.
    #[serde(with = "humantime_serde")]
    pub snapshot_interval: Duration,
    /// Which series to track.
    pub track: Vec<TrackConfig>,
    /// Seeds series that have no saved state from Prometheus's history
    /// (see `warm_start`); unset: they start cold.
    pub warm_start: Option<super::warm_start::WarmStartConfig>,
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

pub(super) fn track(selector: &str, volume_floor: f64) -> TrackConfig {
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
            idle_timeout: Duration::from_secs(7 * 86400),
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
            warm_start: None,
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
        if let Some(warm_start) = &self.warm_start {
            warm_start.validate()?;
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

    pub(super) fn settings(&self, track: &TrackConfig) -> Settings {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
