//! cAdvisor's `container_*` families from the containers' figures.

use crate::metric::{Family, LabelName, Labels, Sample};

use super::ContainerMetrics;

pub(super) struct FamilyDef {
    pub(super) name: &'static str,
    help: &'static str,
    counter: bool,
}

const fn def(name: &'static str, help: &'static str, counter: bool) -> FamilyDef {
    FamilyDef {
        name,
        help,
        counter,
    }
}

// cAdvisor's names and help texts, in the order the families are built.
const CPU_USAGE: usize = 0;
const CPU_USER: usize = 1;
const CPU_SYSTEM: usize = 2;
const MEMORY_USAGE: usize = 3;
const MEMORY_WORKING_SET: usize = 4;
const MEMORY_RSS: usize = 5;
const MEMORY_CACHE: usize = 6;
const SPEC_MEMORY_LIMIT: usize = 7;
const RECEIVE_BYTES: usize = 8;
const RECEIVE_PACKETS: usize = 9;
const RECEIVE_ERRORS: usize = 10;
const RECEIVE_DROPPED: usize = 11;
const TRANSMIT_BYTES: usize = 12;
const TRANSMIT_PACKETS: usize = 13;
const TRANSMIT_ERRORS: usize = 14;
const TRANSMIT_DROPPED: usize = 15;
const FS_READS: usize = 16;
const FS_WRITES: usize = 17;
const START_TIME: usize = 18;
const LAST_SEEN: usize = 19;
const CFS_PERIODS: usize = 20;
const CFS_THROTTLED_PERIODS: usize = 21;
const CFS_THROTTLED_SECONDS: usize = 22;
const SPEC_CPU_QUOTA: usize = 23;
const SPEC_CPU_PERIOD: usize = 24;
const OOM_EVENTS: usize = 25;
pub(super) const FAMILIES: [FamilyDef; 26] = [
    def(
        "container_cpu_usage_seconds_total",
        "Cumulative cpu time consumed in seconds.",
        true,
    ),
    def(
        "container_cpu_user_seconds_total",
        "Cumulative user cpu time consumed in seconds.",
        true,
    ),
    def(
        "container_cpu_system_seconds_total",
        "Cumulative system cpu time consumed in seconds.",
        true,
    ),
    def(
        "container_memory_usage_bytes",
        "Current memory usage in bytes, including all memory regardless of when it was accessed",
        false,
    ),
    def(
        "container_memory_working_set_bytes",
        "Current working set in bytes.",
        false,
    ),
    def("container_memory_rss", "Size of RSS in bytes.", false),
    def(
        "container_memory_cache",
        "Number of bytes of page cache memory.",
        false,
    ),
    def(
        "container_spec_memory_limit_bytes",
        "Memory limit for the container.",
        false,
    ),
    def(
        "container_network_receive_bytes_total",
        "Cumulative count of bytes received",
        true,
    ),
    def(
        "container_network_receive_packets_total",
        "Cumulative count of packets received",
        true,
    ),
    def(
        "container_network_receive_errors_total",
        "Cumulative count of errors encountered while receiving",
        true,
    ),
    def(
        "container_network_receive_packets_dropped_total",
        "Cumulative count of packets dropped while receiving",
        true,
    ),
    def(
        "container_network_transmit_bytes_total",
        "Cumulative count of bytes transmitted",
        true,
    ),
    def(
        "container_network_transmit_packets_total",
        "Cumulative count of packets transmitted",
        true,
    ),
    def(
        "container_network_transmit_errors_total",
        "Cumulative count of errors encountered while transmitting",
        true,
    ),
    def(
        "container_network_transmit_packets_dropped_total",
        "Cumulative count of packets dropped while transmitting",
        true,
    ),
    def(
        "container_fs_reads_bytes_total",
        "Cumulative count of bytes read",
        true,
    ),
    def(
        "container_fs_writes_bytes_total",
        "Cumulative count of bytes written",
        true,
    ),
    def(
        "container_start_time_seconds",
        "Start time of the container since unix epoch in seconds.",
        false,
    ),
    def(
        "container_last_seen",
        "Last time a container was seen by the exporter",
        false,
    ),
    def(
        "container_cpu_cfs_periods_total",
        "Number of elapsed enforcement period intervals.",
        true,
    ),
    def(
        "container_cpu_cfs_throttled_periods_total",
        "Number of throttled period intervals.",
        true,
    ),
    def(
        "container_cpu_cfs_throttled_seconds_total",
        "Total time duration the container has been throttled.",
        true,
    ),
    def(
        "container_spec_cpu_quota",
        "CPU quota of the container.",
        false,
    ),
    def(
        "container_spec_cpu_period",
        "CPU period of the container.",
        false,
    ),
    def(
        "container_oom_events_total",
        "Count of out of memory events observed for the container",
        true,
    ),
];

