//! `node_softnet_*_total{cpu}` from /proc/net/softnet_stat: packets each CPU
//! processed, dropped for a full backlog, and the times it ran out of quota.

use std::path::PathBuf;

use super::procfile::{self, parse_error};
use super::{CollectError, Collector};
use crate::metric::Family;
use crate::paths::HostPaths;

/// (processed, dropped, times_squeezed) per CPU, in line order (hexadecimal
/// columns 1 to 3).
pub fn parse_softnet(text: &str) -> Result<Vec<[u64; 3]>, String> {
    let mut cpus = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut fields = line.split_ascii_whitespace();
        let mut stats = [0u64; 3];
        for stat in &mut stats {
            let field = fields
                .next()
                .ok_or_else(|| format!("fewer than 3 columns in {line:?}"))?;
            *stat = u64::from_str_radix(field, 16)
                .map_err(|_| format!("invalid hexadecimal {field:?}"))?;
        }
        cpus.push(stats);
    }
    Ok(cpus)
}

pub struct SoftnetCollector {
    path: PathBuf,
    buffer: String,
}

impl SoftnetCollector {
    pub fn new(paths: &HostPaths) -> Self {
        SoftnetCollector {
            path: paths.proc("net/softnet_stat"),
            buffer: String::new(),
        }
    }
}

impl Collector for SoftnetCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        if !procfile::read_into(&self.path, &mut self.buffer)? {
            return Err(CollectError::NoData("no /proc/net/softnet_stat".into()));
        }
        let cpus = parse_softnet(&self.buffer).map_err(|r| parse_error(&self.path, r))?;
        let mut processed = Family::counter(
            "node_softnet_processed_total",
            "Number of processed packets",
        );
        let mut dropped =
            Family::counter("node_softnet_dropped_total", "Number of dropped packets");
        let mut squeezed = Family::counter(
            "node_softnet_times_squeezed_total",
            "Number of times processing packets ran out of quota",
        );
        for (cpu, [p, d, s]) in cpus.into_iter().enumerate() {
            let cpu = cpu.to_string();
            processed.push([("cpu", cpu.clone())], p as f64);
            dropped.push([("cpu", cpu.clone())], d as f64);
            squeezed.push([("cpu", cpu)], s as f64);
        }
        out.extend([processed, dropped, squeezed]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_counters_per_cpu() {
        let text = std::fs::read_to_string("tests/fixtures/proc/net/softnet_stat").unwrap();
        let cpus = parse_softnet(&text).unwrap();
        assert_eq!(cpus, vec![[0x40366a, 0, 0], [0x386a88, 0, 3]]);
        assert!(parse_softnet("0001 0002\n").is_err());
        assert!(parse_softnet("zz 0 0\n").is_err());
    }
}
