//! `container_*` series with cAdvisor's names, types, units and labels, read
//! from a Docker-compatible engine's API (Docker, or podman's Docker API)
//! with bollard.
//!
//! The engine is never asked on the tick. A task on the tokio runtime lists
//! the running containers and reads each one's inspect and a one-shot stats
//! concurrently, every request bounded by `timeout`, and keeps the latest
//! values; `collect()` only reads them. The task polls once as soon as it
//! starts and then once per tick (each `collect()` asks for the next poll), so
//! it follows the collect interval without being told it, and the values a
//! tick exports are about one interval old. A container that is no longer
//! listed takes its series with it.
//!
//! When the engine does not answer, `collect()` fails (so
//! `outrider_collector_success{collector="containers"}` is 0, logged once by
//! the registry) and the task retries with backoff, 1 s doubling to 30 s; the
//! series come back with the engine.
//!
//! What an engine does not report is left out for that container rather than
//! made up. podman 4 on cgroup v1, for one, sends no `memory_stats.stats` (so
//! no working set, RSS or cache), fills only the byte counters of a single
//! interface it calls `network` (its packets, errors and drops are zeros by
//! construction), and sends no blkio entries when the kernel accounts none.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::models::{ContainerInspectResponse, ContainerStatsResponse};
use bollard::query_parameters::StatsOptionsBuilder;
use bollard::{API_DEFAULT_VERSION, Docker};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::debug;

use super::{BuildError, CollectError, Collector};
use crate::metric::{Family, LabelName, Labels, Sample};
use crate::paths::HostPaths;

const COLLECTOR: &str = "containers";

/// Where Docker listens when neither the config nor `DOCKER_HOST` says.
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

/// The first wait before asking an engine that did not answer again.
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// The longest wait between two attempts while the engine does not answer.
const LAST_RETRY: Duration = Duration::from_secs(30);

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Whether the collector runs.
    pub enabled: bool,
    /// The engine's API socket, as `unix:///path`. Unset: the `DOCKER_HOST`
    /// environment variable, else `unix:///var/run/docker.sock`. podman
    /// serves the same API (`podman system service`).
    pub docker_host: Option<String>,
    /// Container label keys exported as `container_label_<key>` (any
    /// character but letters, digits and `_` becomes `_`), as cAdvisor names
    /// them. Only these labels are exported; environment variables never are.
    pub label_allowlist: Vec<String>,
    /// How long one request to the engine may take (humantime).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            docker_host: None,
            label_allowlist: Vec::new(),
            timeout: Duration::from_secs(5),
        }
    }
}

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

struct FamilyDef {
    name: &'static str,
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
const FAMILIES: [FamilyDef; 20] = [
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
        base.push(("id".into(), format!("/docker/{}", c.id)));
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

/// The socket path of a `unix://` address.
fn socket_path(host: &str) -> Result<&str, String> {
    match host.strip_prefix("unix://") {
        Some(path) if !path.is_empty() => Ok(path),
        _ => Err(format!(
            "{host:?} is not a unix:// address; outrider reaches the engine over its Unix socket only"
        )),
    }
}

/// Waits before asking an engine that did not answer: 1 s, doubling, at most
/// 30 s, and back to 1 s once it answers.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: FIRST_RETRY }
    }
}

impl Backoff {
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(LAST_RETRY);
        delay
    }

    pub fn reset(&mut self) {
        self.next = FIRST_RETRY;
    }
}

/// What the poller and the collector agree on.
struct Settings {
    host: String,
    timeout: Duration,
    label_keys: Vec<String>,
    /// `<sysfs>/dev/block`, where block devices are named by major:minor.
    dev_block: PathBuf,
}

#[derive(Debug, Default)]
enum Health {
    /// No poll has finished yet.
    #[default]
    Pending,
    Answering,
    NotAnswering(String),
}

#[derive(Default)]
struct State {
    health: Health,
    containers: Arc<BTreeMap<String, ContainerMetrics>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // The lock is only held to swap values in and out: a panic elsewhere
    // cannot leave the state half-written.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn store(state: &Mutex<State>, health: Health, containers: BTreeMap<String, ContainerMetrics>) {
    let mut state = lock(state);
    state.health = health;
    state.containers = Arc::new(containers);
}

