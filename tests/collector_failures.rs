//! A collector that fails, or a mount that hangs, never costs the others their
//! data.

mod common;

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use outrider::collect::filesystem::{self, FilesystemCollector, FsUsage, StatFs};
use outrider::collect::{Collector, Registry, loadavg};
use outrider::metric::{Family, label_value};
use outrider::paths::HostPaths;

/// statfs that hangs on /home until released, like a dead NFS server.
struct HangingStatFs {
    release: Mutex<mpsc::Receiver<()>>,
    calls_on_hung_mount: AtomicUsize,
}

impl StatFs for HangingStatFs {
    fn statfs(&self, path: &Path) -> io::Result<FsUsage> {
        if path.ends_with("home") {
            self.calls_on_hung_mount.fetch_add(1, Ordering::SeqCst);
            let _ = self.release.lock().unwrap().recv();
        }
        Ok(FsUsage {
            blocks: 100,
            block_size: 4096,
            blocks_free: 50,
            blocks_available: 40,
            files: 10,
            files_free: 5,
        })
    }
}

fn value(families: &[Family], name: &str, label: &str, wanted: &str) -> Option<f64> {
    families
        .iter()
        .find(|f| f.name == name)?
        .samples
        .iter()
        .find(|s| label_value(&s.labels, label) == Some(wanted))
        .map(|s| s.value)
}

#[test]
fn a_hung_mount_is_reported_and_never_blocks_the_tick() {
    let root = common::fixtures();
    let paths = HostPaths {
        procfs: root.join("proc"),
        sysfs: root.join("sys"),
        ..HostPaths::default()
    };
    let (release, released) = mpsc::channel();
    let statfs = Arc::new(HangingStatFs {
        release: Mutex::new(released),
        calls_on_hung_mount: AtomicUsize::new(0),
    });
    let config = filesystem::Config {
        mount_timeout: Duration::from_millis(200),
        ..Default::default()
    };
    let collectors: Vec<(&'static str, Box<dyn Collector>)> = vec![
        (
            "filesystem",
            Box::new(FilesystemCollector::with_statfs(&config, &paths, statfs.clone()).unwrap()),
        ),
        ("loadavg", Box::new(loadavg::LoadavgCollector::new(&paths))),
    ];
    let mut registry = Registry::from_collectors(collectors);

    for tick in 0..3 {
        let started = Instant::now();
        let families = registry.collect_all();
        // The first tick waits out the timeout once; later ticks skip the mount.
        let bound = if tick == 0 {
            Duration::from_secs(2)
        } else {
            Duration::from_millis(150)
        };
        assert!(
            started.elapsed() < bound,
            "tick {tick} took {:?}",
            started.elapsed()
        );
        assert_eq!(
            value(
                &families,
                "node_filesystem_device_error",
                "mountpoint",
                "/home"
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &families,
                "node_filesystem_size_bytes",
                "mountpoint",
                "/home"
            ),
            None
        );
        assert_eq!(
            value(&families, "node_filesystem_device_error", "mountpoint", "/"),
            Some(0.0)
        );
        assert_eq!(
            value(&families, "node_filesystem_size_bytes", "mountpoint", "/"),
            Some(409_600.0)
        );
        assert!(families.iter().any(|f| f.name == "node_load1"));
        assert_eq!(
            value(
                &families,
                "outrider_collector_success",
                "collector",
                "filesystem"
            ),
            Some(1.0)
        );
    }
    // A stuck mount is asked once, not once per tick: one parked thread at most.
    assert_eq!(statfs.calls_on_hung_mount.load(Ordering::SeqCst), 1);

    // When the server comes back, the mount is reported again.
    drop(release);
    common::wait_until(Duration::from_secs(5), "the mount to recover", || {
        let families = registry.collect_all();
        value(
            &families,
            "node_filesystem_size_bytes",
            "mountpoint",
            "/home",
        ) == Some(409_600.0)
    });
}

#[test]
fn an_unreadable_file_fails_its_collector_only_and_it_recovers() {
    // A copy of the fixture tree where /proc/meminfo cannot be read (a
    // directory in its place: root reads through permission bits).
    let dir = tempfile::tempdir().unwrap();
    let proc_dir = dir.path().join("proc");
    copy_tree(&common::fixtures().join("proc"), &proc_dir);
    let meminfo = proc_dir.join("meminfo");
    let good_meminfo = std::fs::read(&meminfo).unwrap();
    std::fs::remove_file(&meminfo).unwrap();
    std::fs::create_dir(&meminfo).unwrap();

    let outrider = common::start_outrider(&[
        "--path.procfs",
        proc_dir.to_str().unwrap(),
        "--path.sysfs",
        common::fixtures().join("sys").to_str().unwrap(),
        "--collect.interval",
        "200ms",
    ]);
    let scrape = || common::parse_samples(&common::get(&outrider.url("/metrics"), &[]).text());
    let samples = scrape();
    let success = common::family(&samples, "outrider_collector_success");
    let by_collector = |name: &str| {
        success
            .iter()
            .find(|(labels, _)| labels["collector"] == name)
            .map(|(_, v)| *v)
    };
    assert_eq!(by_collector("meminfo"), Some(0.0));
    for other in ["cpu", "diskstats", "loadavg", "netdev", "stat"] {
        assert_eq!(by_collector(other), Some(1.0), "{other}");
    }
    assert!(common::family(&samples, "node_memory_MemTotal_bytes").is_empty());
    assert_eq!(
        common::family(&samples, "node_forks_total").values().next(),
        Some(&16519.0)
    );
    let logged = |message: &str| {
        outrider
            .process
            .log_text()
            .lines()
            .any(|l| l.contains(message) && l.contains("collector=meminfo"))
    };
    assert!(logged("collector failed"), "failure is logged");

    std::fs::remove_dir(&meminfo).unwrap();
    std::fs::write(&meminfo, good_meminfo).unwrap();
    common::wait_until(Duration::from_secs(5), "meminfo to recover", || {
        !common::family(&scrape(), "node_memory_MemTotal_bytes").is_empty()
    });
    assert!(logged("collector recovered"));
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