/// The families of these containers; `label_names` are the
/// `container_label_*` names of the allowlisted keys, in allowlist order.
/// Families without a series are left out.
pub fn families<'a>(
    containers: impl IntoIterator<Item = &'a ContainerMetrics>,
    label_names: &[LabelName],
) -> Vec<Family> {
    let mut families: Vec<Family> = FAMILIES
        .iter()
        .map(|d| {
            if d.counter {
                Family::counter(d.name, d.help)
            } else {
                Family::gauge(d.name, d.help)
            }
        })
        .collect();
    for c in containers {
        let mut base: Labels = label_names
            .iter()
            .cloned()
            .zip(c.labels.iter().cloned())
            .collect();
        let id = match &c.cgroup_path {
            Some(path) => path.clone(),
            None => format!("/docker/{}", c.id),
        };
        base.push(("id".into(), id));
        base.push(("image".into(), c.image.clone()));
        base.push(("name".into(), c.name.clone()));
        let mut put = |family: usize, extra: Option<(&'static str, &str)>, value: Option<f64>| {
            let Some(value) = value else { return };
            let mut labels = base.clone();
            if let Some((name, v)) = extra {
                labels.push((name.into(), v.to_owned()));
            }
            labels.sort_by(|a, b| a.0.cmp(&b.0));
            families[family].samples.push(Sample {
                labels: labels.into(),
                value,
            });
        };
        put(CPU_USAGE, Some(("cpu", "total")), c.cpu_usage_seconds);
        put(CPU_USER, None, c.cpu_user_seconds);
        put(CPU_SYSTEM, None, c.cpu_system_seconds);
        put(MEMORY_USAGE, None, c.memory_usage_bytes);
        put(MEMORY_WORKING_SET, None, c.memory_working_set_bytes);
        put(MEMORY_RSS, None, c.memory_rss_bytes);
        put(MEMORY_CACHE, None, c.memory_cache_bytes);
        put(SPEC_MEMORY_LIMIT, None, c.memory_limit_bytes);
        for n in &c.networks {
            let interface = Some(("interface", n.interface.as_str()));
            put(RECEIVE_BYTES, interface, n.receive_bytes);
            put(RECEIVE_PACKETS, interface, n.receive_packets);
            put(RECEIVE_ERRORS, interface, n.receive_errors);
            put(RECEIVE_DROPPED, interface, n.receive_dropped);
            put(TRANSMIT_BYTES, interface, n.transmit_bytes);
            put(TRANSMIT_PACKETS, interface, n.transmit_packets);
            put(TRANSMIT_ERRORS, interface, n.transmit_errors);
            put(TRANSMIT_DROPPED, interface, n.transmit_dropped);
        }
        for io in &c.block_io {
            let device = Some(("device", io.device.as_str()));
            put(FS_READS, device, Some(io.read_bytes));
            put(FS_WRITES, device, Some(io.write_bytes));
        }
        put(START_TIME, None, c.start_time_seconds);
        put(LAST_SEEN, None, Some(c.last_seen));
        put(CFS_PERIODS, None, c.cfs_periods);
        put(CFS_THROTTLED_PERIODS, None, c.cfs_throttled_periods);
        put(CFS_THROTTLED_SECONDS, None, c.cfs_throttled_seconds);
        put(SPEC_CPU_QUOTA, None, c.cpu_quota_us);
        put(SPEC_CPU_PERIOD, None, c.cpu_period_us);
        put(OOM_EVENTS, None, c.oom_kills);
    }
    families.retain(|f| !f.samples.is_empty());
    families
}

/// `container_label_<key>`, with every character but `[A-Za-z0-9_]` made `_`.
pub fn label_name(key: &str) -> String {
    let sanitized: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("container_label_{sanitized}")
}
