//! outrider: a monitoring sidecar.
//!
//! Data flows one way, one module per stage:
//! `collect` (sources, on a tick) → `metric` (the samples of one tick) →
//! `baseline` (per-series state and anomaly gauges) → `exposition` (encoded
//! once per tick) → `http` (hands out the prepared bytes).
//! `pipeline` drives the tick; `config` and `cli` set everything up;
//! `selector` is the PromQL series selector the later stages share;
//! `storage` makes and locks the folder that state survives restarts in;
//! `generate` turns the rules into Prometheus, Alertmanager and Grafana files.
#![forbid(unsafe_code)]

pub mod alertmanagers;
pub mod backtest;
pub mod baseline;
pub mod cli;
pub mod collect;
pub mod config;
pub mod events;
pub mod exposition;
pub mod external_labels;
#[doc(hidden)]
pub mod fuzzing;
pub mod generate;
pub mod http;
pub mod logging;
pub mod metric;
pub mod notify;
pub mod paths;
pub mod pipeline;
pub mod push;
pub mod reload;
pub mod rules;
pub mod selector;
pub mod series;
pub mod storage;
pub mod textparse;
pub mod web;

/// The version, revision and compiler this binary was built from.
pub mod build {
    pub const VERSION: &str = env!("CARGO_PKG_VERSION");
    pub const REVISION: &str = env!("OUTRIDER_REVISION");
    pub const RUST_VERSION: &str = env!("OUTRIDER_RUST_VERSION");
}
