//! The pod scope end to end: the binary on a pod-like fixture tree
//! (tests/fixtures/pod: a pause container, an app of another user and the
//! sidecar, seen through a shared process namespace; the pod's volume; the
//! containers' cgroup v2 files), and what it exports, leaves out and warns.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::SeriesKey;

const APP: &str = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7c1f.slice/cri-containerd-4b1a9e0d6c2f.scope";

/// A copy of tests/fixtures/pod, so a test can change it.
fn pod_tree() -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(&common::fixtures().join("pod"), dir.path());
    dir
}

struct Pod {
    process: common::Process,
    url: String,
    _dir: tempfile::TempDir,
}

impl Pod {
    /// outrider on the tree `root`, the scope chosen by `config`, `args` and `envs`.
    fn start(root: &Path, config: &str, args: &[&str], envs: &[(&str, &str)]) -> Pod {
        let dir = tempfile::tempdir().unwrap();
        let procfs = root.join("proc").display().to_string();
        let sysfs = root.join("sys").display().to_string();
        let rootfs = root.join("root").display().to_string();
        let mut all = vec![
            "--path.procfs",
            &procfs,
            "--path.sysfs",
            &sysfs,
            "--path.rootfs",
            &rootfs,
            "--collect.interval",
            "200ms",
        ];
        all.extend_from_slice(args);
        let (process, address) = common::spawn_configured(dir.path(), config, &all, envs);
        let url = format!("http://{address}/metrics");
        common::wait_until(Duration::from_secs(10), "the first tick", || {
            common::get(&url, &[]).status == 200
        });
        Pod {
            process,
            url,
            _dir: dir,
        }
    }

    fn scrape(&self) -> BTreeMap<SeriesKey, f64> {
        common::parse_samples(&common::get(&self.url, &[]).text())
    }

    /// Waits for three more ticks, so a warning that is logged more than
    /// once would show.
    fn three_more_ticks(&self) {
        for _ in 0..3 {
            common::wait_for_tick_after_now(&self.url);
        }
    }
}

fn value(samples: &BTreeMap<SeriesKey, f64>, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples.get(&common::series_key(name, labels)).copied()
}

fn has_family(samples: &BTreeMap<SeriesKey, f64>, prefix: &str) -> bool {
    samples.keys().any(|k| k.name.starts_with(prefix))
}

fn success(samples: &BTreeMap<SeriesKey, f64>) -> BTreeMap<String, f64> {
    common::family(samples, "outrider_collector_success")
        .into_iter()
        .map(|(labels, value)| (labels["collector"].clone(), value))
        .collect()
}

/// The value of `name` for the app's container (by its cgroup path).
fn app(samples: &BTreeMap<SeriesKey, f64>, name: &str) -> Option<f64> {
    common::family(samples, name)
        .into_iter()
        .find(|(labels, _)| labels.get("id").map(String::as_str) == Some(APP))
        .map(|(_, v)| v)
}

