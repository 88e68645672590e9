//! `node_disk_*` from /proc/diskstats (and `node_disk_info` from udev's
//! database where there is one).

use std::path::PathBuf;

use serde::Deserialize;

use super::{BuildError, CollectError, Collector, DeviceFilter};
use crate::metric::{Family, MetricType};
use crate::paths::{self, HostPaths};

/// node_exporter 1.5's default: partitions, ramdisks, loop and floppy devices.
pub const DEFAULT_DEVICE_EXCLUDE: &str = r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";

/// The kernel's unit for sector counts in /proc/diskstats, whatever the disk's.
const SECTOR_BYTES: f64 = 512.0;

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

/// One column of /proc/diskstats: the family it feeds and how to scale it.
struct Column {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    scale: f64,
}

const fn counter(name: &'static str, help: &'static str, scale: f64) -> Column {
    Column {
        name,
        help,
        kind: MetricType::Counter,
        scale,
    }
}

/// The columns after major, minor and device name, in kernel order
/// (Documentation/admin-guide/iostats.rst). Older kernels have fewer.
const COLUMNS: [Column; 17] = [
    counter(
        "node_disk_reads_completed_total",
        "The total number of reads completed successfully.",
        1.0,
    ),
    counter(
        "node_disk_reads_merged_total",
        "The total number of reads merged.",
        1.0,
    ),
    counter(
        "node_disk_read_bytes_total",
        "The total number of bytes read successfully.",
        SECTOR_BYTES,
    ),
    counter(
        "node_disk_read_time_seconds_total",
        "The total number of seconds spent by all reads.",
        0.001,
    ),
    counter(
        "node_disk_writes_completed_total",
        "The total number of writes completed successfully.",
        1.0,
    ),
    counter(
        "node_disk_writes_merged_total",
        "The number of writes merged.",
        1.0,
    ),
    counter(
        "node_disk_written_bytes_total",
        "The total number of bytes written successfully.",
        SECTOR_BYTES,
    ),
    counter(
        "node_disk_write_time_seconds_total",
        "This is the total number of seconds spent by all writes.",
        0.001,
    ),
    Column {
        name: "node_disk_io_now",
        help: "The number of I/Os currently in progress.",
        kind: MetricType::Gauge,
        scale: 1.0,
    },
    counter(
        "node_disk_io_time_seconds_total",
        "Total seconds spent doing I/Os.",
        0.001,
    ),
    counter(
        "node_disk_io_time_weighted_seconds_total",
        "The weighted # of seconds spent doing I/Os.",
        0.001,
    ),
    counter(
        "node_disk_discards_completed_total",
        "The total number of discards completed successfully.",
        1.0,
    ),
    counter(
        "node_disk_discards_merged_total",
        "The total number of discards merged.",
        1.0,
    ),
    counter(
        "node_disk_discarded_sectors_total",
        "The total number of sectors discarded successfully.",
        1.0,
    ),
    counter(
        "node_disk_discard_time_seconds_total",
        "This is the total number of seconds spent by all discards.",
        0.001,
    ),
    counter(
        "node_disk_flush_requests_total",
        "The total number of flush requests completed successfully",
        1.0,
    ),
    counter(
        "node_disk_flush_requests_time_seconds_total",
        "This is the total number of seconds spent by all flush requests.",
        0.001,
    ),
];

#[derive(Clone, Debug, PartialEq)]
pub struct DiskStats {
    pub major: u32,
    pub minor: u32,
    pub device: String,
    pub values: Vec<u64>,
}

pub fn parse_diskstats(text: &str) -> Result<Vec<DiskStats>, String> {
    let mut disks = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        if fields.len() < 3 + 11 {
            return Err(format!("expected at least 14 fields in {line:?}"));
        }
        let number = |s: &str| {
            s.parse::<u64>()
                .map_err(|_| format!("invalid number {s:?} in {line:?}"))
        };
        let values = fields[3..]
            .iter()
            .take(COLUMNS.len())
            .map(|f| number(f))
            .collect::<Result<Vec<_>, _>>()?;
        disks.push(DiskStats {
            major: number(fields[0])? as u32,
            minor: number(fields[1])? as u32,
            device: fields[2].to_owned(),
            values,
        });
    }
    Ok(disks)
}

/// The identity udev knows a disk by, from `E:KEY=VALUE` lines of its database.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UdevIdentity {
    pub path: String,
    pub wwn: String,
    pub model: String,
    pub serial: String,
    pub revision: String,
}