pub struct ContainersCollector {
    settings: Arc<Settings>,
    label_names: Vec<LabelName>,
    state: Arc<Mutex<State>>,
    /// One message per tick asks the poller for the next poll; dropping the
    /// collector closes it, and the poller stops.
    ticks: watch::Sender<()>,
    started: bool,
    /// Why the engine cannot be asked at all (a `DOCKER_HOST` that is not a
    /// Unix socket): reported on every tick, as the collector's failure.
    unusable: Option<String>,
}

impl ContainersCollector {
    /// Checks the options; the poller starts on the first tick, as every
    /// background source's task does: a config is built to be checked too
    /// (`outrider check`, every reload), and checking must not ask the
    /// engine anything.
    pub fn new(config: &Config, paths: &HostPaths) -> Result<Self, BuildError> {
        let refuse = |reason: String| BuildError {
            collector: COLLECTOR,
            reason,
        };
        if config.timeout.is_zero() {
            return Err(refuse(
                "timeout must be more than 0s (for example 5s)".into(),
            ));
        }
        let mut label_names: Vec<LabelName> = Vec::new();
        for key in &config.label_allowlist {
            let name = label_name(key);
            if key.is_empty() {
                return Err(refuse("label_allowlist: empty label key".into()));
            }
            if label_names.iter().any(|n| *n == name) {
                return Err(refuse(format!(
                    "label_allowlist: {key:?} gives the label name {name}, as another key does"
                )));
            }
            label_names.push(name.into());
        }
        let mut unusable = None;
        let host = match &config.docker_host {
            Some(host) => {
                socket_path(host).map_err(|e| refuse(format!("docker_host: {e}")))?;
                host.clone()
            }
            None => {
                let host = std::env::var("DOCKER_HOST")
                    .ok()
                    .filter(|h| !h.is_empty())
                    .unwrap_or_else(|| DEFAULT_DOCKER_HOST.to_owned());
                // An unrelated tool's DOCKER_HOST must not stop outrider: this
                // collector alone fails, and says why.
                if let Err(e) = socket_path(&host) {
                    unusable = Some(format!(
                        "DOCKER_HOST: {e} (set collectors.containers.docker_host)"
                    ));
                }
                host
            }
        };
        let (ticks, _) = watch::channel(());
        Ok(ContainersCollector {
            settings: Arc::new(Settings {
                host,
                timeout: config.timeout,
                label_keys: config.label_allowlist.clone(),
                dev_block: paths.sys("dev/block"),
            }),
            label_names,
            state: Arc::default(),
            ticks,
            started: false,
            unusable,
        })
    }

    fn failure(&self, reason: String) -> CollectError {
        CollectError::Peer {
            peer: format!("container engine at {}", self.settings.host),
            reason,
        }
    }

    fn start_on(&mut self, runtime: &tokio::runtime::Handle) {
        if self.started || self.unusable.is_some() {
            return;
        }
        runtime.spawn(poll_engine(
            Arc::clone(&self.settings),
            Arc::clone(&self.state),
            self.ticks.subscribe(),
        ));
        self.started = true;
    }
}

impl Collector for ContainersCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        if let Some(reason) = &self.unusable {
            return Err(self.failure(reason.clone()));
        }
        if !self.started {
            let runtime = tokio::runtime::Handle::try_current()
                .map_err(|_| self.failure("no tokio runtime to poll the engine from".to_owned()))?;
            self.start_on(&runtime);
        }
        self.ticks.send_replace(());
        let containers = {
            let state = lock(&self.state);
            if let Health::NotAnswering(reason) = &state.health {
                return Err(self.failure(reason.clone()));
            }
            Arc::clone(&state.containers)
        };
        out.extend(families(containers.values(), &self.label_names));
        Ok(())
    }
}

/// The poller: polls at once, then after every tick; while the engine does
/// not answer, after each backoff delay. Ends when the collector is dropped.
async fn poll_engine(
    settings: Arc<Settings>,
    state: Arc<Mutex<State>>,
    mut ticks: watch::Receiver<()>,
) {
    let mut client: Option<Docker> = None;
    let mut backoff = Backoff::default();
    loop {
        let previous = Arc::clone(&lock(&state).containers);
        match poll(&settings, &mut client, &previous).await {
            Ok(containers) => {
                backoff.reset();
                store(&state, Health::Answering, containers);
                if ticks.changed().await.is_err() {
                    return;
                }
            }
            Err(reason) => {
                client = None;
                let delay = backoff.next_delay();
                debug!(collector = COLLECTOR, host = %settings.host, error = %reason, retry_in = ?delay, "container engine not answering");
                store(&state, Health::NotAnswering(reason), BTreeMap::new());
                let deadline = tokio::time::Instant::now() + delay;
                loop {
                    match tokio::time::timeout_at(deadline, ticks.changed()).await {
                        Ok(Ok(())) => continue,
                        Ok(Err(_)) => return,
                        Err(_) => break,
                    }
                }
            }
        }
    }
}

