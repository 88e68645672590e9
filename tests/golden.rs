//! The exposition of the host collectors on a fixture tree, diffed against
//! tests/fixtures/golden.prom. Regenerate after a deliberate change with
//! `UPDATE_GOLDEN=1 cargo test --test golden` and review the diff.

mod common;

use std::io;
use std::path::Path;
use std::sync::Arc;

use outrider::collect::filesystem::{self, FilesystemCollector, FsUsage, StatFs};
use outrider::collect::{
    Collector, Registry, arp, conntrack, cpu, cpufreq, diskstats, edac, entropy, filefd, hwmon,
    loadavg, meminfo, netclass, netdev, netstat, powersupplyclass, pressure, schedstat, sockstat,
    softnet, stat, thermal_zone, udp_queues, vmstat,
};
use outrider::exposition::{Exposition, Format};
use outrider::paths::HostPaths;

/// Sizes that depend only on the path, so the golden file is stable.
struct FixedStatFs;

impl StatFs for FixedStatFs {
    fn statfs(&self, path: &Path) -> io::Result<FsUsage> {
        if path.ends_with("home") {
            return Err(io::Error::from_raw_os_error(13)); // EACCES
        }
        let n = path.as_os_str().len() as u64;
        Ok(FsUsage {
            blocks: 1000 * n,
            block_size: 4096,
            blocks_free: 400 * n,
            blocks_available: 300 * n,
            files: 64 * n,
            files_free: 32 * n,
        })
    }
}

fn fixture_paths() -> HostPaths {
    let root = common::fixtures();
    HostPaths {
        procfs: root.join("proc"),
        sysfs: root.join("sys"),
        rootfs: "/".into(),
        udev_data: root.join("udev"),
    }
}

fn render() -> String {
    let paths = fixture_paths();
    let collectors: Vec<(&'static str, Box<dyn Collector>)> = vec![
        ("cpu", Box::new(cpu::CpuCollector::new(&paths))),
        (
            "diskstats",
            Box::new(diskstats::DiskstatsCollector::new(&Default::default(), &paths).unwrap()),
        ),
        (
            "filesystem",
            Box::new(
                FilesystemCollector::with_statfs(
                    &filesystem::Config::default(),
                    &paths,
                    Arc::new(FixedStatFs),
                )
                .unwrap(),
            ),
        ),
        ("loadavg", Box::new(loadavg::LoadavgCollector::new(&paths))),
        ("meminfo", Box::new(meminfo::MeminfoCollector::new(&paths))),
        (
            "netclass",
            Box::new(netclass::NetclassCollector::new(&Default::default(), &paths).unwrap()),
        ),
        (
            "netdev",
            Box::new(netdev::NetdevCollector::new(&Default::default(), &paths).unwrap()),
        ),
        ("stat", Box::new(stat::StatCollector::new(&paths))),
        (
            "vmstat",
            Box::new(vmstat::VmstatCollector::new(&Default::default(), &paths).unwrap()),
        ),
        (
            "netstat",
            Box::new(netstat::NetstatCollector::new(&Default::default(), &paths).unwrap()),
        ),
        (
            "sockstat",
            Box::new(sockstat::SockstatCollector::new(&paths)),
        ),
        ("filefd", Box::new(filefd::FilefdCollector::new(&paths))),
        (
            "pressure",
            Box::new(pressure::PressureCollector::new(&paths)),
        ),
        (
            "conntrack",
            Box::new(conntrack::ConntrackCollector::new(&paths)),
        ),
        ("entropy", Box::new(entropy::EntropyCollector::new(&paths))),
        ("softnet", Box::new(softnet::SoftnetCollector::new(&paths))),
        ("arp", Box::new(arp::ArpCollector::new(&paths))),
        (
            "schedstat",
            Box::new(schedstat::SchedstatCollector::new(&paths)),
        ),
        (
            "udp_queues",
            Box::new(udp_queues::UdpQueuesCollector::new(&paths)),
        ),
        ("cpufreq", Box::new(cpufreq::CpufreqCollector::new(&paths))),
        (
            "thermal_zone",
            Box::new(thermal_zone::ThermalZoneCollector::new(&paths)),
        ),
        ("edac", Box::new(edac::EdacCollector::new(&paths))),
        ("hwmon", Box::new(hwmon::HwmonCollector::new(&paths))),
        (
            "powersupplyclass",
            Box::new(powersupplyclass::PowerSupplyClassCollector::new(&paths)),
        ),
    ];
    let mut registry = Registry::from_collectors(collectors);
    let exposition = Exposition::new(registry.collect_all());
    let text = String::from_utf8(exposition.body(Format::Text, false).to_vec()).unwrap();
    // Durations differ from run to run; everything else must not.
    text.lines()
        .filter(|l| !l.starts_with("outrider_collector_duration_seconds{"))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn fixture_tree_renders_the_golden_exposition() {
    let golden = common::fixtures().join("golden.prom");
    let actual = render();
    let failed: Vec<&str> = actual
        .lines()
        .filter(|l| l.starts_with("outrider_collector_success{") && !l.ends_with(" 1"))
        .collect();
    assert!(
        failed.is_empty(),
        "collectors failed on the fixtures: {failed:?}"
    );
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&golden)
        .expect("tests/fixtures/golden.prom (create it with UPDATE_GOLDEN=1)");
    if actual != expected {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines())
            .filter(|(e, a)| e != a)
            .take(10)
            .map(|(e, a)| format!("- {e}\n+ {a}"))
            .collect();
        panic!(
            "exposition differs from golden.prom ({} vs {} lines); first differences:\n{}",
            expected.lines().count(),
            actual.lines().count(),
            diff.join("\n")
        );
    }
}

#[test]
fn golden_exposition_passes_promtool() {
    let problems = common::promtool_problems(render().as_bytes());
    assert!(problems.is_empty(), "promtool: {problems:?}");
}
