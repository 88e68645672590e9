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
//!
//! - `config`: the `baselines:` section.
//! - `input`: a tick's raw reading (gauge, counter, histogram) becomes the
//!   value tracked.
//! - `tracker`: the tracked series and their update at every tick.
//! - `export`: the gauges and label sets they are exported with.
//! - `state`: one series' fixed-size state; `snapshot`: saving it.
//! - `warm_start`: seeding series with no saved state from Prometheus.

pub mod config;
pub mod excursion;
pub mod export;
pub mod input;
pub mod likelihood;
pub mod snapshot;
pub mod state;
pub mod tracker;
pub mod warm_start;

pub use config::{Config, HistogramStat, TrackConfig};
pub use export::{ExportedLabels, duration_label};
pub use input::{
    CounterReading, HistogramReading, Previous, counter_rate, histogram_quantile, histogram_value,
};
pub use state::{Score, SeriesState, Settings};
pub use tracker::{Tracked, Tracker};
