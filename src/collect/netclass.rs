//! `node_network_up{device}` from /sys/class/net/*/operstate: 1 when the
//! operational state is "up", as node_exporter's netclass collector has it.

use std::io;
use std::path::PathBuf;

use serde::Deserialize;

use super::{BuildError, CollectError, Collector, compile_regex};
use crate::metric::Family;
use crate::paths::HostPaths;

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Whether the collector runs.
    pub enabled: bool,
    /// Regex of devices to leave out.
    pub ignored_devices: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            ignored_devices: "^$".to_owned(),
        }
    }
}

pub struct NetclassCollector {
    class_net: PathBuf,
    ignored: regex::Regex,
}

impl NetclassCollector {
    pub fn new(config: &Config, paths: &HostPaths) -> Result<Self, BuildError> {
        Ok(NetclassCollector {
            class_net: paths.sys("class/net"),
            ignored: compile_regex("netclass", "ignored_devices", &config.ignored_devices)?,
        })
    }
}

impl Collector for NetclassCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let read_error = |source: io::Error| CollectError::Read {
            path: self.class_net.clone(),
            source,
        };
        let mut up = Family::gauge(
            "node_network_up",
            "Value is 1 if operstate is 'up', 0 otherwise.",
        );
        for entry in std::fs::read_dir(&self.class_net).map_err(read_error)? {
            let entry = entry.map_err(read_error)?;
            let device = entry.file_name().to_string_lossy().into_owned();
            if self.ignored.is_match(&device) {
                continue;
            }
            // Entries that are not devices (bonding_masters) have no operstate.
            let Ok(state) = std::fs::read_to_string(entry.path().join("operstate")) else {
                continue;
            };
            let value = if state.trim() == "up" { 1.0 } else { 0.0 };
            up.push([("device", device)], value);
        }
        out.push(up);
        Ok(())
    }
}