/// One poll: the running containers and their figures. A container whose
/// read fails keeps its last figures while it is listed; when every read
/// fails, the poll does.
async fn poll(
    settings: &Arc<Settings>,
    client: &mut Option<Docker>,
    previous: &BTreeMap<String, ContainerMetrics>,
) -> Result<BTreeMap<String, ContainerMetrics>, String> {
    let docker = match client {
        Some(docker) => docker.clone(),
        None => {
            let docker = connect(settings).await?;
            *client = Some(docker.clone());
            docker
        }
    };
    let listed = bounded(
        settings.timeout,
        "listing containers",
        docker.list_containers(None),
    )
    .await?;
    let mut reads = JoinSet::new();
    for id in listed.into_iter().filter_map(|c| c.id) {
        let docker = docker.clone();
        let settings = Arc::clone(settings);
        reads.spawn(async move {
            let read = read_container(&docker, &settings, &id).await;
            (id, read)
        });
    }
    let mut containers = BTreeMap::new();
    let mut last_failure = None;
    while let Some(joined) = reads.join_next().await {
        let Ok((id, read)) = joined else {
            continue;
        };
        match read {
            Ok(metrics) => {
                containers.insert(id, metrics);
            }
            Err(reason) => {
                debug!(collector = COLLECTOR, container = %id, error = %reason, "container not read");
                if let Some(old) = previous.get(&id) {
                    containers.insert(id.clone(), old.clone());
                }
                last_failure = Some(format!("container {id}: {reason}"));
            }
        }
    }
    match last_failure {
        Some(reason) if containers.is_empty() => Err(reason),
        _ => Ok(containers),
    }
}

async fn connect(settings: &Settings) -> Result<Docker, String> {
    // bollard's own timeout counts whole seconds; ours, finer, ends first.
    let seconds = settings.timeout.as_secs_f64().ceil().max(1.0) as u64;
    let docker = Docker::connect_with_unix(&settings.host, seconds, API_DEFAULT_VERSION)
        .map_err(|e| super::describe_error(&e))?;
    bounded(
        settings.timeout,
        "asking its API version",
        docker.negotiate_version(),
    )
    .await
}

async fn read_container(
    docker: &Docker,
    settings: &Settings,
    id: &str,
) -> Result<ContainerMetrics, String> {
    let one_shot = StatsOptionsBuilder::new()
        .stream(false)
        .one_shot(true)
        .build();
    let stats = async {
        let stream = docker.stats(id, Some(one_shot));
        let mut stream = std::pin::pin!(stream);
        stream.next().await.transpose()
    };
    let (inspect, stats) = tokio::join!(
        bounded(
            settings.timeout,
            "inspecting it",
            docker.inspect_container(id, None)
        ),
        bounded(settings.timeout, "reading its stats", stats),
    );
    let (inspect, stats) = (inspect?, stats?.ok_or("the engine sent no stats")?);
    let dev_block = &settings.dev_block;
    container_metrics(
        &inspect,
        &stats,
        &settings.label_keys,
        &|major, minor| device_name(dev_block, major, minor),
        unix_now(),
    )
}

/// One request to the engine, bounded in time.
async fn bounded<T, E: std::error::Error>(
    limit: Duration,
    what: &str,
    request: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(limit, request).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(format!("{what}: {}", super::describe_error(&e))),
        Err(_) => Err(format!(
            "{what}: no answer within {}",
            humantime::format_duration(limit)
        )),
    }
}

