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

mod engine;
mod families;
mod stats;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::watch;

use super::{BuildError, CollectError, Collector};
use crate::metric::{Family, LabelName};
use crate::paths::HostPaths;

use engine::{Health, Settings, State, lock, poll_engine, socket_path};
pub use families::{families, label_name};
pub use stats::{
    ContainerMetrics, DeviceIo, InterfaceCounters, container_metrics, parse_timestamp,
};

const COLLECTOR: &str = "containers";

/// Where Docker listens when neither the config nor `DOCKER_HOST` says.
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

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
                paths: paths.clone(),
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

#[cfg(test)]
mod tests {
    use super::engine::backoff;
    use super::families::FAMILIES;
    use super::stats::device_name;
    use super::*;
    use bollard::models::{ContainerInspectResponse, ContainerStatsResponse};

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
        let mut backoff = backoff();
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