#[test]
fn a_pod_sees_its_processes_network_volumes_and_cgroups_and_none_of_the_nodes_figures() {
    let root = common::fixtures().join("pod");
    let pod = Pod::start(&root, "", &["--scope", "pod"], &[]);
    let samples = pod.scrape();
    let log = pod.process.log_text();

    // The collectors of the pod's figures ran and succeeded; the node's did not run.
    let by_collector = success(&samples);
    for collector in [
        "processes",
        "cgroups",
        "filesystem",
        "netdev",
        "netclass",
        "self",
    ] {
        assert_eq!(
            by_collector.get(collector),
            Some(&1.0),
            "{collector}: {by_collector:?}\n{log}"
        );
    }
    for collector in [
        "cpu",
        "meminfo",
        "loadavg",
        "stat",
        "diskstats",
        "time",
        "uname",
        "containers",
        "vmstat",
        "filefd",
        "pressure",
        "softnet",
        "schedstat",
        "hwmon",
        "mdadm",
    ] {
        assert!(
            !by_collector.contains_key(collector),
            "{collector} runs in a pod: {by_collector:?}"
        );
    }
    for prefix in [
        "node_cpu_",
        "node_memory_",
        "node_load",
        "node_disk_",
        "node_time_",
        "node_uname_",
        "node_boot_time",
        "node_context_switches",
        "node_vmstat_",
        "node_filefd_",
        "node_pressure_",
        "node_softnet_",
    ] {
        assert!(
            !has_family(&samples, prefix),
            "{prefix}* is the node's, not the pod's"
        );
    }

    // The pod's processes under process-exporter's names, through the shared namespace.
    for group in ["pause", "server", "outrider"] {
        assert_eq!(
            value(
                &samples,
                "namedprocess_namegroup_num_procs",
                &[("groupname", group)]
            ),
            Some(1.0),
            "{group}"
        );
    }
    // The app belongs to another user: its fds and io are unreadable, said
    // so, and not exported as 0.
    for field in ["fd", "io"] {
        assert_eq!(
            value(
                &samples,
                "outrider_process_unreadable",
                &[("groupname", "server"), ("field", field)]
            ),
            Some(1.0),
            "{field}"
        );
        assert_eq!(
            value(
                &samples,
                "outrider_process_unreadable",
                &[("groupname", "pause"), ("field", field)]
            ),
            Some(0.0),
            "{field}"
        );
    }
    assert_eq!(
        value(
            &samples,
            "namedprocess_namegroup_open_filedesc",
            &[("groupname", "server")]
        ),
        None
    );
    assert_eq!(
        value(
            &samples,
            "namedprocess_namegroup_worst_fd_ratio",
            &[("groupname", "server")]
        ),
        None
    );
    assert_eq!(
        value(
            &samples,
            "namedprocess_namegroup_read_bytes_total",
            &[("groupname", "server")]
        ),
        None
    );
    assert_eq!(
        value(
            &samples,
            "namedprocess_namegroup_open_filedesc",
            &[("groupname", "pause")]
        ),
        Some(3.0)
    );

    // The pod's network namespace.
    assert!(
        value(
            &samples,
            "node_network_receive_bytes_total",
            &[("device", "eth0")]
        )
        .is_some()
    );
    assert!(has_family(&samples, "node_network_up"));
    // Linux keeps these per network namespace: the pod's own.
    for family in [
        "node_netstat_Tcp_CurrEstab",
        "node_sockstat_TCP_inuse",
        "node_sockstat_TCP6_inuse",
        "node_arp_entries",
        "node_udp_queues",
    ] {
        assert!(has_family(&samples, family), "{family} is the pod's");
    }
    // Socket memory and orphans are counted for the whole node.
    for family in [
        "node_sockstat_TCP_mem",
        "node_sockstat_TCP_mem_bytes",
        "node_sockstat_TCP_alloc",
        "node_sockstat_TCP_orphan",
    ] {
        assert!(!has_family(&samples, family), "{family} is the node's");
    }

    // The volume mounted into the sidecar; not the root overlay (the node's
    // disk), not /etc/hosts (a file the kubelet mounts).
    let mounts: Vec<String> = common::family(&samples, "node_filesystem_size_bytes")
        .into_keys()
        .map(|labels| labels["mountpoint"].clone())
        .collect();
    assert_eq!(mounts, ["/data"], "filesystems: {mounts:?}");
    assert!(
        value(
            &samples,
            "node_filesystem_size_bytes",
            &[
                ("device", "/dev/sdb"),
                ("fstype", "ext4"),
                ("mountpoint", "/data")
            ]
        )
        .is_some_and(|size| size > 0.0)
    );

    // The containers' cgroup v2 figures under cAdvisor's names.
    let ids: Vec<String> = common::family(&samples, "container_memory_working_set_bytes")
        .into_keys()
        .map(|labels| labels["id"].clone())
        .collect();
    assert_eq!(ids.len(), 3, "pause, app and sidecar: {ids:?}");
    let expected = [
        ("container_memory_usage_bytes", 209_715_200.0),
        (
            "container_memory_working_set_bytes",
            209_715_200.0 - 41_943_040.0,
        ),
        ("container_memory_rss", 150_994_944.0),
        ("container_memory_cache", 52_428_800.0),
        ("container_spec_memory_limit_bytes", 268_435_456.0),
        ("container_cpu_usage_seconds_total", 12.5),
        ("container_cpu_cfs_periods_total", 1000.0),
        ("container_cpu_cfs_throttled_periods_total", 40.0),
        ("container_cpu_cfs_throttled_seconds_total", 0.2),
        ("container_spec_cpu_quota", 50_000.0),
        ("container_spec_cpu_period", 100_000.0),
        ("container_oom_events_total", 1.0),
    ];
    for (name, want) in expected {
        let got = app(&samples, name).unwrap_or_else(|| panic!("{name} of the app"));
        assert!((got - want).abs() < 1e-6, "{name}: {got}, want {want}");
    }
    let labels = common::family(&samples, "container_cpu_usage_seconds_total")
        .into_keys()
        .find(|l| l["id"] == APP)
        .cloned()
        .unwrap();
    assert_eq!(labels["name"], "4b1a9e0d6c2f");
    assert_eq!(labels["cpu"], "total");
    // The pause container has no quota: left out, not 0.
    assert_eq!(
        common::family(&samples, "container_spec_cpu_quota").len(),
        2,
        "only the two containers with a quota"
    );

    // No warning in a pod that shares its process namespace and whose
    // cgroups are visible.
    assert!(!log.contains("collector failed"), "{log}");
    let text = common::get(&pod.url, &[]).text();
    let problems = common::promtool_problems(text.as_bytes());
    assert!(problems.is_empty(), "promtool: {problems:?}");
}

