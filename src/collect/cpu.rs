//! `node_cpu_seconds_total{cpu,mode}` and `node_cpu_guest_seconds_total` from
//! the `cpuN` lines of /proc/stat.

use std::collections::HashMap;
use std::path::PathBuf;

use super::{CollectError, Collector};
use crate::metric::Family;
use crate::paths::{self, HostPaths};

/// The modes of node_cpu_seconds_total, in /proc/stat column order.
const MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

/// Some kernels report idle and iowait a little lower than before (a known
/// accounting race). Like node_exporter, a drop smaller than this is ignored so
/// the counters stay monotonic; a larger drop (a CPU went offline and came
/// back) is taken as a reset.
const JUMP_BACK_SECONDS: f64 = 3.0;

/// Seconds per mode for one CPU.
#[derive(Clone, Debug, PartialEq)]
pub struct CpuTimes {
    pub cpu: String,
    /// user, nice, system, idle, iowait, irq, softirq, steal.
    pub modes: [f64; 8],
    pub guest: f64,
    pub guest_nice: f64,
}

/// Parses the per-CPU lines of /proc/stat; values are in clock ticks and are
/// divided by `ticks_per_second`.
pub fn parse_cpu_times(stat: &str, ticks_per_second: f64) -> Result<Vec<CpuTimes>, String> {
    let mut cpus = Vec::new();
    for line in stat.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(label) = fields.next() else { continue };
        let Some(id) = label.strip_prefix("cpu") else {
            continue;
        };
        if id.is_empty() {
            continue; // the aggregate line
        }
        if !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("unexpected cpu label {label:?}"));
        }
        let mut values = [0.0; 10];
        let mut count = 0;
        for (slot, field) in values.iter_mut().zip(fields) {
            let ticks: u64 = field
                .parse()
                .map_err(|_| format!("{label}: invalid value {field:?}"))?;
            *slot = ticks as f64 / ticks_per_second;
            count += 1;
        }
        if count < 4 {
            return Err(format!("{label}: expected at least 4 values, got {count}"));
        }
        let mut modes = [0.0; 8];
        modes.copy_from_slice(&values[..8]);
        cpus.push(CpuTimes {
            cpu: id.to_owned(),
            modes,
            guest: values[8],
            guest_nice: values[9],
        });
    }
    Ok(cpus)
}

pub struct CpuCollector {
    stat: PathBuf,
    ticks_per_second: f64,
    last: HashMap<String, [f64; 8]>,
}

impl CpuCollector {
    pub fn new(paths: &HostPaths) -> Self {
        CpuCollector {
            stat: paths.proc("stat"),
            ticks_per_second: rustix::param::clock_ticks_per_second() as f64,
            last: HashMap::new(),
        }
    }

    /// Keeps each mode monotonic across small kernel jump-backs.
    fn smooth(&mut self, cpu: &CpuTimes) -> [f64; 8] {
        let mut modes = cpu.modes;
        if let Some(previous) = self.last.get(&cpu.cpu) {
            for (now, before) in modes.iter_mut().zip(previous) {
                if *now < *before && *before - *now < JUMP_BACK_SECONDS {
                    *now = *before;
                }
            }
        }
        self.last.insert(cpu.cpu.clone(), modes);
        modes
    }
}

impl Collector for CpuCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let text = paths::read(&self.stat)?;
        let cpus = parse_cpu_times(&text, self.ticks_per_second).map_err(|reason| {
            CollectError::Parse {
                path: self.stat.clone(),
                reason,
            }
        })?;
        let mut seconds = Family::counter(
            "node_cpu_seconds_total",
            "Seconds the CPUs spent in each mode.",
        );
        let mut guest = Family::counter(
            "node_cpu_guest_seconds_total",
            "Seconds the CPUs spent in guests (VMs) for each mode.",
        );
        for cpu in &cpus {
            let modes = self.smooth(cpu);
            for (mode, value) in MODES.iter().zip(modes) {
                seconds.push([("cpu", cpu.cpu.as_str()), ("mode", mode)], value);
            }
            guest.push([("cpu", cpu.cpu.as_str()), ("mode", "user")], cpu.guest);
            guest.push(
                [("cpu", cpu.cpu.as_str()), ("mode", "nice")],
                cpu.guest_nice,
            );
        }
        out.push(seconds);
        out.push(guest);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  2000 10 800 50000 300 0 20 5 0 0\n\
cpu0 1000 5 400 25000 150 0 10 3 7 1\n\
cpu1 1000 5 400 25000 150 0 10 2 0 0\n\
intr 1234 0 0\nctxt 5678\nbtime 1700000000\n";

    #[test]
    fn parses_per_cpu_lines_in_seconds() {
        let cpus = parse_cpu_times(STAT, 100.0).unwrap();
        assert_eq!(cpus.len(), 2);
        assert_eq!(cpus[0].cpu, "0");
        assert_eq!(cpus[0].modes, [10.0, 0.05, 4.0, 250.0, 1.5, 0.0, 0.1, 0.03]);
        assert_eq!((cpus[0].guest, cpus[0].guest_nice), (0.07, 0.01));
    }

    #[test]
    fn old_kernels_without_steal_or_guest_parse() {
        let cpus = parse_cpu_times("cpu0 1 2 3 4\n", 100.0).unwrap();
        assert_eq!(cpus[0].modes[3], 0.04);
        assert_eq!(cpus[0].modes[7], 0.0);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse_cpu_times("cpu0 1 x 3 4\n", 100.0).is_err());
        assert!(parse_cpu_times("cpu0 1\n", 100.0).is_err());
        assert!(parse_cpu_times("cpuX 1 2 3 4\n", 100.0).is_err());
    }

    #[test]
    fn small_jump_backs_are_smoothed_large_ones_reset() {
        let mut c = CpuCollector {
            stat: PathBuf::new(),
            ticks_per_second: 100.0,
            last: HashMap::new(),
        };
        let mut t = CpuTimes {
            cpu: "0".into(),
            modes: [100.0; 8],
            guest: 0.0,
            guest_nice: 0.0,
        };
        c.smooth(&t);
        t.modes[3] = 99.0;
        assert_eq!(c.smooth(&t)[3], 100.0);
        t.modes[3] = 10.0;
        assert_eq!(c.smooth(&t)[3], 10.0);
    }
}
