//! `node_network_{receive,transmit}_*_total{device}` from /proc/net/dev, and
//! `node_network_receive_nohandler_total` from each device's sysfs
//! statistics (node_exporter reads it over netlink; /proc/net/dev has no
//! such column).

use std::path::PathBuf;

use serde::Deserialize;

use super::{BuildError, CollectError, Collector, DeviceFilter};
use crate::metric::Family;
use crate::paths::{self, HostPaths};

/// Debian's node_exporter 1.5 leaves out the loopback device by default.
pub const DEFAULT_DEVICE_EXCLUDE: &str = "^lo$";

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Whether the collector runs.
    pub enabled: bool,
    /// Regex of devices to leave out (exclusive with `device_include`).
    pub device_exclude: Option<String>,
    /// Regex of the only devices to report (exclusive with `device_exclude`).
    pub device_include: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            device_exclude: Some(DEFAULT_DEVICE_EXCLUDE.to_owned()),
            device_include: None,
        }
    }
}

/// One device's counters, named `receive_bytes`, `transmit_colls`, … after the
/// file's two-level header.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceCounters {
    pub device: String,
    pub counters: Vec<(String, u64)>,
}

pub fn parse_net_dev(text: &str) -> Result<Vec<DeviceCounters>, String> {
    let mut lines = text.lines();
    let _title = lines.next().ok_or("empty file")?;
    let header = lines.next().ok_or("no column header")?;
    // "face |bytes packets ...|bytes packets ..."
    let mut groups = header.split('|').skip(1);
    let (Some(receive), Some(transmit)) = (groups.next(), groups.next()) else {
        return Err(format!("unexpected header {header:?}"));
    };
    let names: Vec<String> = receive
        .split_ascii_whitespace()
        .map(|n| format!("receive_{n}"))
        .chain(
            transmit
                .split_ascii_whitespace()
                .map(|n| format!("transmit_{n}")),
        )
        .collect();
    let mut devices = Vec::new();
    for line in lines {
        let Some((device, values)) = line.split_once(':') else {
            if line.trim().is_empty() {
                continue;
            }
            return Err(format!("no device name in {line:?}"));
        };
        let values: Vec<&str> = values.split_ascii_whitespace().collect();
        if values.len() != names.len() {
            return Err(format!(
                "{}: expected {} values, got {}",
                device.trim(),
                names.len(),
                values.len()
            ));
        }
        let counters = names
            .iter()
            .zip(values)
            .map(|(name, v)| {
                v.parse::<u64>()
                    .map(|v| (name.clone(), v))
                    .map_err(|_| format!("{}: invalid value {v:?}", device.trim()))
            })
            .collect::<Result<_, _>>()?;
        devices.push(DeviceCounters {
            device: device.trim().to_owned(),
            counters,
        });
    }
    Ok(devices)
}

pub struct NetdevCollector {
    net_dev: PathBuf,
    class_net: PathBuf,
    filter: DeviceFilter,
    buffer: String,
}

impl NetdevCollector {
    pub fn new(config: &Config, paths: &HostPaths) -> Result<Self, BuildError> {
        Ok(NetdevCollector {
            net_dev: paths.proc("net/dev"),
            class_net: paths.sys("class/net"),
            buffer: String::new(),
            filter: DeviceFilter::new(
                "netdev",
                config.device_exclude.as_deref(),
                config.device_include.as_deref(),
            )?,
        })
    }
}

impl Collector for NetdevCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let text = paths::read(&self.net_dev)?;
        let devices = parse_net_dev(&text).map_err(|reason| CollectError::Parse {
            path: self.net_dev.clone(),
            reason,
        })?;
        let mut families: Vec<Family> = Vec::new();
        for device in devices.iter().filter(|d| !self.filter.ignored(&d.device)) {
            for (index, (name, value)) in device.counters.iter().enumerate() {
                if families.len() <= index {
                    let (direction, what) = name.split_once('_').unwrap_or(("", name));
                    families.push(Family::counter(
                        format!("node_network_{name}_total"),
                        format!("Network device statistic {direction} {what}."),
                    ));
                }
                families[index].push([("device", device.device.as_str())], *value as f64);
            }
        }
        out.extend(families);
        let mut nohandler = Family::counter(
            "node_network_receive_nohandler_total",
            "Network device statistic receive_nohandler.",
        );
        for device in devices.iter().filter(|d| !self.filter.ignored(&d.device)) {
            let path = self
                .class_net
                .join(&device.device)
                .join("statistics/rx_nohandler");
            // Kernels before 4.6 have no such counter: no series, not a zero.
            if matches!(
                super::procfile::read_into(&path, &mut self.buffer),
                Ok(true)
            ) && let Ok(value) = super::procfile::parse_single_u64(&self.buffer)
            {
                nohandler.push([("device", device.device.as_str())], value as f64);
            }
        }
        if !nohandler.samples.is_empty() {
            out.push(nohandler);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const NET_DEV: &str = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:  1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0
  eth0: 56613293   41000    1    2    0     0          0         7  2000000   20000    3    4    0     0       0          0
";

    #[test]
    fn names_counters_after_the_header() {
        let devices = parse_net_dev(NET_DEV).unwrap();
        assert_eq!(devices.len(), 2);
        let eth0 = &devices[1];
        assert_eq!(eth0.device, "eth0");
        assert_eq!(eth0.counters[0], ("receive_bytes".to_owned(), 56_613_293));
        assert_eq!(eth0.counters[2], ("receive_errs".to_owned(), 1));
        assert_eq!(eth0.counters[11], ("transmit_drop".to_owned(), 4));
        assert_eq!(eth0.counters.len(), 16);
    }

    #[test]
    fn nohandler_from_sysfs_for_the_devices_that_have_it() {
        let paths = HostPaths {
            procfs: "tests/fixtures/proc".into(),
            sysfs: "tests/fixtures/sys".into(),
            ..HostPaths::default()
        };
        let mut collector = NetdevCollector::new(&Config::default(), &paths).unwrap();
        let mut out = Vec::new();
        collector.collect(&mut out).unwrap();
        let nohandler = out
            .iter()
            .find(|f| f.name == "node_network_receive_nohandler_total")
            .unwrap();
        let series: Vec<(&str, f64)> = nohandler
            .samples
            .iter()
            .map(|s| (s.labels[0].1.as_str(), s.value))
            .collect();
        assert_eq!(series, [("eth0", 5.0)]);
    }

    #[test]
    fn short_rows_and_bad_headers_are_errors() {
        assert!(parse_net_dev("x\ny\n").is_err());
        let short = NET_DEV.replace("0          0\n", "\n");
        assert!(parse_net_dev(&short).is_err());
    }
}
