//! The CPU, memory, throttling, limits and OOM kills of a container, read
//! from its cgroup's files (v2, or v1) under cAdvisor's `container_*` names.
//!
//! Where a cgroup is: `/proc/<pid>/cgroup` names the cgroup of each process
//! (relative to the reader's cgroup namespace), and `/proc/self/mountinfo`
//! says where each cgroup filesystem is mounted and which part of the
//! hierarchy the mount shows (its root). A cgroup outside every mount's root
//! is not visible here: a container in its own cgroup namespace, or one that
//! sees only its own cgroup mounted (Kubernetes' default), cannot read its
//! neighbours' cgroups.
//!
//! How the figures are made, as cAdvisor makes them:
//! - working set = usage − inactive_file, floored at 0;
//! - RSS = `anon` (v2) or `total_rss` (v1); cache = `file` or `total_cache`;
//! - a limit of `max` (v2) or the kernel's "no limit" (v1) is 0;
//! - OOM kills = `oom_kill` of memory.events (v2) or memory.oom_control (v1);
//! - the CPU quota and period in microseconds, the quota left out when unlimited.
//!
//! A file that is missing leaves its figures out (`None`), never 0.
//!
//! In the pod scope this file is also a collector, [`CgroupsCollector`]: the
//! cgroups of the processes the sidecar sees (through the pod's shared
//! process namespace), one container each.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::containers::{self, ContainerMetrics};
use super::mountinfo::{MountInfo, parse_mountinfo};
use super::{CollectError, Collector};
use crate::metric::Family;
use crate::paths::HostPaths;

/// v1 writes this (or more, rounded to the page size) for "no limit".
const V1_NO_LIMIT: f64 = (1u64 << 62) as f64;

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Whether the collector runs (pod scope only; in the host scope the
    /// containers collector reads the same files for the engine's containers).
    pub enabled: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config { enabled: true }
    }
}

/// What one cgroup's files say; `None` is "not there", never zero.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CgroupStats {
    pub cpu_usage_seconds: Option<f64>,
    pub cpu_user_seconds: Option<f64>,
    pub cpu_system_seconds: Option<f64>,
    pub memory_usage_bytes: Option<f64>,
    pub memory_working_set_bytes: Option<f64>,
    pub memory_rss_bytes: Option<f64>,
    pub memory_cache_bytes: Option<f64>,
    pub memory_limit_bytes: Option<f64>,
    pub cfs_periods: Option<f64>,
    pub cfs_throttled_periods: Option<f64>,
    pub cfs_throttled_seconds: Option<f64>,
    pub cpu_quota_us: Option<f64>,
    pub cpu_period_us: Option<f64>,
    pub oom_kills: Option<f64>,
}

/// `key value` lines (memory.stat, cpu.stat, memory.events, cpuacct.stat,
/// memory.oom_control); lines that are not are skipped.
pub fn parse_flat_keyed(text: &str) -> HashMap<&str, f64> {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(' ')?;
            Some((key, value.trim().parse::<f64>().ok()?))
        })
        .collect()
}

/// A file holding one number; `max` (v2's "no limit") is `Ok(None)`.
pub fn parse_single(text: &str) -> Result<Option<f64>, String> {
    let value = text.trim();
    if value == "max" {
        return Ok(None);
    }
    value
        .parse::<f64>()
        .map(Some)
        .map_err(|_| format!("not a number: {value:?}"))
}

/// cpu.max: `$MAX $PERIOD`, `$MAX` being `max` when unlimited.
pub fn parse_cpu_max(text: &str) -> Result<(Option<f64>, f64), String> {
    let mut words = text.split_ascii_whitespace();
    let quota = parse_single(words.next().ok_or("empty cpu.max")?)?;
    let period = words
        .next()
        .ok_or("cpu.max has no period")?
        .parse::<f64>()
        .map_err(|_| format!("cpu.max: bad period in {text:?}"))?;
    Ok((quota, period))
}

