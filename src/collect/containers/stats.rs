//! One container's figures, from the engine's inspect and one-shot stats.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::UNIX_EPOCH;

use bollard::models::{ContainerInspectResponse, ContainerStatsResponse};

/// The figures of one container, as the engine reported them. `None` is "not
/// reported by this engine", never zero.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContainerMetrics {
    /// The full container ID.
    pub id: String,
    /// The name, without the leading `/`.
    pub name: String,
    /// The image as the container was created from it (`busybox:latest`).
    pub image: String,
    /// The values of the allowlisted labels, in allowlist order; "" when the
    /// container does not have the label.
    pub labels: Vec<String>,
    pub cpu_usage_seconds: Option<f64>,
    pub cpu_user_seconds: Option<f64>,
    pub cpu_system_seconds: Option<f64>,
    pub memory_usage_bytes: Option<f64>,
    pub memory_working_set_bytes: Option<f64>,
    pub memory_rss_bytes: Option<f64>,
    pub memory_cache_bytes: Option<f64>,
    /// 0 when unlimited, as cAdvisor.
    pub memory_limit_bytes: Option<f64>,
    /// By interface name.
    pub networks: Vec<InterfaceCounters>,
    /// By device (`/dev/vda`, or "" when the device cannot be named).
    pub block_io: Vec<DeviceIo>,
    /// When the container was created: cAdvisor takes this series from the
    /// inspect's `Created`, not `State.StartedAt`, and so does outrider.
    pub start_time_seconds: Option<f64>,
    /// When these figures were read (unix seconds).
    pub last_seen: f64,
    /// CFS periods, throttled periods and throttled seconds, from the
    /// cgroup's files.
    pub cfs_periods: Option<f64>,
    pub cfs_throttled_periods: Option<f64>,
    pub cfs_throttled_seconds: Option<f64>,
    /// The CFS quota and period in microseconds; no quota when unlimited.
    pub cpu_quota_us: Option<f64>,
    pub cpu_period_us: Option<f64>,
    /// OOM kills in the container's cgroup.
    pub oom_kills: Option<f64>,
    /// The cgroup path, cAdvisor's `id` where no engine names the container
    /// (`/docker/<id>` otherwise).
    pub cgroup_path: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct InterfaceCounters {
    pub interface: String,
    pub receive_bytes: Option<f64>,
    pub receive_packets: Option<f64>,
    pub receive_errors: Option<f64>,
    pub receive_dropped: Option<f64>,
    pub transmit_bytes: Option<f64>,
    pub transmit_packets: Option<f64>,
    pub transmit_errors: Option<f64>,
    pub transmit_dropped: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeviceIo {
    pub device: String,
    pub read_bytes: f64,
    pub write_bytes: f64,
}

/// Turns one container's inspect and one-shot stats into its figures.
/// `device_name` names a block device by its major and minor numbers; `now`
/// is when the stats were read.
pub fn container_metrics(
    inspect: &ContainerInspectResponse,
    stats: &ContainerStatsResponse,
    label_keys: &[String],
    device_name: &dyn Fn(u64, u64) -> Option<String>,
    now: f64,
) -> Result<ContainerMetrics, String> {
    let id = inspect.id.clone().ok_or("the engine's inspect has no Id")?;
    let config = inspect.config.as_ref();
    let labels = config.and_then(|c| c.labels.as_ref());
    let nanos = |v: u64| v as f64 / 1e9;

    let usage = stats.cpu_stats.as_ref().and_then(|c| c.cpu_usage.as_ref());
    let cpu_total = usage.and_then(|u| u.total_usage);
    let (mut cpu_user, mut cpu_system) = (
        usage.and_then(|u| u.usage_in_usermode),
        usage.and_then(|u| u.usage_in_kernelmode),
    );
    // Zero user and zero system time under a busy total is a split the
    // engine did not measure.
    if cpu_user == Some(0) && cpu_system == Some(0) && cpu_total.is_some_and(|t| t > 0) {
        (cpu_user, cpu_system) = (None, None);
    }

    let memory = stats.memory_stats.as_ref();
    let memory_usage = memory.and_then(|m| m.usage);
    let memory_stat = |keys: &[&str]| {
        let table = memory.and_then(|m| m.stats.as_ref())?;
        keys.iter().find_map(|k| table.get(*k).copied())
    };
    // cgroup v1 names first (hierarchical totals, as cAdvisor reads them),
    // then cgroup v2's.
    let inactive_file = memory_stat(&["total_inactive_file", "inactive_file"]);
    let working_set = match (memory_usage, inactive_file) {
        (Some(usage), Some(inactive)) => Some(usage.saturating_sub(inactive)),
        _ => None,
    };

    let mut networks: Vec<InterfaceCounters> = stats
        .networks
        .iter()
        .flatten()
        .map(|(interface, n)| {
            // Bytes moved without a single packet: the engine fills only the
            // byte counters, and its packets, errors and drops mean nothing.
            let moved = n.rx_bytes.unwrap_or(0) > 0 || n.tx_bytes.unwrap_or(0) > 0;
            let no_packets = n.rx_packets.unwrap_or(0) == 0 && n.tx_packets.unwrap_or(0) == 0;
            let counts = |v: Option<u64>| {
                if moved && no_packets {
                    None
                } else {
                    v.map(|v| v as f64)
                }
            };
            InterfaceCounters {
                interface: interface.clone(),
                receive_bytes: n.rx_bytes.map(|v| v as f64),
                receive_packets: counts(n.rx_packets),
                receive_errors: counts(n.rx_errors),
                receive_dropped: counts(n.rx_dropped),
                transmit_bytes: n.tx_bytes.map(|v| v as f64),
                transmit_packets: counts(n.tx_packets),
                transmit_errors: counts(n.tx_errors),
                transmit_dropped: counts(n.tx_dropped),
            }
        })
        .collect();
    networks.sort_by(|a, b| a.interface.cmp(&b.interface));

    let mut block_io: BTreeMap<String, DeviceIo> = BTreeMap::new();
    let entries = stats
        .blkio_stats
        .as_ref()
        .and_then(|b| b.io_service_bytes_recursive.as_ref());
    for entry in entries.into_iter().flatten() {
        let (Some(op), Some(value)) = (entry.op.as_deref(), entry.value) else {
            continue;
        };
        // cgroup v1 says Read and Write, cgroup v2 read and write.
        let read = op.eq_ignore_ascii_case("read");
        if !read && !op.eq_ignore_ascii_case("write") {
            continue;
        }
        let device = match (entry.major, entry.minor) {
            (Some(major), Some(minor)) => device_name(major, minor).unwrap_or_default(),
            _ => String::new(),
        };
        let io = block_io.entry(device.clone()).or_insert_with(|| DeviceIo {
            device,
            ..DeviceIo::default()
        });
        if read {
            io.read_bytes += value as f64;
        } else {
            io.write_bytes += value as f64;
        }
    }

    Ok(ContainerMetrics {
        id,
        name: inspect
            .name
            .as_deref()
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned(),
        image: config.and_then(|c| c.image.clone()).unwrap_or_default(),
        labels: label_keys
            .iter()
            .map(|k| labels.and_then(|l| l.get(k)).cloned().unwrap_or_default())
            .collect(),
        cpu_usage_seconds: cpu_total.map(nanos),
        cpu_user_seconds: cpu_user.map(nanos),
        cpu_system_seconds: cpu_system.map(nanos),
        memory_usage_bytes: memory_usage.map(|v| v as f64),
        memory_working_set_bytes: working_set.map(|v| v as f64),
        memory_rss_bytes: memory_stat(&["total_rss", "anon"]).map(|v| v as f64),
        memory_cache_bytes: memory_stat(&["total_cache", "file"]).map(|v| v as f64),
        memory_limit_bytes: inspect
            .host_config
            .as_ref()
            .and_then(|h| h.memory)
            .map(|limit| limit.max(0) as f64),
        networks,
        block_io: block_io.into_values().collect(),
        start_time_seconds: inspect.created.as_deref().and_then(parse_timestamp),
        last_seen: now,
        ..ContainerMetrics::default()
    })
}

/// An RFC 3339 time as engines write it (`2024-05-01T10:00:00.123456789Z`,
/// or with a `+02:00` offset) in unix seconds; `None` for the zero time
/// (`0001-01-01T00:00:00Z`, never started) and anything unreadable.
pub fn parse_timestamp(text: &str) -> Option<f64> {
    let (local, offset_seconds) = match text.len().checked_sub(6).map(|i| text.split_at(i)) {
        Some((local, offset))
            if offset.len() == 6
                && (offset.starts_with('+') || offset.starts_with('-'))
                && offset.as_bytes()[3] == b':' =>
        {
            let hours: i64 = offset[1..3].parse().ok()?;
            let minutes: i64 = offset[4..6].parse().ok()?;
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            (local, sign * (hours * 3600 + minutes * 60))
        }
        _ => (text.strip_suffix('Z').unwrap_or(text), 0),
    };
    let utc = humantime::parse_rfc3339_weak(local).ok()?;
    let seconds = utc.duration_since(UNIX_EPOCH).ok()?.as_secs_f64() - offset_seconds as f64;
    (seconds > 0.0).then_some(seconds)
}

/// `/dev/<name>` of a block device, from the `<sysfs>/dev/block/MAJ:MIN` link.
pub(super) fn device_name(dev_block: &Path, major: u64, minor: u64) -> Option<String> {
    let target = std::fs::read_link(dev_block.join(format!("{major}:{minor}"))).ok()?;
    Some(format!("/dev/{}", target.file_name()?.to_str()?))
}
