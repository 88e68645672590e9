//! `node_network_*` attributes from /sys/class/net/<device>/: `node_network_up`
//! (1 when operstate is "up"), `node_network_info`, and the numeric attributes
//! node_exporter's netclass collector exports. An attribute a device does not
//! have (or cannot report, such as the speed of a virtual device) is left out
//! for that device.

use std::io;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{BuildError, CollectError, Collector, compile_regex};
use crate::metric::{Family, MetricType};
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

/// A numeric sysfs attribute and the family it feeds.
struct Attribute {
    file: &'static str,
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    scale: f64,
}

const fn gauge(file: &'static str, name: &'static str, help: &'static str) -> Attribute {
    Attribute {
        file,
        name,
        help,
        kind: MetricType::Gauge,
        scale: 1.0,
    }
}

const fn counter(file: &'static str, name: &'static str, help: &'static str) -> Attribute {
    Attribute {
        file,
        name,
        help,
        kind: MetricType::Counter,
        scale: 1.0,
    }
}

const ATTRIBUTES: [Attribute; 16] = [
    gauge(
        "addr_assign_type",
        "node_network_address_assign_type",
        "Network device property: address_assign_type",
    ),
    gauge(
        "carrier",
        "node_network_carrier",
        "Network device property: carrier",
    ),
    counter(
        "carrier_changes",
        "node_network_carrier_changes_total",
        "Network device property: carrier_changes_total",
    ),
    counter(
        "carrier_up_count",
        "node_network_carrier_up_changes_total",
        "Network device property: carrier_up_changes_total",
    ),
    counter(
        "carrier_down_count",
        "node_network_carrier_down_changes_total",
        "Network device property: carrier_down_changes_total",
    ),
    gauge(
        "dev_id",
        "node_network_device_id",
        "Network device property: device_id",
    ),
    gauge(
        "dormant",
        "node_network_dormant",
        "Network device property: dormant",
    ),
    gauge(
        "flags",
        "node_network_flags",
        "Network device property: flags",
    ),
    gauge(
        "ifindex",
        "node_network_iface_id",
        "Network device property: iface_id",
    ),
    gauge(
        "iflink",
        "node_network_iface_link",
        "Network device property: iface_link",
    ),
    gauge(
        "link_mode",
        "node_network_iface_link_mode",
        "Network device property: iface_link_mode",
    ),
    gauge(
        "mtu",
        "node_network_mtu_bytes",
        "Network device property: mtu_bytes",
    ),
    gauge(
        "name_assign_type",
        "node_network_name_assign_type",
        "Network device property: name_assign_type",
    ),
    gauge(
        "netdev_group",
        "node_network_net_dev_group",
        "Network device property: net_dev_group",
    ),
    gauge(
        "type",
        "node_network_protocol_type",
        "Network device property: protocol_type",
    ),
    // sysfs gives Mbit/s; node_exporter reports bytes/s (and so -125000 for
    // the kernel's "unknown" -1).
    Attribute {
        file: "speed",
        name: "node_network_speed_bytes",
        help: "Network device property: speed_bytes",
        kind: MetricType::Gauge,
        scale: 125_000.0,
    },
];

/// A sysfs number: decimal, or hex with a 0x prefix (flags, dev_id).
pub fn parse_sysfs_number(text: &str) -> Option<f64> {
    let text = text.trim();
    match text.strip_prefix("0x") {
        Some(hex) => i64::from_str_radix(hex, 16).ok().map(|v| v as f64),
        None => text.parse::<i64>().ok().map(|v| v as f64),
    }
}

fn read_attribute(device_dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(device_dir.join(file))
        .ok()
        .map(|s| s.trim_end_matches('\n').to_owned())
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
        let mut families: Vec<Family> = ATTRIBUTES
            .iter()
            .map(|a| Family::new(a.name, a.help, a.kind))
            .collect();
        let mut up = Family::gauge(
            "node_network_up",
            "Value is 1 if operstate is 'up', 0 otherwise.",
        );
        let mut transmit_queue = Family::gauge(
            "node_network_transmit_queue_length",
            "Network device property: transmit_queue_length",
        );
        let mut info = Family::gauge(
            "node_network_info",
            "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
        );
        for entry in std::fs::read_dir(&self.class_net).map_err(read_error)? {
            let entry = entry.map_err(read_error)?;
            let device = entry.file_name().to_string_lossy().into_owned();
            let dir = entry.path();
            if self.ignored.is_match(&device) {
                continue;
            }
            // Entries that are not devices (bonding_masters) have no operstate.
            let Some(operstate) = read_attribute(&dir, "operstate") else {
                continue;
            };
            for (family, attribute) in families.iter_mut().zip(&ATTRIBUTES) {
                if let Some(value) = read_attribute(&dir, attribute.file)
                    .as_deref()
                    .and_then(parse_sysfs_number)
                {
                    family.push([("device", device.as_str())], value * attribute.scale);
                }
            }
            if let Some(length) = read_attribute(&dir, "tx_queue_len")
                .as_deref()
                .and_then(parse_sysfs_number)
            {
                transmit_queue.push([("device", device.as_str())], length);
            }
            up.push(
                [("device", device.as_str())],
                if operstate == "up" { 1.0 } else { 0.0 },
            );
            let text = |file| read_attribute(&dir, file).unwrap_or_default();
            info.push(
                [
                    ("address", text("address")),
                    ("broadcast", text("broadcast")),
                    ("device", device.clone()),
                    ("duplex", text("duplex")),
                    ("ifalias", text("ifalias")),
                    ("operstate", operstate),
                ],
                1.0,
            );
        }
        out.extend(families.into_iter().filter(|f| !f.samples.is_empty()));
        out.extend([up, transmit_queue, info]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimal_hex_and_negative() {
        assert_eq!(parse_sysfs_number("0x1003\n"), Some(4099.0));
        assert_eq!(parse_sysfs_number("-1"), Some(-1.0));
        assert_eq!(parse_sysfs_number("1500"), Some(1500.0));
        assert_eq!(parse_sysfs_number(""), None);
        assert_eq!(parse_sysfs_number("up"), None);
    }
}