/// The figures of a v2 cgroup from its files' text (`None`: no such file).
pub fn parse_v2(file: &dyn Fn(&str) -> Option<String>) -> Result<CgroupStats, String> {
    let mut s = CgroupStats::default();
    let usage = file("memory.current")
        .map(|t| parse_single(&t))
        .transpose()
        .map_err(|e| format!("memory.current: {e}"))?
        .flatten();
    s.memory_usage_bytes = usage;
    if let Some(text) = file("memory.stat") {
        let stat = parse_flat_keyed(&text);
        s.memory_rss_bytes = stat.get("anon").copied();
        s.memory_cache_bytes = stat.get("file").copied();
        s.memory_working_set_bytes = working_set(usage, stat.get("inactive_file").copied());
    }
    if let Some(text) = file("memory.max") {
        s.memory_limit_bytes = Some(
            parse_single(&text)
                .map_err(|e| format!("memory.max: {e}"))?
                .unwrap_or(0.0),
        );
    }
    if let Some(text) = file("memory.events") {
        s.oom_kills = parse_flat_keyed(&text).get("oom_kill").copied();
    }
    if let Some(text) = file("cpu.stat") {
        let stat = parse_flat_keyed(&text);
        let micros = |k: &str| stat.get(k).map(|v| v / 1e6);
        s.cpu_usage_seconds = micros("usage_usec");
        s.cpu_user_seconds = micros("user_usec");
        s.cpu_system_seconds = micros("system_usec");
        // Without a CPU controller enabled, cpu.stat has only the usage.
        s.cfs_periods = stat.get("nr_periods").copied();
        s.cfs_throttled_periods = stat.get("nr_throttled").copied();
        s.cfs_throttled_seconds = micros("throttled_usec");
    }
    if let Some(text) = file("cpu.max") {
        let (quota, period) = parse_cpu_max(&text).map_err(|e| format!("cpu.max: {e}"))?;
        s.cpu_quota_us = quota;
        s.cpu_period_us = Some(period);
    }
    Ok(s)
}

/// The figures of a v1 cgroup: `memory` files from the memory controller's
/// directory, `cpu.*` from cpu's and `cpuacct.*` from cpuacct's.
/// `ticks_per_second` converts cpuacct.stat's user and system times.
pub fn parse_v1(
    file: &dyn Fn(&str) -> Option<String>,
    ticks_per_second: f64,
) -> Result<CgroupStats, String> {
    let mut s = CgroupStats::default();
    let usage = file("memory.usage_in_bytes")
        .map(|t| parse_single(&t))
        .transpose()
        .map_err(|e| format!("memory.usage_in_bytes: {e}"))?
        .flatten();
    s.memory_usage_bytes = usage;
    if let Some(text) = file("memory.stat") {
        let stat = parse_flat_keyed(&text);
        // Hierarchical totals first, as cAdvisor reads them.
        let either = |a: &str, b: &str| stat.get(a).or_else(|| stat.get(b)).copied();
        s.memory_rss_bytes = either("total_rss", "rss");
        s.memory_cache_bytes = either("total_cache", "cache");
        s.memory_working_set_bytes =
            working_set(usage, either("total_inactive_file", "inactive_file"));
    }
    if let Some(text) = file("memory.limit_in_bytes") {
        let limit = parse_single(&text)
            .map_err(|e| format!("memory.limit_in_bytes: {e}"))?
            .unwrap_or(0.0);
        s.memory_limit_bytes = Some(if limit >= V1_NO_LIMIT { 0.0 } else { limit });
    }
    if let Some(text) = file("memory.oom_control") {
        // Kernels before 4.13 do not count kills here.
        s.oom_kills = parse_flat_keyed(&text).get("oom_kill").copied();
    }
    if let Some(text) = file("cpuacct.usage") {
        s.cpu_usage_seconds = parse_single(&text)
            .map_err(|e| format!("cpuacct.usage: {e}"))?
            .map(|ns| ns / 1e9);
    }
    if let Some(text) = file("cpuacct.stat") {
        let stat = parse_flat_keyed(&text);
        s.cpu_user_seconds = stat.get("user").map(|t| t / ticks_per_second);
        s.cpu_system_seconds = stat.get("system").map(|t| t / ticks_per_second);
    }
    if let Some(text) = file("cpu.stat") {
        let stat = parse_flat_keyed(&text);
        s.cfs_periods = stat.get("nr_periods").copied();
        s.cfs_throttled_periods = stat.get("nr_throttled").copied();
        s.cfs_throttled_seconds = stat.get("throttled_time").map(|ns| ns / 1e9);
    }
    if let Some(text) = file("cpu.cfs_period_us") {
        s.cpu_period_us = parse_single(&text).map_err(|e| format!("cpu.cfs_period_us: {e}"))?;
    }
    if let Some(text) = file("cpu.cfs_quota_us") {
        let quota = parse_single(&text).map_err(|e| format!("cpu.cfs_quota_us: {e}"))?;
        s.cpu_quota_us = quota.filter(|q| *q > 0.0);
    }
    Ok(s)
}