#[test]
fn a_pod_without_a_shared_process_namespace_says_once_what_to_add() {
    let tree = pod_tree();
    // Only the sidecar's own process is visible.
    for pid in ["1", "7"] {
        std::fs::remove_dir_all(tree.path().join("proc").join(pid)).unwrap();
    }
    let pod = Pod::start(tree.path(), "scope: pod\n", &[], &[]);
    pod.three_more_ticks();
    let samples = pod.scrape();
    let log = pod.process.log_text();
    assert_eq!(success(&samples).get("processes"), Some(&0.0), "{log}");
    assert!(
        !has_family(&samples, "namedprocess_namegroup_"),
        "no process figures at all"
    );
    assert_eq!(
        log.matches("shareProcessNamespace: true").count(),
        1,
        "one warning that says what to add:\n{log}"
    );
    // The sidecar's own cgroup is visible and exported.
    assert_eq!(success(&samples).get("cgroups"), Some(&1.0), "{log}");
}

#[test]
fn cgroups_outside_the_containers_view_are_reported_once_and_not_exported() {
    let tree = pod_tree();
    // As a private cgroup namespace shows a neighbour.
    std::fs::write(
        tree.path().join("proc/7/cgroup"),
        "0::/../cri-containerd-4b1a9e0d6c2f.scope\n",
    )
    .unwrap();
    let pod = Pod::start(tree.path(), "", &[], &[("OUTRIDER_SCOPE", "pod")]);
    pod.three_more_ticks();
    let samples = pod.scrape();
    let log = pod.process.log_text();
    assert_eq!(success(&samples).get("cgroups"), Some(&0.0), "{log}");
    assert!(
        !has_family(&samples, "container_"),
        "nothing exported for lack of access"
    );
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("collector=cgroups"))
        .collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(
        warnings[0].contains("/../cri-containerd-4b1a9e0d6c2f.scope")
            && warnings[0].contains("hostPath"),
        "says which cgroup and what would make it visible: {}",
        warnings[0]
    );
    // The processes are still seen.
    assert_eq!(success(&samples).get("processes"), Some(&1.0));
}

