//! `node_schedstat_*_total{cpu}` from /proc/schedstat: the time each CPU ran
//! tasks, the time tasks waited for it, and its timeslices. Kernels without
//! CONFIG_SCHEDSTATS have no such file and get no series.

use std::path::PathBuf;

use super::procfile::{self, parse_error};
use super::{CollectError, Collector};
use crate::metric::Family;
use crate::paths::HostPaths;

/// One `cpuN` line: (N, running ns, waiting ns, timeslices).
pub fn parse_schedstat(text: &str) -> Result<Vec<(&str, [u64; 3])>, String> {
    let mut cpus = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let Some(cpu) = fields.first().and_then(|f| f.strip_prefix("cpu")) else {
            continue;
        };
        if fields.len() < 10 {
            return Err(format!("expected 10 columns in {line:?}"));
        }
        let mut stats = [0u64; 3];
        for (stat, field) in stats.iter_mut().zip(&fields[7..10]) {
            *stat = field
                .parse()
                .map_err(|_| format!("invalid number {field:?}"))?;
        }
        cpus.push((cpu, stats));
    }
    Ok(cpus)
}

pub struct SchedstatCollector {
    path: PathBuf,
    buffer: String,
}

impl SchedstatCollector {
    pub fn new(paths: &HostPaths) -> Self {
        SchedstatCollector {
            path: paths.proc("schedstat"),
            buffer: String::new(),
        }
    }
}

impl Collector for SchedstatCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        if !procfile::read_into(&self.path, &mut self.buffer)? {
            return Err(CollectError::NoData("no /proc/schedstat".into()));
        }
        let cpus = parse_schedstat(&self.buffer).map_err(|r| parse_error(&self.path, r))?;
        let mut running = Family::counter(
            "node_schedstat_running_seconds_total",
            "Number of seconds CPU spent running a process.",
        );
        let mut waiting = Family::counter(
            "node_schedstat_waiting_seconds_total",
            "Number of seconds spent by processing waiting for this CPU.",
        );
        let mut timeslices = Family::counter(
            "node_schedstat_timeslices_total",
            "Number of timeslices executed by CPU.",
        );
        for (cpu, [run, wait, slices]) in cpus {
            running.push([("cpu", cpu)], run as f64 / 1e9);
            waiting.push([("cpu", cpu)], wait as f64 / 1e9);
            timeslices.push([("cpu", cpu)], slices as f64);
        }
        out.extend([running, waiting, timeslices]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_cpu_from_a_fixture_tree() {
        let paths = HostPaths {
            procfs: "tests/fixtures/proc".into(),
            ..HostPaths::default()
        };
        let mut out = Vec::new();
        SchedstatCollector::new(&paths).collect(&mut out).unwrap();
        assert_eq!(out[0].samples.len(), 2);
        assert_eq!(out[0].samples[0].value, 2045936778163039.0 / 1e9);
        assert_eq!(out[2].samples[1].value, 4767485307.0);
        assert!(parse_schedstat("cpu0 1 2\n").is_err());
        let bare = HostPaths {
            procfs: "tests/fixtures/nowhere".into(),
            ..HostPaths::default()
        };
        let result = SchedstatCollector::new(&bare).collect(&mut Vec::new());
        assert!(matches!(result, Err(CollectError::NoData(_))));
    }
}