fn working_set(usage: Option<f64>, inactive_file: Option<f64>) -> Option<f64> {
    Some((usage? - inactive_file?).max(0.0))
}

/// One line of `/proc/<pid>/cgroup`: `ID:CONTROLLERS:PATH` (v2: `0::PATH`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub controllers: Vec<String>,
    pub path: String,
}

pub fn parse_proc_cgroup(text: &str) -> Vec<Membership> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let _id = parts.next()?;
            let controllers = parts.next()?;
            let path = parts.next()?;
            Some(Membership {
                controllers: controllers
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect(),
                path: path.to_owned(),
            })
        })
        .collect()
}

/// A cgroup filesystem mounted here.
#[derive(Clone, Debug, PartialEq)]
struct CgroupMount {
    /// The part of the hierarchy the mount shows.
    root: String,
    /// Where to read it.
    dir: PathBuf,
    /// v1 controllers (empty for v2).
    controllers: Vec<String>,
    v2: bool,
}

/// Where one cgroup's files are.
#[derive(Clone, Debug, PartialEq)]
pub enum Location {
    V2(PathBuf),
    V1 {
        memory: PathBuf,
        cpu: Option<PathBuf>,
        cpuacct: Option<PathBuf>,
    },
}

/// The cgroup filesystems visible here, from `<procfs>/self/mountinfo`.
#[derive(Clone, Debug, Default)]
pub struct Hierarchy {
    mounts: Vec<CgroupMount>,
    sysfs: PathBuf,
}

impl Hierarchy {
    pub fn read(paths: &HostPaths) -> Result<Hierarchy, CollectError> {
        let path = paths.proc("self/mountinfo");
        let text = crate::paths::read(&path)?;
        let mounts = parse_mountinfo(&text).map_err(|reason| CollectError::Parse {
            path: path.clone(),
            reason,
        })?;
        Ok(Hierarchy::from_mounts(&mounts, paths))
    }

    pub fn from_mounts(mounts: &[MountInfo], paths: &HostPaths) -> Hierarchy {
        let mounts = mounts
            .iter()
            .filter(|m| m.fs_type == "cgroup" || m.fs_type == "cgroup2")
            .map(|m| CgroupMount {
                root: m.root.clone(),
                dir: readable_at(&m.mount_point, paths),
                controllers: m
                    .super_options
                    .split(',')
                    .filter(|o| ["memory", "cpu", "cpuacct"].contains(o))
                    .map(str::to_owned)
                    .collect(),
                v2: m.fs_type == "cgroup2",
            })
            .collect();
        Hierarchy {
            mounts,
            sysfs: paths.sysfs.clone(),
        }
    }

    /// Whether any cgroup filesystem is mounted here at all.
    pub fn is_empty(&self) -> bool {
        self.mounts.is_empty()
    }

    /// The directory of `path` under a mount of this kind, when the path is
    /// inside the part of the hierarchy the mount shows.
    fn dir_of(&self, path: &str, matches: impl Fn(&CgroupMount) -> bool) -> Option<PathBuf> {
        self.mounts
            .iter()
            .filter(|m| matches(m))
            .find_map(|m| inside(&m.root, path).map(|rest| m.dir.join(rest)))
            .filter(|dir| dir.is_dir())
    }