#[test]
fn the_host_scope_is_unchanged_by_default() {
    let root = common::fixtures().join("pod");
    let pod = Pod::start(&root, "", &[], &[]);
    let samples = pod.scrape();
    let by_collector = success(&samples);
    for collector in [
        "cpu",
        "meminfo",
        "loadavg",
        "stat",
        "time",
        "uname",
        "processes",
    ] {
        assert!(
            by_collector.contains_key(collector),
            "{collector}: {by_collector:?}"
        );
    }
    assert!(
        !by_collector.contains_key("cgroups"),
        "cgroups is the pod scope's"
    );
    assert!(!has_family(&samples, "container_"));
}

/// A sidecar that runs as user 65534 cannot list another user's
/// /proc/PID/fd nor read its io. Live: outrider as nobody (setpriv), a
/// process of root's. Needs root to start a process as another user, as
/// the test command runs.
#[test]
fn a_non_root_reader_reports_another_users_fds_as_unreadable_not_zero() {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test starts outrider as user 65534 and needs root to do so"
    );
    let setpriv = common::require("setpriv");
    // root's process, with a command line no other process has.
    let marker = format!("86399.{}", std::process::id());
    let target = common::spawn(Path::new("sleep"), std::slice::from_ref(&marker), &[]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let config = dir.path().join("outrider.yml");
    std::fs::write(
        &config,
        format!(
            "collectors:\n  containers: {{enabled: false}}\n  processes:\n    process_names:\n      - name: roots-sleep\n        cmdline: ['^sleep {}$']\n      - name: reader\n        cmdline: ['{}']\n      - name: '{{{{.Comm}}}}'\n        cmdline: ['.+']\n",
            marker.replace('.', "\\."),
            // This outrider, not another one running as root.
            config.display().to_string().replace('.', "\\.")
        ),
    )
    .unwrap();
    let port = common::free_port().to_string();
    let address = format!("127.0.0.1:{port}");
    let storage = dir.path().join("storage").display().to_string();
    let args: Vec<String> = [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--",
        common::outrider_binary().to_str().unwrap(),
        "--config.file",
        config.to_str().unwrap(),
        "--web.listen-address",
        &address,
        "--storage.path",
        &storage,
        "--collect.interval",
        "200ms",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let process = common::spawn(&setpriv, &args, &[]);
    let url = format!("http://{address}/metrics");
    let exited = || !Path::new(&format!("/proc/{}", process.pid())).exists();
    common::wait_until(
        Duration::from_secs(10),
        "outrider as nobody to listen",
        || process.log_text().contains("message=listening") || exited(),
    );
    assert!(!exited(), "outrider exited:\n{}", process.log_text());
    let ready = format!("http://{address}/-/ready");
    common::wait_until(Duration::from_secs(10), "the first tick", || {
        common::get(&ready, &[]).status == 200
    });
    common::wait_for_tick_after_now(&url);
    let samples = common::parse_samples(&common::get(&url, &[]).text());
    drop(target);
    let group = [("groupname", "roots-sleep")];
    assert_eq!(
        value(&samples, "namedprocess_namegroup_num_procs", &group),
        Some(1.0),
        "{}",
        process.log_text()
    );
    for field in ["fd", "io"] {
        assert_eq!(
            value(
                &samples,
                "outrider_process_unreadable",
                &[("groupname", "roots-sleep"), ("field", field)]
            ),
            Some(1.0),
            "{field}"
        );
    }
    for family in [
        "namedprocess_namegroup_open_filedesc",
        "namedprocess_namegroup_worst_fd_ratio",
        "namedprocess_namegroup_read_bytes_total",
        "namedprocess_namegroup_write_bytes_total",
    ] {
        assert_eq!(
            value(&samples, family, &group),
            None,
            "{family} is unknown, not 0"
        );
    }
    // Its own process (this outrider, as nobody) stays readable and counted.
    assert!(
        value(
            &samples,
            "namedprocess_namegroup_open_filedesc",
            &[("groupname", "reader")]
        )
        .is_some_and(|fds| fds > 0.0)
    );
    assert_eq!(
        value(
            &samples,
            "outrider_process_unreadable",
            &[("groupname", "reader"), ("field", "fd")]
        ),
        Some(0.0)
    );
}
