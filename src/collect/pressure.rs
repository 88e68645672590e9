//! `node_pressure_*_seconds_total` from /proc/pressure (pressure stall
//! information): the `some` and `full` totals of cpu, io and memory, as
//! node_exporter 1.5 exports them. A kernel without PSI has no
//! /proc/pressure and gets no series, as with node_exporter.

use std::path::{Path, PathBuf};

use super::procfile::{self, parse_error};
use super::{CollectError, Collector};
use crate::metric::Family;
use crate::paths::HostPaths;

/// The `total=` microseconds of the `some` and `full` lines, in seconds.
#[derive(Debug, Default, PartialEq)]
pub struct Stall {
    pub some: Option<f64>,
    pub full: Option<f64>,
}

pub fn parse_psi(text: &str) -> Result<Stall, String> {
    let mut stall = Stall::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut fields = line.split_ascii_whitespace();
        let kind = fields.next().unwrap_or_default();
        let total = fields
            .find_map(|f| f.strip_prefix("total="))
            .ok_or_else(|| format!("no total in {line:?}"))?;
        let seconds = total
            .parse::<u64>()
            .map_err(|_| format!("invalid total {total:?}"))? as f64
            / 1e6;
        match kind {
            "some" => stall.some = Some(seconds),
            "full" => stall.full = Some(seconds),
            other => return Err(format!("unknown line kind {other:?}")),
        }
    }
    Ok(stall)
}

pub struct PressureCollector {
    cpu: PathBuf,
    io: PathBuf,
    memory: PathBuf,
    buffer: String,
}

impl PressureCollector {
    pub fn new(paths: &HostPaths) -> Self {
        PressureCollector {
            cpu: paths.proc("pressure/cpu"),
            io: paths.proc("pressure/io"),
            memory: paths.proc("pressure/memory"),
            buffer: String::new(),
        }
    }
}

fn read_psi(path: &Path, buffer: &mut String) -> Result<Stall, CollectError> {
    if !procfile::read_into(path, buffer)? {
        return Err(CollectError::NoData(
            "no pressure stall information (Linux 4.20 or later with CONFIG_PSI)".into(),
        ));
    }
    parse_psi(buffer).map_err(|r| parse_error(path, r))
}

fn total(name: &'static str, help: &'static str, value: Option<f64>, out: &mut Vec<Family>) {
    if let Some(value) = value {
        out.push(Family::counter(name, help).single(value));
    }
}

impl Collector for PressureCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let cpu = read_psi(&self.cpu, &mut self.buffer)?;
        let io = read_psi(&self.io, &mut self.buffer)?;
        let memory = read_psi(&self.memory, &mut self.buffer)?;
        total(
            "node_pressure_cpu_waiting_seconds_total",
            "Total time in seconds that processes have waited for CPU time",
            cpu.some,
            out,
        );
        total(
            "node_pressure_io_waiting_seconds_total",
            "Total time in seconds that processes have waited due to IO congestion",
            io.some,
            out,
        );
        total(
            "node_pressure_io_stalled_seconds_total",
            "Total time in seconds no process could make progress due to IO congestion",
            io.full,
            out,
        );
        total(
            "node_pressure_memory_waiting_seconds_total",
            "Total time in seconds that processes have waited for memory",
            memory.some,
            out,
        );
        total(
            "node_pressure_memory_stalled_seconds_total",
            "Total time in seconds no process could make progress due to memory congestion",
            memory.full,
            out,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_in_seconds_and_absent_without_psi() {
        let stall = parse_psi("some avg10=0.00 avg60=0.00 avg300=0.00 total=1500000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=250\n").unwrap();
        assert_eq!(stall.some, Some(1.5));
        assert_eq!(stall.full, Some(0.00025));
        assert!(parse_psi("some avg10=0.00\n").is_err());
        assert!(parse_psi("some total=x\n").is_err());

        let paths = HostPaths {
            procfs: "tests/fixtures/proc".into(),
            ..HostPaths::default()
        };
        let mut out = Vec::new();
        PressureCollector::new(&paths).collect(&mut out).unwrap();
        assert_eq!(out.len(), 5);

        let bare = HostPaths {
            procfs: "tests/fixtures/nowhere".into(),
            ..HostPaths::default()
        };
        let mut out = Vec::new();
        let result = PressureCollector::new(&bare).collect(&mut out);
        assert!(matches!(result, Err(CollectError::NoData(_))));
        assert!(out.is_empty());
    }
}