    /// Where the files of a process's cgroup are, from its `/proc/<pid>/cgroup`;
    /// with the cgroup path (cAdvisor's `id`). `None`: not visible here.
    pub fn locate(&self, memberships: &[Membership]) -> Option<(String, Location)> {
        let v2 = memberships.iter().find(|m| m.controllers.is_empty());
        if let Some(m) = v2 {
            // A hybrid host mounts v2 without controllers, where cpu.stat
            // (a core file) holds only the usage: v2 is taken where its
            // memory controller is on, else v1.
            if let Some(dir) = self
                .dir_of(&m.path, |c| c.v2)
                .filter(|d| d.join("memory.current").exists())
            {
                return Some((m.path.clone(), Location::V2(dir)));
            }
        }
        let of = |controller: &str| {
            memberships
                .iter()
                .find(|m| m.controllers.iter().any(|c| c == controller))
        };
        let memory = of("memory")?;
        let memory_dir = self.dir_of(&memory.path, |c| {
            !c.v2 && c.controllers.iter().any(|x| x == "memory")
        })?;
        let dir_for = |controller: &str| {
            let m = of(controller)?;
            self.dir_of(&m.path, |c| {
                !c.v2 && c.controllers.iter().any(|x| x == controller)
            })
        };
        Some((
            memory.path.clone(),
            Location::V1 {
                memory: memory_dir,
                cpu: dir_for("cpu"),
                cpuacct: dir_for("cpuacct"),
            },
        ))
    }

    /// The cgroup of process `pid` under `procfs`.
    pub fn locate_pid(&self, procfs: &Path, pid: u32) -> Option<(String, Location)> {
        let text = std::fs::read_to_string(procfs.join(pid.to_string()).join("cgroup")).ok()?;
        self.locate(&parse_proc_cgroup(&text))
    }

    pub fn sysfs(&self) -> &Path {
        &self.sysfs
    }
}

/// Where a mount point of this mount namespace is read: below `--path.sysfs`
/// when it is under /sys (so tests point it at a fixture tree), else as is.
fn readable_at(mount_point: &str, paths: &HostPaths) -> PathBuf {
    match mount_point.strip_prefix("/sys/") {
        Some(rest) => paths.sysfs.join(rest),
        None => PathBuf::from(mount_point),
    }
}

/// `path` relative to `root` when it is at or below it; `None` when it is
/// outside (`/../x`, as a cgroup namespace shows a neighbour).
fn inside<'a>(root: &str, path: &'a str) -> Option<&'a str> {
    if path.split('/').any(|part| part == "..") {
        return None;
    }
    let root = root.trim_end_matches('/');
    let rest = path.strip_prefix(root)?;
    if rest.is_empty() || rest.starts_with('/') {
        Some(rest.trim_start_matches('/'))
    } else {
        None
    }
}

/// Reads the figures at a location.
pub fn read_stats(location: &Location, ticks_per_second: f64) -> Result<CgroupStats, String> {
    match location {
        Location::V2(dir) => parse_v2(&|name| std::fs::read_to_string(dir.join(name)).ok()),
        Location::V1 {
            memory,
            cpu,
            cpuacct,
        } => parse_v1(
            &|name| {
                let dir = if name.starts_with("memory.") {
                    Some(memory)
                } else if name.starts_with("cpuacct.") {
                    cpuacct.as_ref()
                } else {
                    cpu.as_ref()
                }?;
                std::fs::read_to_string(dir.join(name)).ok()
            },
            ticks_per_second,
        ),
    }
}

