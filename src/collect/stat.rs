//! Kernel activity from /proc/stat: boot time, context switches, forks,
//! interrupts and runnable/blocked processes.

use std::path::PathBuf;

use super::{CollectError, Collector};
use crate::metric::Family;
use crate::paths::{self, HostPaths};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct KernelStats {
    pub boot_time: f64,
    pub context_switches: f64,
    pub forks: f64,
    pub interrupts: f64,
    pub procs_running: f64,
    pub procs_blocked: f64,
}

pub fn parse_stat(stat: &str) -> Result<KernelStats, String> {
    let mut stats = KernelStats::default();
    let mut saw_boot_time = false;
    for line in stat.lines() {
        let mut fields = line.split_ascii_whitespace();
        let (Some(key), Some(value)) = (fields.next(), fields.next()) else {
            continue;
        };
        let slot = match key {
            "btime" => {
                saw_boot_time = true;
                &mut stats.boot_time
            }
            "ctxt" => &mut stats.context_switches,
            "processes" => &mut stats.forks,
            "intr" => &mut stats.interrupts,
            "procs_running" => &mut stats.procs_running,
            "procs_blocked" => &mut stats.procs_blocked,
            _ => continue,
        };
        *slot = value
            .parse::<u64>()
            .map_err(|_| format!("{key}: invalid value {value:?}"))? as f64;
    }
    if !saw_boot_time {
        return Err("no btime line".to_owned());
    }
    Ok(stats)
}

pub struct StatCollector {
    stat: PathBuf,
}

impl StatCollector {
    pub fn new(paths: &HostPaths) -> Self {
        StatCollector {
            stat: paths.proc("stat"),
        }
    }
}

impl Collector for StatCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let text = paths::read(&self.stat)?;
        let s = parse_stat(&text).map_err(|reason| CollectError::Parse {
            path: self.stat.clone(),
            reason,
        })?;
        out.push(
            Family::gauge("node_boot_time_seconds", "Node boot time, in unixtime.")
                .single(s.boot_time),
        );
        out.push(
            Family::counter(
                "node_context_switches_total",
                "Total number of context switches.",
            )
            .single(s.context_switches),
        );
        out.push(Family::counter("node_forks_total", "Total number of forks.").single(s.forks));
        out.push(
            Family::counter("node_intr_total", "Total number of interrupts serviced.")
                .single(s.interrupts),
        );
        out.push(
            Family::gauge(
                "node_procs_running",
                "Number of processes in runnable state.",
            )
            .single(s.procs_running),
        );
        out.push(
            Family::gauge(
                "node_procs_blocked",
                "Number of processes blocked waiting for I/O.",
            )
            .single(s.procs_blocked),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kernel_counters() {
        let s = parse_stat(
            "cpu 1 2 3 4\nintr 1234 0 1\nctxt 5678\nbtime 1700000000\nprocesses 42\nprocs_running 3\nprocs_blocked 1\n",
        )
        .unwrap();
        assert_eq!(
            s,
            KernelStats {
                boot_time: 1_700_000_000.0,
                context_switches: 5678.0,
                forks: 42.0,
                interrupts: 1234.0,
                procs_running: 3.0,
                procs_blocked: 1.0,
            }
        );
    }

    #[test]
    fn missing_or_bad_boot_time_is_an_error() {
        assert!(parse_stat("ctxt 1\n").is_err());
        assert!(parse_stat("btime soon\n").is_err());
    }
}