/// `/dev/<name>` of a block device, from the `<sysfs>/dev/block/MAJ:MIN` link.
fn device_name(dev_block: &Path, major: u64, minor: u64) -> Option<String> {
    let target = std::fs::read_link(dev_block.join(format!("{major}:{minor}"))).ok()?;
    Some(format!("/dev/{}", target.file_name()?.to_str()?))
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "ac3eb0860223b1529570d87496db6cb3f1a0c58df8cfadb03d5d8d34dc1d5c42";

    fn inspect() -> ContainerInspectResponse {
        serde_json::from_str(&format!(
            r#"{{"Id": "{ID}", "Name": "/shop-web",
                "Config": {{"Image": "nginx:1.25", "Labels": {{"app": "shop", "team": "a"}},
                            "Env": ["SECRET=hunter2"]}},
                "HostConfig": {{"Memory": 268435456}},
                "Created": "2026-11-22T01:12:10.842074086Z",
                "State": {{"Status": "running", "Running": true,
                           "StartedAt": "2026-11-22T01:12:11.5Z",
                           "FinishedAt": "0001-01-01T00:00:00Z"}}}}"#
        ))
        .unwrap()
    }

    fn stats(json: &str) -> ContainerStatsResponse {
        serde_json::from_str(json).unwrap()
    }

    /// Docker on cgroup v1 (the API reference's example, with page cache).
    const DOCKER_CGROUP_V1: &str = r#"{
        "read": "2026-11-22T01:12:14.59200128Z",
        "pids_stats": {"current": 3},
        "networks": {
            "eth0": {"rx_bytes": 5338, "rx_dropped": 1, "rx_errors": 2, "rx_packets": 36,
                     "tx_bytes": 648, "tx_dropped": 3, "tx_errors": 4, "tx_packets": 8},
            "eth5": {"rx_bytes": 0, "rx_dropped": 0, "rx_errors": 0, "rx_packets": 0,
                     "tx_bytes": 0, "tx_dropped": 0, "tx_errors": 0, "tx_packets": 0}
        },
        "memory_stats": {
            "stats": {"cache": 1048576, "rss": 6537216, "inactive_file": 1048576,
                      "total_cache": 1048576, "total_rss": 6537216,
                      "total_inactive_file": 1048576, "total_active_file": 0},
            "max_usage": 7651904, "usage": 7585792, "failcnt": 0, "limit": 67108864
        },
        "blkio_stats": {"io_service_bytes_recursive": [
            {"major": 8, "minor": 0, "op": "Read", "value": 4096},
            {"major": 8, "minor": 0, "op": "Write", "value": 8192},
            {"major": 8, "minor": 0, "op": "Sync", "value": 12288},
            {"major": 8, "minor": 0, "op": "Total", "value": 12288},
            {"major": 253, "minor": 1, "op": "Read", "value": 100},
            {"major": 253, "minor": 2, "op": "Read", "value": 20}
        ]},
        "cpu_stats": {
            "cpu_usage": {"percpu_usage": [50107677, 50107678], "usage_in_usermode": 50000000,
                          "total_usage": 100215355, "usage_in_kernelmode": 30000000},
            "system_cpu_usage": 739306590000000, "online_cpus": 2,
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}
        },
        "precpu_stats": {"cpu_usage": {"total_usage": 0}}
    }"#;

    /// podman 4.3.1's Docker API on cgroup v1, as it answered on this
    /// project's machines.
    const PODMAN_4_CGROUP_V1: &str = r#"{
        "read": "2026-11-22T01:12:14.59200128Z", "preread": "0001-01-01T00:00:00Z",
        "pids_stats": {"current": 2},
        "blkio_stats": {"io_service_bytes_recursive": [], "io_serviced_recursive": null,
                        "io_queue_recursive": null, "io_service_time_recursive": null,
                        "io_wait_time_recursive": null, "io_merged_recursive": null,
                        "io_time_recursive": null, "sectors_recursive": null},
        "num_procs": 0, "storage_stats": {},
        "cpu_stats": {"cpu_usage": {"total_usage": 814151831,
                                    "percpu_usage": [578909722, 235242109],
                                    "usage_in_kernelmode": 20000000,
                                    "usage_in_usermode": 794151831},
                      "system_cpu_usage": 1960209522193, "online_cpus": 2, "cpu": 0,
                      "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}},
        "precpu_stats": {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0,
                                       "usage_in_usermode": 0}, "cpu": 0,
                         "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}},
        "memory_stats": {"usage": 573440, "limit": 25325268992},
        "name": "outrider-test-b",
        "Id": "ac3eb0860223b1529570d87496db6cb3f1a0c58df8cfadb03d5d8d34dc1d5c42",
        "networks": {"network": {"rx_bytes": 472, "rx_packets": 0, "rx_errors": 0,
                                 "rx_dropped": 0, "tx_bytes": 1506, "tx_packets": 0,
                                 "tx_errors": 0, "tx_dropped": 0}}
    }"#;

    /// Docker on cgroup v2, with more inactive page cache than usage.
    const DOCKER_CGROUP_V2: &str = r#"{
        "memory_stats": {"usage": 1000, "limit": 4000,
                         "stats": {"anon": 600, "file": 300, "inactive_file": 2000}},
        "blkio_stats": {"io_service_bytes_recursive": [
            {"major": 253, "minor": 0, "op": "read", "value": 100},
            {"major": 253, "minor": 0, "op": "write", "value": 50}
        ]},
        "cpu_stats": {"cpu_usage": {"total_usage": 0, "usage_in_usermode": 0,
                                    "usage_in_kernelmode": 0}}
    }"#;

    fn named(major: u64, minor: u64) -> Option<String> {
        match (major, minor) {
            (8, 0) => Some("/dev/sda".into()),
            (253, 0) => Some("/dev/vda".into()),
            _ => None,
        }
    }

    fn metrics(stats_json: &str) -> ContainerMetrics {
        container_metrics(
            &inspect(),
            &stats(stats_json),
            &["app".to_owned(), "missing".to_owned()],
            &named,
            1_795_309_999.5,
        )
        .unwrap()
    }

    #[test]
    fn docker_on_cgroup_v1_gives_every_figure() {
        let m = metrics(DOCKER_CGROUP_V1);
        assert_eq!(m.id, ID);
        assert_eq!(m.name, "shop-web");
        assert_eq!(m.image, "nginx:1.25");
        assert_eq!(m.labels, vec!["shop".to_owned(), String::new()]);
        assert_eq!(m.cpu_usage_seconds, Some(0.100215355));
        assert_eq!(m.cpu_user_seconds, Some(0.05));
        assert_eq!(m.cpu_system_seconds, Some(0.03));
        assert_eq!(m.memory_usage_bytes, Some(7_585_792.0));
        assert_eq!(m.memory_working_set_bytes, Some(6_537_216.0));
        assert_eq!(m.memory_rss_bytes, Some(6_537_216.0));
        assert_eq!(m.memory_cache_bytes, Some(1_048_576.0));
        assert_eq!(m.memory_limit_bytes, Some(268_435_456.0));
        assert_eq!(
            m.networks[0],
            InterfaceCounters {
                interface: "eth0".into(),
                receive_bytes: Some(5338.0),
                receive_packets: Some(36.0),
                receive_errors: Some(2.0),
                receive_dropped: Some(1.0),
                transmit_bytes: Some(648.0),
                transmit_packets: Some(8.0),
                transmit_errors: Some(4.0),
                transmit_dropped: Some(3.0),
            }
        );
        // An idle interface's zeros are real zeros.
        assert_eq!(m.networks[1].interface, "eth5");
        assert_eq!(m.networks[1].receive_packets, Some(0.0));
        // Devices that cannot be named add up under device="".
        assert_eq!(
            m.block_io,
            vec![
                DeviceIo {
                    device: String::new(),
                    read_bytes: 120.0,
                    write_bytes: 0.0
                },
                DeviceIo {
                    device: "/dev/sda".into(),
                    read_bytes: 4096.0,
                    write_bytes: 8192.0
                },
            ]
        );
        let started = m.start_time_seconds.unwrap();
        assert!((started - 1_795_309_930.842_074).abs() < 1e-6, "{started}");
        assert_eq!(m.last_seen, 1_795_309_999.5);
    }

    #[test]
    fn what_podman_does_not_report_is_left_out() {
        let m = metrics(PODMAN_4_CGROUP_V1);
        assert_eq!(m.cpu_usage_seconds, Some(0.814151831));
        assert_eq!(m.cpu_system_seconds, Some(0.02));
        assert_eq!(m.cpu_user_seconds, Some(0.794151831));
        assert_eq!(m.memory_usage_bytes, Some(573_440.0));
        // No memory.stat: no working set, RSS or cache.
        assert_eq!(m.memory_working_set_bytes, None);
        assert_eq!(m.memory_rss_bytes, None);
        assert_eq!(m.memory_cache_bytes, None);
        // Only the byte counters of "network" mean something.
        assert_eq!(
            m.networks,
            vec![InterfaceCounters {
                interface: "network".into(),
                receive_bytes: Some(472.0),
                transmit_bytes: Some(1506.0),
                ..InterfaceCounters::default()
            }]
        );
        assert!(m.block_io.is_empty());
    }

    #[test]
    fn cgroup_v2_names_and_a_working_set_floored_at_zero() {
        let m = metrics(DOCKER_CGROUP_V2);
        assert_eq!(m.memory_working_set_bytes, Some(0.0));
        assert_eq!(m.memory_rss_bytes, Some(600.0));
        assert_eq!(m.memory_cache_bytes, Some(300.0));
        assert_eq!(
            m.block_io,
            vec![DeviceIo {
                device: "/dev/vda".into(),
                read_bytes: 100.0,
                write_bytes: 50.0
            }]
        );
        // Zero CPU time in all is a container that has not run yet.
        assert_eq!(m.cpu_usage_seconds, Some(0.0));
        assert_eq!(m.cpu_user_seconds, Some(0.0));
        assert!(m.networks.is_empty());
    }

    #[test]
    fn a_split_of_zeros_under_a_busy_total_is_left_out() {
        let s = stats(
            r#"{"cpu_stats": {"cpu_usage": {"total_usage": 5000000000,
                "usage_in_usermode": 0, "usage_in_kernelmode": 0}}}"#,
        );
        let m = container_metrics(&inspect(), &s, &[], &named, 0.0).unwrap();
        assert_eq!(m.cpu_usage_seconds, Some(5.0));
        assert_eq!((m.cpu_user_seconds, m.cpu_system_seconds), (None, None));
    }

    #[test]
    fn unlimited_memory_is_zero_and_an_inspect_without_id_is_refused() {
        let mut unlimited = inspect();
        unlimited.host_config.as_mut().unwrap().memory = Some(0);
        let m = container_metrics(&unlimited, &stats("{}"), &[], &named, 0.0).unwrap();
        assert_eq!(m.memory_limit_bytes, Some(0.0));
        assert_eq!(m.memory_usage_bytes, None);
        let mut anonymous = inspect();
        anonymous.id = None;
        assert!(container_metrics(&anonymous, &stats("{}"), &[], &named, 0.0).is_err());
    }

    #[test]
    fn timestamps_as_engines_write_them() {
        assert_eq!(parse_timestamp("1970-01-01T00:01:40Z"), Some(100.0));
        assert_eq!(
            parse_timestamp("2026-11-22T01:12:10.5Z"),
            Some(1_795_309_930.5)
        );
        assert_eq!(
            parse_timestamp("2026-11-22T02:12:10.5+01:00"),
            Some(1_795_309_930.5)
        );
        assert_eq!(
            parse_timestamp("2026-11-21T23:42:10.5-01:30"),
            Some(1_795_309_930.5)
        );
        assert_eq!(parse_timestamp("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_timestamp(""), None);
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn families_carry_cadvisor_names_and_labels() {
        let label_names: Vec<LabelName> =
            vec![label_name("app").into(), label_name("missing").into()];
        let containers = [metrics(DOCKER_CGROUP_V1), metrics(PODMAN_4_CGROUP_V1)];
        let exported = families(&containers, &label_names);
        let find = |name: &str| exported.iter().find(|f| f.name == name);
        let cpu = find("container_cpu_usage_seconds_total").unwrap();
        assert_eq!(cpu.kind, crate::metric::MetricType::Counter);
        assert_eq!(cpu.samples.len(), 2);
        let labels: Vec<(&str, &str)> = cpu.samples[0]
            .labels
            .iter()
            .map(|(n, v)| (n.as_ref(), v.as_str()))
            .collect();
        let id = format!("/docker/{ID}");
        assert_eq!(
            labels,
            vec![
                ("container_label_app", "shop"),
                ("container_label_missing", ""),
                ("cpu", "total"),
                ("id", id.as_str()),
                ("image", "nginx:1.25"),
                ("name", "shop-web"),
            ]
        );
        assert_eq!(
            find("container_memory_working_set_bytes").unwrap().kind,
            crate::metric::MetricType::Gauge
        );
        // podman's container has no working set series; Docker's has.
        assert_eq!(
            find("container_memory_working_set_bytes")
                .unwrap()
                .samples
                .len(),
            1
        );
        let received = find("container_network_receive_packets_total").unwrap();
        assert_eq!(received.samples.len(), 2, "eth0 and eth5 of the Docker one");
        let reads = find("container_fs_reads_bytes_total").unwrap();
        assert!(reads.samples.iter().any(|s| {
            s.labels
                .iter()
                .any(|(n, v)| n == "device" && v == "/dev/sda")
        }));
        assert_eq!(find("container_last_seen").unwrap().samples.len(), 2);
        // Families are cAdvisor's, and none is empty.
        for family in &exported {
            assert!(FAMILIES.iter().any(|d| d.name == family.name));
            assert!(!family.samples.is_empty(), "{}", family.name);
        }
        assert!(families(&[], &label_names).is_empty());
    }

    #[test]
    fn label_names_are_sanitized_and_must_not_collide() {
        assert_eq!(label_name("app"), "container_label_app");
        assert_eq!(
            label_name("io.kubernetes.pod-name"),
            "container_label_io_kubernetes_pod_name"
        );
        let config = Config {
            label_allowlist: vec!["a.b".into(), "a-b".into()],
            ..Config::default()
        };
        let error = ContainersCollector::new(&config, &HostPaths::default())
            .err()
            .unwrap();
        assert!(error.reason.contains("container_label_a_b"), "{error}");
    }

    #[test]
    fn config_defaults_and_refusals() {
        let config: Config =
            serde_yaml_ng::from_str("label_allowlist: [app]\ntimeout: 2s\n").unwrap();
        assert!(config.enabled);
        assert_eq!(config.docker_host, None);
        assert_eq!(config.timeout, Duration::from_secs(2));
        assert!(serde_yaml_ng::from_str::<Config>("labels: [app]\n").is_err());
        for bad in [
            Config {
                docker_host: Some("tcp://10.0.0.1:2375".into()),
                ..Config::default()
            },
            Config {
                timeout: Duration::ZERO,
                ..Config::default()
            },
            Config {
                label_allowlist: vec![String::new()],
                ..Config::default()
            },
        ] {
            assert!(
                ContainersCollector::new(&bad, &HostPaths::default()).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn backoff_doubles_up_to_thirty_seconds_and_resets() {
        let mut backoff = Backoff::default();
        let delays: Vec<u64> = (0..7).map(|_| backoff.next_delay().as_secs()).collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 16, 30, 30]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_secs(1));
    }

    #[test]
    fn block_devices_are_named_from_sysfs() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("../../devices/virtual/block/vda", dir.path().join("253:0"))
            .unwrap();
        assert_eq!(device_name(dir.path(), 253, 0), Some("/dev/vda".into()));
        assert_eq!(device_name(dir.path(), 8, 0), None);
    }

    fn absent_engine() -> Config {
        Config {
            docker_host: Some("unix:///nonexistent/outrider-test/docker.sock".into()),
            ..Config::default()
        }
    }

    #[test]
    fn built_outside_a_runtime_it_says_so_on_collect() {
        let mut collector =
            ContainersCollector::new(&absent_engine(), &HostPaths::default()).unwrap();
        let error = collector.collect(&mut Vec::new()).unwrap_err();
        assert!(error.to_string().contains("no tokio runtime"), "{error}");
    }

    #[test]
    fn an_absent_engine_fails_the_collector_without_blocking_it() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let _inside = runtime.enter();
        let mut collector =
            ContainersCollector::new(&absent_engine(), &HostPaths::default()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let error = loop {
            let started = std::time::Instant::now();
            let result = collector.collect(&mut Vec::new());
            assert!(
                started.elapsed() < Duration::from_millis(100),
                "collect never waits for the engine"
            );
            if let Err(error) = result {
                break error;
            }
            assert!(std::time::Instant::now() < deadline, "no failure reported");
            std::thread::sleep(Duration::from_millis(20));
        };
        let text = error.to_string();
        assert!(
            text.starts_with("container engine at unix:///nonexistent/outrider-test/docker.sock: "),
            "{text}"
        );
        assert!(text.contains("not found"), "{text}");
    }

    #[test]
    fn an_unusable_docker_host_from_the_environment_fails_the_collector_only() {
        // Not through the environment (tests share it): the same path as a
        // DOCKER_HOST that is not a socket.
        let mut collector =
            ContainersCollector::new(&Config::default(), &HostPaths::default()).unwrap();
        collector.unusable = Some("DOCKER_HOST: \"tcp://x\" is not a unix:// address".into());
        let error = collector.collect(&mut Vec::new()).unwrap_err();
        assert!(error.to_string().contains("DOCKER_HOST"), "{error}");
    }
}