/// Fills what `metrics` lacks from the cgroup's figures: what an engine
/// reports stays as it reported it.
pub fn fill(metrics: &mut ContainerMetrics, stats: &CgroupStats) {
    fn keep(slot: &mut Option<f64>, value: Option<f64>) {
        if slot.is_none() {
            *slot = value;
        }
    }
    keep(&mut metrics.cpu_usage_seconds, stats.cpu_usage_seconds);
    keep(&mut metrics.cpu_user_seconds, stats.cpu_user_seconds);
    keep(&mut metrics.cpu_system_seconds, stats.cpu_system_seconds);
    keep(&mut metrics.memory_usage_bytes, stats.memory_usage_bytes);
    keep(
        &mut metrics.memory_working_set_bytes,
        stats.memory_working_set_bytes,
    );
    keep(&mut metrics.memory_rss_bytes, stats.memory_rss_bytes);
    keep(&mut metrics.memory_cache_bytes, stats.memory_cache_bytes);
    keep(&mut metrics.memory_limit_bytes, stats.memory_limit_bytes);
    keep(&mut metrics.cfs_periods, stats.cfs_periods);
    keep(
        &mut metrics.cfs_throttled_periods,
        stats.cfs_throttled_periods,
    );
    keep(
        &mut metrics.cfs_throttled_seconds,
        stats.cfs_throttled_seconds,
    );
    keep(&mut metrics.cpu_quota_us, stats.cpu_quota_us);
    keep(&mut metrics.cpu_period_us, stats.cpu_period_us);
    keep(&mut metrics.oom_kills, stats.oom_kills);
}

/// The container ID in the last part of a cgroup path, as runtimes name
/// them (`docker-<id>.scope`, `cri-containerd-<id>.scope`, `crio-<id>`,
/// `libpod-<id>`, or the bare ID).
pub fn container_name(path: &str) -> String {
    let last = path.rsplit('/').next().unwrap_or(path);
    let last = last.strip_suffix(".scope").unwrap_or(last);
    ["docker-", "cri-containerd-", "crio-", "libpod-"]
        .iter()
        .find_map(|prefix| last.strip_prefix(prefix))
        .unwrap_or(last)
        .to_owned()
}

/// The pod scope's containers: the cgroups of the processes visible through
/// the pod's shared process namespace.
pub struct CgroupsCollector {
    paths: HostPaths,
    ticks_per_second: f64,
}

impl CgroupsCollector {
    pub fn new(paths: &HostPaths) -> Self {
        CgroupsCollector {
            paths: paths.clone(),
            ticks_per_second: rustix::param::clock_ticks_per_second() as f64,
        }
    }
}

