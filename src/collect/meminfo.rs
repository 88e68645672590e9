//! `node_memory_*` from /proc/meminfo: every key, named as node_exporter names
//! it (`Active(anon)` → `node_memory_Active_anon_bytes`; keys without a unit,
//! such as `HugePages_Total`, get no `_bytes`).

use std::path::PathBuf;

use super::{CollectError, Collector};
use crate::metric::{Family, MetricType};
use crate::paths::{self, HostPaths};

/// Parses /proc/meminfo into (metric name suffix, value in base units).
pub fn parse_meminfo(text: &str) -> Result<Vec<(String, f64)>, String> {
    let mut entries = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(key) = fields.next() else { continue };
        let key = key
            .strip_suffix(':')
            .ok_or_else(|| format!("invalid line {line:?}: key without ':'"))?;
        let value = fields
            .next()
            .ok_or_else(|| format!("invalid line {line:?}: no value"))?;
        let value: f64 = value
            .parse::<u64>()
            .map_err(|_| format!("{key}: invalid value {value:?}"))?
            as f64;
        let mut name = key.replace('(', "_").replace(')', "");
        let value = match (fields.next(), fields.next()) {
            (None, _) => value,
            (Some("kB"), None) => {
                name.push_str("_bytes");
                value * 1024.0
            }
            _ => return Err(format!("invalid line {line:?}")),
        };
        entries.push((name, value));
    }
    Ok(entries)
}

pub struct MeminfoCollector {
    meminfo: PathBuf,
}

impl MeminfoCollector {
    pub fn new(paths: &HostPaths) -> Self {
        MeminfoCollector {
            meminfo: paths.proc("meminfo"),
        }
    }
}

impl Collector for MeminfoCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let text = paths::read(&self.meminfo)?;
        let entries = parse_meminfo(&text).map_err(|reason| CollectError::Parse {
            path: self.meminfo.clone(),
            reason,
        })?;
        for (key, value) in entries {
            let kind = if key.ends_with("_total") {
                MetricType::Counter
            } else {
                MetricType::Gauge
            };
            let help = format!("Memory information field {key}.");
            out.push(Family::new(format!("node_memory_{key}"), help, kind).single(value));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_units_follow_node_exporter() {
        let text = "MemTotal:       16384 kB\nActive(anon):    1024 kB\nHugePages_Total:       4\n";
        assert_eq!(
            parse_meminfo(text).unwrap(),
            vec![
                ("MemTotal_bytes".to_owned(), 16384.0 * 1024.0),
                ("Active_anon_bytes".to_owned(), 1024.0 * 1024.0),
                ("HugePages_Total".to_owned(), 4.0),
            ]
        );
    }

    #[test]
    fn malformed_lines_are_errors() {
        assert!(parse_meminfo("MemTotal 1 kB\n").is_err());
        assert!(parse_meminfo("MemTotal: x kB\n").is_err());
        assert!(parse_meminfo("MemTotal: 1 kB extra\n").is_err());
        assert!(parse_meminfo("MemTotal:\n").is_err());
        assert_eq!(parse_meminfo("\n").unwrap(), vec![]);
    }
}
