//! `node_timex_*`: the kernel clock's discipline state from adjtimex(2), for
//! the clock-skew and not-synchronising alerts. No file under /proc has it,
//! hence the one system call (read-only: `modes` is 0).

use super::{CollectError, Collector};
use crate::metric::Family;

/// What adjtimex(2) returned: its clock state and the `struct timex` fields
/// node_exporter exports.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reading {
    pub state: i32,
    pub offset: i64,
    pub freq: i64,
    pub maxerror: i64,
    pub esterror: i64,
    pub status: i32,
    pub constant: i64,
    pub tick: i64,
    pub ppsfreq: i64,
    pub jitter: i64,
    pub shift: i32,
    pub stabil: i64,
    pub jitcnt: i64,
    pub calcnt: i64,
    pub errcnt: i64,
    pub stbcnt: i64,
    pub tai: i32,
}

/// adjtimex's state when the clock is not synchronised.
const TIME_ERROR: i32 = 5;
/// `status` bit: `offset` and `jitter` are in nanoseconds, not microseconds.
const STA_NANO: i32 = 0x2000;
/// Scaled parts per million (`freq`, `ppsfreq`, `stabil`): ppm << 16.
const PPM16: f64 = 65536.0 * 1e6;
const MICROSECONDS: f64 = 1e6;

#[allow(unsafe_code)]
fn adjtimex() -> Result<Reading, std::io::Error> {
    // SAFETY: an all-zero `struct timex` is valid (plain integers), `modes`
    // 0 asks the kernel only to fill it in, and the pointer lives for the
    // call.
    let mut timex: libc::timex = unsafe { std::mem::zeroed() };
    let state = unsafe { libc::adjtimex(&mut timex) };
    if state < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(Reading {
        state,
        offset: timex.offset as i64,
        freq: timex.freq as i64,
        maxerror: timex.maxerror as i64,
        esterror: timex.esterror as i64,
        status: timex.status,
        constant: timex.constant as i64,
        tick: timex.tick as i64,
        ppsfreq: timex.ppsfreq as i64,
        jitter: timex.jitter as i64,
        shift: timex.shift,
        stabil: timex.stabil as i64,
        jitcnt: timex.jitcnt as i64,
        calcnt: timex.calcnt as i64,
        errcnt: timex.errcnt as i64,
        stbcnt: timex.stbcnt as i64,
        tai: timex.tai,
    })
}

/// The families of one reading, in node_exporter's units.
pub fn families(r: &Reading, out: &mut Vec<Family>) {
    let divisor = if r.status & STA_NANO != 0 {
        1e9
    } else {
        MICROSECONDS
    };
    let gauge = |name: &'static str, help: &'static str, value: f64| {
        Family::gauge(name, help).single(value)
    };
    let counter = |name: &'static str, help: &'static str, value: f64| {
        Family::counter(name, help).single(value)
    };
    out.extend([
        gauge(
            "node_timex_sync_status",
            "Is clock synchronized to a reliable server (1 = yes, 0 = no).",
            if r.state == TIME_ERROR { 0.0 } else { 1.0 },
        ),
        gauge(
            "node_timex_offset_seconds",
            "Time offset in between local system and reference clock.",
            r.offset as f64 / divisor,
        ),
        gauge(
            "node_timex_frequency_adjustment_ratio",
            "Local clock frequency adjustment.",
            1.0 + r.freq as f64 / PPM16,
        ),
        gauge(
            "node_timex_maxerror_seconds",
            "Maximum error in seconds.",
            r.maxerror as f64 / MICROSECONDS,
        ),
        gauge(
            "node_timex_estimated_error_seconds",
            "Estimated error in seconds.",
            r.esterror as f64 / MICROSECONDS,
        ),
        gauge(
            "node_timex_status",
            "Value of the status array bits.",
            f64::from(r.status),
        ),
        gauge(
            "node_timex_loop_time_constant",
            "Phase-locked loop time constant.",
            r.constant as f64,
        ),
        gauge(
            "node_timex_tick_seconds",
            "Seconds between clock ticks.",
            r.tick as f64 / MICROSECONDS,
        ),
        gauge(
            "node_timex_pps_frequency_hertz",
            "Pulse per second frequency.",
            r.ppsfreq as f64 / PPM16,
        ),
        gauge(
            "node_timex_pps_jitter_seconds",
            "Pulse per second jitter.",
            r.jitter as f64 / divisor,
        ),
        gauge(
            "node_timex_pps_shift_seconds",
            "Pulse per second interval duration.",
            f64::from(r.shift),
        ),
        gauge(
            "node_timex_pps_stability_hertz",
            "Pulse per second stability, average of recent frequency changes.",
            r.stabil as f64 / PPM16,
        ),
        counter(
            "node_timex_pps_jitter_total",
            "Pulse per second count of jitter limit exceeded events.",
            r.jitcnt as f64,
        ),
        counter(
            "node_timex_pps_calibration_total",
            "Pulse per second count of calibration intervals.",
            r.calcnt as f64,
        ),
        counter(
            "node_timex_pps_error_total",
            "Pulse per second count of calibration errors.",
            r.errcnt as f64,
        ),
        counter(
            "node_timex_pps_stability_exceeded_total",
            "Pulse per second count of stability limit exceeded events.",
            r.stbcnt as f64,
        ),
        gauge(
            "node_timex_tai_offset_seconds",
            "International Atomic Time (TAI) offset.",
            f64::from(r.tai),
        ),
    ]);
}

pub struct TimexCollector;

impl Collector for TimexCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let reading = adjtimex().map_err(|e| CollectError::Peer {
            peer: "adjtimex".into(),
            reason: e.to_string(),
        })?;
        families(&reading, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(out: &[Family], name: &str) -> f64 {
        out.iter().find(|f| f.name == name).unwrap().samples[0].value
    }

    #[test]
    fn units_follow_node_exporter() {
        let reading = Reading {
            state: TIME_ERROR,
            offset: 1500,
            freq: 65536 * 2,
            maxerror: 16_000_000,
            tick: 10_000,
            jitter: 3000,
            ..Reading::default()
        };
        let mut out = Vec::new();
        families(&reading, &mut out);
        assert_eq!(out.len(), 17);
        assert_eq!(value(&out, "node_timex_sync_status"), 0.0);
        assert_eq!(value(&out, "node_timex_offset_seconds"), 0.0015);
        assert_eq!(
            value(&out, "node_timex_frequency_adjustment_ratio"),
            1.000002
        );
        assert_eq!(value(&out, "node_timex_maxerror_seconds"), 16.0);
        assert_eq!(value(&out, "node_timex_tick_seconds"), 0.01);
        // In nanoseconds when the kernel says so.
        let nano = Reading {
            status: STA_NANO,
            state: 0,
            ..reading
        };
        let mut out = Vec::new();
        families(&nano, &mut out);
        assert_eq!(value(&out, "node_timex_offset_seconds"), 0.0000015);
        assert_eq!(value(&out, "node_timex_sync_status"), 1.0);
    }

    #[test]
    fn reads_this_hosts_clock() {
        let mut out = Vec::new();
        TimexCollector.collect(&mut out).unwrap();
        assert!(value(&out, "node_timex_tick_seconds") > 0.0);
    }
}