pub fn parse_udev(text: &str) -> UdevIdentity {
    let mut id = UdevIdentity::default();
    for line in text.lines() {
        let Some((key, value)) = line.strip_prefix("E:").and_then(|kv| kv.split_once('=')) else {
            continue;
        };
        let slot = match key {
            "ID_PATH" => &mut id.path,
            "ID_WWN" => &mut id.wwn,
            "ID_MODEL" => &mut id.model,
            "ID_SERIAL_SHORT" => &mut id.serial,
            "ID_REVISION" => &mut id.revision,
            _ => continue,
        };
        *slot = value.to_owned();
    }
    id
}

pub struct DiskstatsCollector {
    paths: HostPaths,
    diskstats: PathBuf,
    filter: DeviceFilter,
}

impl DiskstatsCollector {
    pub fn new(config: &Config, paths: &HostPaths) -> Result<Self, BuildError> {
        Ok(DiskstatsCollector {
            paths: paths.clone(),
            diskstats: paths.proc("diskstats"),
            filter: DeviceFilter::new(
                "diskstats",
                config.device_exclude.as_deref(),
                config.device_include.as_deref(),
            )?,
        })
    }
}

impl Collector for DiskstatsCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let text = paths::read(&self.diskstats)?;
        let disks = parse_diskstats(&text).map_err(|reason| CollectError::Parse {
            path: self.diskstats.clone(),
            reason,
        })?;
        let mut families: Vec<Family> = COLUMNS
            .iter()
            .map(|c| Family::new(c.name, c.help, c.kind))
            .collect();
        let mut info = Family::gauge("node_disk_info", "Info of /sys/block/<block_device>.");
        for disk in disks.iter().filter(|d| !self.filter.ignored(&d.device)) {
            for ((family, column), value) in families.iter_mut().zip(&COLUMNS).zip(&disk.values) {
                family.push(
                    [("device", disk.device.as_str())],
                    *value as f64 * column.scale,
                );
            }
            // Without udev's database (containers, minimal hosts) the identity
            // labels are empty, as node_exporter has them.
            let udev_file = self.paths.udev(&format!("b{}:{}", disk.major, disk.minor));
            let id = std::fs::read_to_string(udev_file)
                .map(|t| parse_udev(&t))
                .unwrap_or_default();
            info.push(
                [
                    ("device", disk.device.clone()),
                    ("major", disk.major.to_string()),
                    ("minor", disk.minor.to_string()),
                    ("model", id.model),
                    ("path", id.path),
                    ("revision", id.revision),
                    ("serial", id.serial),
                    ("wwn", id.wwn),
                ],
                1.0,
            );
        }
        out.extend(families.into_iter().filter(|f| !f.samples.is_empty()));
        out.push(info);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_scales_columns() {
        let text = " 254       0 vda 26989 4560 1505210 17472 6368 6091 1208808 2455 0 11344 20116 3558 8 193960 165 961 23\n   8       0 sda 1 2 3 4 5 6 7 8 9 10 11\n";
        let disks = parse_diskstats(text).unwrap();
        assert_eq!(disks.len(), 2);
        assert_eq!(disks[0].device, "vda");
        assert_eq!(disks[0].values.len(), 17);
        assert_eq!(disks[1].values.len(), 11);
        assert!(parse_diskstats("8 0 sda 1 2\n").is_err());
        assert!(parse_diskstats("8 0 sda 1 2 3 4 5 6 7 8 9 10 x\n").is_err());
    }

    #[test]
    fn default_exclude_drops_partitions_and_loops() {
        let f = DeviceFilter::new("diskstats", Some(DEFAULT_DEVICE_EXCLUDE), None).unwrap();
        for excluded in ["sda1", "vda2", "loop0", "ram3", "nvme0n1p1"] {
            assert!(f.ignored(excluded), "{excluded}");
        }
        for kept in ["sda", "vda", "nvme0n1", "zram0", "dm-0"] {
            assert!(!f.ignored(kept), "{kept}");
        }
    }

    #[test]
    fn reads_udev_identity() {
        let id = parse_udev(
            "S:disk/by-id/x\nE:ID_MODEL=Disk_A\nE:ID_SERIAL_SHORT=S1\nE:ID_PATH=pci-0000:00:1f.2\n",
        );
        assert_eq!(id.model, "Disk_A");
        assert_eq!(id.serial, "S1");
        assert_eq!(id.path, "pci-0000:00:1f.2");
        assert_eq!(id.wwn, "");
    }
}
