//! Counter rates, as PromQL's `rate()` computes them; baselines and rules
//! both turn counters into rates with this.

use serde::{Deserialize, Serialize};

/// A counter's previous reading, to turn it into a rate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CounterReading {
    pub value: f64,
    pub time: f64,
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