impl Collector for CgroupsCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let hierarchy = Hierarchy::read(&self.paths)?;
        let procfs = &self.paths.procfs;
        let entries = std::fs::read_dir(procfs).map_err(|source| CollectError::Read {
            path: procfs.clone(),
            source,
        })?;
        // By the text of /proc/<pid>/cgroup: processes of one container share it.
        let mut cgroups: BTreeMap<String, u32> = BTreeMap::new();
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            // A process can exit between listing and reading.
            if let Ok(text) = std::fs::read_to_string(entry.path().join("cgroup")) {
                cgroups.entry(text).or_insert(pid);
            }
        }
        let now = crate::pipeline::unix_now();
        let mut found = Vec::new();
        let mut hidden = Vec::new();
        for text in cgroups.keys() {
            let memberships = parse_proc_cgroup(text);
            match hierarchy.locate(&memberships) {
                Some((path, location)) => {
                    let stats = read_stats(&location, self.ticks_per_second).map_err(|reason| {
                        CollectError::Parse {
                            path: PathBuf::from(&path),
                            reason,
                        }
                    })?;
                    let mut metrics = ContainerMetrics {
                        id: container_name(&path),
                        name: container_name(&path),
                        cgroup_path: Some(path),
                        last_seen: now,
                        ..ContainerMetrics::default()
                    };
                    fill(&mut metrics, &stats);
                    found.push(metrics);
                }
                None => hidden.push(
                    memberships
                        .iter()
                        .find(|m| {
                            m.controllers.is_empty() || m.controllers.iter().any(|c| c == "memory")
                        })
                        .map_or_else(|| text.trim().to_owned(), |m| m.path.clone()),
                ),
            }
        }
        if !hidden.is_empty() {
            hidden.sort();
            hidden.dedup();
            return Err(CollectError::NotVisible {
                what: format!(
                    "the cgroups of {} of the pod's containers ({}) are outside what this container can see under {}",
                    hidden.len(),
                    hidden.join(", "),
                    self.paths.sys("fs/cgroup").display(),
                ),
                fix: "a container sees only its own cgroup unless the node's cgroup filesystem is mounted into it \
                      (a hostPath of /sys/fs/cgroup, read-only, which Pod Security \"baseline\" refuses); \
                      without it, take container_* from the kubelet's cAdvisor and set collectors.cgroups.enabled: false"
                    .to_owned(),
            });
        }
        out.extend(containers::families(&found, &[]));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = list
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn v2_files_as_the_kernel_names_them() {
        let stats = parse_v2(&files(&[
            ("memory.current", "104857600\n"),
            (
                "memory.stat",
                "anon 52428800\nfile 41943040\nkernel 1048576\nactive_file 20971520\ninactive_file 31457280\n",
            ),
            ("memory.max", "268435456\n"),
            ("memory.events", "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n"),
            (
                "cpu.stat",
                "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 400\nnr_throttled 25\nthrottled_usec 1250000\n",
            ),
            ("cpu.max", "50000 100000\n"),
        ]))
        .unwrap();
        assert_eq!(stats.memory_usage_bytes, Some(104_857_600.0));
        assert_eq!(stats.memory_working_set_bytes, Some(73_400_320.0));
        assert_eq!(stats.memory_rss_bytes, Some(52_428_800.0));
        assert_eq!(stats.memory_cache_bytes, Some(41_943_040.0));
        assert_eq!(stats.memory_limit_bytes, Some(268_435_456.0));
        assert_eq!(stats.oom_kills, Some(2.0));
        assert_eq!(stats.cpu_usage_seconds, Some(2.5));
        assert_eq!(stats.cpu_user_seconds, Some(2.0));
        assert_eq!(stats.cpu_system_seconds, Some(0.5));
        assert_eq!(stats.cfs_periods, Some(400.0));
        assert_eq!(stats.cfs_throttled_periods, Some(25.0));
        assert_eq!(stats.cfs_throttled_seconds, Some(1.25));
        assert_eq!(stats.cpu_quota_us, Some(50_000.0));
        assert_eq!(stats.cpu_period_us, Some(100_000.0));
    }

    #[test]
    fn v2_unlimited_and_missing_files() {
        let stats = parse_v2(&files(&[
            ("memory.current", "4096\n"),
            ("memory.stat", "anon 1\nfile 2\ninactive_file 8192\n"),
            ("memory.max", "max\n"),
            ("cpu.max", "max 100000\n"),
            ("cpu.stat", "usage_usec 10\nuser_usec 6\nsystem_usec 4\n"),
        ]))
        .unwrap();
        assert_eq!(stats.memory_limit_bytes, Some(0.0), "max is 0, as cAdvisor");
        assert_eq!(stats.memory_working_set_bytes, Some(0.0), "floored at 0");
        assert_eq!(stats.cpu_quota_us, None);
        assert_eq!(stats.cpu_period_us, Some(100_000.0));
        assert_eq!(stats.cfs_periods, None, "no cpu controller: left out");
        assert_eq!(stats.oom_kills, None, "no memory.events: left out, not 0");
        assert!(parse_v2(&files(&[("memory.current", "lots\n")])).is_err());
        assert!(parse_v2(&files(&[("cpu.max", "max\n")])).is_err());
    }

    #[test]
    fn v1_files_with_hierarchical_totals() {
        let stats = parse_v1(
            &files(&[
                ("memory.usage_in_bytes", "10485760\n"),
                (
                    "memory.stat",
                    "cache 1\nrss 2\ninactive_file 3\ntotal_cache 4194304\ntotal_rss 5242880\ntotal_inactive_file 2097152\n",
                ),
                ("memory.limit_in_bytes", "9223372036854771712\n"),
                ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n"),
                ("cpuacct.usage", "3000000000\n"),
                ("cpuacct.stat", "user 200\nsystem 50\n"),
                ("cpu.stat", "nr_periods 10\nnr_throttled 4\nthrottled_time 500000000\n"),
                ("cpu.cfs_quota_us", "-1\n"),
                ("cpu.cfs_period_us", "100000\n"),
            ]),
            100.0,
        )
        .unwrap();
        assert_eq!(stats.memory_usage_bytes, Some(10_485_760.0));
        assert_eq!(stats.memory_working_set_bytes, Some(8_388_608.0));
        assert_eq!(stats.memory_rss_bytes, Some(5_242_880.0));
        assert_eq!(stats.memory_cache_bytes, Some(4_194_304.0));
        assert_eq!(stats.memory_limit_bytes, Some(0.0));
        assert_eq!(stats.oom_kills, Some(1.0));
        assert_eq!(stats.cpu_usage_seconds, Some(3.0));
        assert_eq!(stats.cpu_user_seconds, Some(2.0));
        assert_eq!(stats.cpu_system_seconds, Some(0.5));
        assert_eq!(stats.cfs_throttled_seconds, Some(0.5));
        assert_eq!(stats.cpu_quota_us, None, "-1: unlimited");
        assert_eq!(stats.cpu_period_us, Some(100_000.0));
    }

    #[test]
    fn cgroups_are_found_inside_the_mounts_root_only() {
        let paths = HostPaths {
            sysfs: PathBuf::from("/nonexistent-sys"),
            ..HostPaths::default()
        };
        let mounts = parse_mountinfo(
            "92 88 0:32 /libpod_parent/libpod-91cb /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n",
        )
        .unwrap();
        let h = Hierarchy::from_mounts(&mounts, &paths);
        assert_eq!(
            h.mounts[0].dir,
            PathBuf::from("/nonexistent-sys/fs/cgroup/memory")
        );
        assert_eq!(
            inside("/libpod_parent/libpod-91cb", "/libpod_parent/libpod-91cb"),
            Some("")
        );
        assert_eq!(inside("/", "/kubepods/pod1/abc"), Some("kubepods/pod1/abc"));
        assert_eq!(
            inside("/libpod_parent/libpod-91cb", "/libpod_parent/libpod-77aa"),
            None
        );
        assert_eq!(inside("/a/b", "/a/bc"), None);
        assert_eq!(inside("/", "/../cri-containerd-1.scope"), None);
    }

    #[test]
    fn a_hybrid_host_reads_v1_where_v2_has_no_memory_controller() {
        let sys = tempfile::tempdir().unwrap();
        let cgroup = "libpod_parent/libpod-91cb";
        let unified = sys.path().join("fs/cgroup/unified").join(cgroup);
        let memory = sys.path().join("fs/cgroup/memory").join(cgroup);
        std::fs::create_dir_all(&unified).unwrap();
        std::fs::create_dir_all(&memory).unwrap();
        // v2's core cpu.stat, with the usage only.
        std::fs::write(unified.join("cpu.stat"), "usage_usec 10\n").unwrap();
        std::fs::write(memory.join("memory.usage_in_bytes"), "4096\n").unwrap();
        let paths = HostPaths {
            sysfs: sys.path().to_owned(),
            ..HostPaths::default()
        };
        let mounts = parse_mountinfo(
            "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
        )
        .unwrap();
        let h = Hierarchy::from_mounts(&mounts, &paths);
        let memberships = parse_proc_cgroup(
            "4:memory:/libpod_parent/libpod-91cb\n0::/libpod_parent/libpod-91cb\n",
        );
        let (id, location) = h.locate(&memberships).unwrap();
        assert_eq!(id, "/libpod_parent/libpod-91cb");
        assert!(matches!(location, Location::V1 { .. }), "{location:?}");
        // With v2's memory controller on, v2.
        std::fs::write(unified.join("memory.current"), "8192\n").unwrap();
        assert!(matches!(h.locate(&memberships).unwrap().1, Location::V2(_)));
    }

    #[test]
    fn proc_cgroup_lines_and_container_names() {
        let m = parse_proc_cgroup(
            "4:memory:/libpod_parent/libpod-91cb\n2:cpu,cpuacct:/x\n0::/kubepods.slice/cri-containerd-abc.scope\n",
        );
        assert_eq!(m.len(), 3);
        assert_eq!(m[1].controllers, ["cpu", "cpuacct"]);
        assert!(m[2].controllers.is_empty());
        assert_eq!(container_name(&m[2].path), "abc");
        assert_eq!(container_name("/libpod_parent/libpod-91cb"), "91cb");
        assert_eq!(
            container_name("/kubepods/besteffort/pod1/0123abcd"),
            "0123abcd"
        );
    }
}
