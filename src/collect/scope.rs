//! Where outrider runs, and so which collectors apply.
//!
//! `host` (the default): a VM, or a DaemonSet with the host's `/proc` and
//! `/sys`; every collector runs as it always has.
//!
//! `pod`: a sidecar in a service's pod. It sees the pod's network namespace,
//! the processes of the pod's containers (with `shareProcessNamespace`), the
//! volumes mounted into it and the cgroups it can see; the rest of `/proc`
//! and `/sys` describes the node. Collectors of the node's figures are off
//! there: a pod's dashboards would show the node's CPU, memory and disks as
//! the pod's, and N pods on a node would export N copies of them.
//!
//! Every collector of the table in `mod.rs` has a line in [`reach`]; a test
//! fails when one has none, so a new collector says where it belongs.

use serde::Deserialize;

use super::{Build, BuildError, Collector, CollectorsConfig};
use crate::paths::HostPaths;

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// A host: every collector.
    #[default]
    Host,
    /// A pod's sidecar: what belongs to the pod, none of the node's figures.
    Pod,
}

/// What a collector reads, which says whether it runs in a pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Files that describe the whole node (/proc/stat, /proc/meminfo,
    /// /proc/loadavg, the node's block devices, its clock and kernel): off
    /// in the pod scope.
    Node,
    /// What Linux keeps per network namespace (/proc/net/*, /sys/class/net
    /// as mounted in the namespace): the pod's own network, kept.
    NetNamespace,
    /// outrider's own process: kept.
    Own,
    /// Files the user names (the textfile collector's directory): kept,
    /// since only the user knows what they describe.
    UserNamed,
    /// Read another way in a pod: the processes through the pod's shared
    /// process namespace, the filesystems mounted into the sidecar.
    PodView,
    /// The pod's containers' cgroups: the pod scope only.
    PodOnly,
    /// A container engine's API: in a pod only when its address is set
    /// (`collectors.containers.docker_host` or `DOCKER_HOST`), since pods
    /// have no engine socket by default.
    Engine,
}

/// Where each collector of the table belongs; `None` for a name with no
/// line here (a test keeps every collector listed).
pub fn reach(collector: &str) -> Option<Reach> {
    Some(match collector {
        "cpu" | "cpufreq" | "diskstats" | "edac" | "entropy" | "filefd" | "hwmon" | "loadavg"
        | "meminfo" | "os" | "powersupplyclass" | "pressure" | "schedstat" | "selinux"
        | "softnet" | "stat" | "thermal_zone" | "time" | "timex" | "uname" | "vmstat" => {
            Reach::Node
        }
        // /proc/mdstat lists the node's software RAID arrays.
        "mdadm" => Reach::Node,
        // conntrack's table and counts are the namespace's (its limit is
        // the node's); softnet, though under /proc/net, counts the node's CPUs.
        "arp" | "conntrack" | "netclass" | "netdev" | "netstat" | "udp_queues" => {
            Reach::NetNamespace
        }
        "textfile" => Reach::UserNamed,
        "self" => Reach::Own,
        // sockstat: the namespace's sockets in use, not the node's socket
        // memory and orphans.
        "filesystem" | "processes" | "sockstat" => Reach::PodView,
        "cgroups" => Reach::PodOnly,
        "containers" => Reach::Engine,
        _ => return None,
    })
}

fn engine_configured(config: &CollectorsConfig) -> bool {
    config.containers.docker_host.is_some()
        || std::env::var("DOCKER_HOST").is_ok_and(|h| !h.is_empty())
}

/// Builds the collector `name` for `scope`, or `None` when it does not run
/// there.
pub(super) fn build(
    scope: Scope,
    name: &'static str,
    build: Build,
    config: &CollectorsConfig,
    paths: &HostPaths,
) -> Result<Option<Box<dyn Collector>>, BuildError> {
    // A collector with no line is taken for one of the node's.
    let reach = reach(name).unwrap_or(Reach::Node);
    let runs = match (scope, reach) {
        (Scope::Host, Reach::PodOnly) => false,
        (Scope::Host, _) => true,
        (Scope::Pod, Reach::Node) => false,
        (Scope::Pod, Reach::NetNamespace | Reach::Own | Reach::UserNamed) => true,
        (Scope::Pod, Reach::Engine) => engine_configured(config),
        // Where an engine answers it names the containers, and fills what
        // its stats omit from the same cgroup files.
        (Scope::Pod, Reach::PodOnly) => !(config.containers.enabled && engine_configured(config)),
        (Scope::Pod, Reach::PodView) => {
            return pod_view(name, config, paths).map(Some);
        }
    };
    if runs {
        build(config, paths).map(Some)
    } else {
        Ok(None)
    }
}

fn pod_view(
    name: &'static str,
    config: &CollectorsConfig,
    paths: &HostPaths,
) -> Result<Box<dyn Collector>, BuildError> {
    match name {
        "processes" => Ok(Box::new(super::processes::ProcessesCollector::for_pod(
            &config.processes,
            paths,
        )?)),
        "filesystem" => Ok(Box::new(super::filesystem::FilesystemCollector::for_pod(
            &config.filesystem,
            paths,
        )?)),
        "sockstat" => Ok(Box::new(super::sockstat::SockstatCollector::for_pod(paths))),
        other => Err(BuildError {
            collector: name,
            reason: format!("{other} has no pod view"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_collector_says_where_it_belongs() {
        for name in super::super::collector_names() {
            assert!(
                reach(name).is_some(),
                "collector {name} has no line in scope::reach: is it per network namespace, the node's, or the pod's?"
            );
        }
    }

    #[test]
    fn the_pod_scope_runs_no_node_collector() {
        let config = CollectorsConfig::default();
        let paths = HostPaths::default();
        let built = |scope, name| {
            let entry = super::super::COLLECTORS
                .iter()
                .find(|e| e.name == name)
                .unwrap();
            build(scope, name, entry.build, &config, &paths)
                .unwrap()
                .is_some()
        };
        for name in [
            "cpu",
            "diskstats",
            "loadavg",
            "meminfo",
            "stat",
            "time",
            "uname",
        ] {
            assert!(built(Scope::Host, name), "{name} in a host");
            assert!(!built(Scope::Pod, name), "{name} in a pod");
        }
        for name in ["netdev", "netclass", "self", "filesystem", "processes"] {
            assert!(built(Scope::Pod, name), "{name} in a pod");
        }
        assert!(!built(Scope::Host, "cgroups"));
    }
}
