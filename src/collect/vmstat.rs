//! `node_vmstat_<field>` from /proc/vmstat: the fields matching
//! node_exporter's `--collector.vmstat.fields` (page faults, paging, swapping
//! and `oom_kill` by default), untyped as node_exporter exports them.

use std::path::PathBuf;

use regex::Regex;
use serde::Deserialize;

use super::procfile::{self, key_values, parse_error, parse_number};
use super::{BuildError, CollectError, Collector, compile_regex};
use crate::metric::{Family, MetricType};
use crate::paths::HostPaths;

/// node_exporter's default `--collector.vmstat.fields`.
pub const DEFAULT_FIELDS: &str = "^(oom_kill|pgpg|pswp|pg.*fault).*";

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Whether the collector runs.
    pub enabled: bool,
    /// Regex of the /proc/vmstat fields to export
    /// (`--collector.vmstat.fields`).
    pub fields: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            fields: DEFAULT_FIELDS.to_owned(),
        }
    }
}

/// The fields of /proc/vmstat that `fields` matches, in file order.
pub fn parse_vmstat<'a>(text: &'a str, fields: &Regex) -> Result<Vec<(&'a str, f64)>, String> {
    let mut out = Vec::new();
    for pair in key_values(text) {
        let (key, value) = pair?;
        if fields.is_match(key) {
            out.push((key, parse_number(value)?));
        }
    }
    Ok(out)
}

pub struct VmstatCollector {
    path: PathBuf,
    fields: Regex,
    buffer: String,
}

impl VmstatCollector {
    pub fn new(config: &Config, paths: &HostPaths) -> Result<Self, BuildError> {
        Ok(VmstatCollector {
            path: paths.proc("vmstat"),
            fields: compile_regex("vmstat", "fields", &config.fields)?,
            buffer: String::new(),
        })
    }
}

impl Collector for VmstatCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        if !procfile::read_into(&self.path, &mut self.buffer)? {
            return Err(CollectError::NoData("no /proc/vmstat".into()));
        }
        let fields =
            parse_vmstat(&self.buffer, &self.fields).map_err(|r| parse_error(&self.path, r))?;
        for (key, value) in fields {
            out.push(
                Family::new(
                    format!("node_vmstat_{key}"),
                    format!("/proc/vmstat information field {key}."),
                    MetricType::Untyped,
                )
                .single(value),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_default_fields_only() {
        let text = std::fs::read_to_string("tests/fixtures/proc/vmstat").unwrap();
        let fields = Regex::new(DEFAULT_FIELDS).unwrap();
        let parsed = parse_vmstat(&text, &fields).unwrap();
        let names: Vec<&str> = parsed.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            names,
            [
                "pgpgin",
                "pgpgout",
                "pswpin",
                "pswpout",
                "pgfault",
                "pgmajfault",
                "oom_kill"
            ]
        );
        assert_eq!(parsed[6].1, 3.0);
        assert!(parse_vmstat("pgfault x\n", &fields).is_err());
    }

    #[test]
    fn exports_untyped_families_from_a_fixture_tree() {
        let paths = HostPaths {
            procfs: "tests/fixtures/proc".into(),
            ..HostPaths::default()
        };
        let mut collector = VmstatCollector::new(&Config::default(), &paths).unwrap();
        let mut out = Vec::new();
        collector.collect(&mut out).unwrap();
        let oom = out
            .iter()
            .find(|f| f.name == "node_vmstat_oom_kill")
            .unwrap();
        assert_eq!(oom.kind, MetricType::Untyped);
        assert_eq!(oom.samples[0].value, 3.0);
        assert_eq!(out.len(), 7);
    }
}
