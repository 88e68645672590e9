//! The container collector against a real engine: podman's Docker API, run by
//! scripts/container-engine on a socket in a temporary directory.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Outrider, SeriesKey};

const IMAGE: &str = "localhost/outrider-busybox:latest";
const PODMAN: [&str; 4] = ["podman", "--runtime", "runc", "--cgroup-manager=cgroupfs"];

/// The engine of scripts/container-engine; stopped (containers removed, API
/// server killed) when dropped, also when the test panics.
struct Engine {
    dir: tempfile::TempDir,
}

impl Engine {
    fn start() -> Engine {
        let engine = Engine {
            dir: tempfile::tempdir().expect("engine dir"),
        };
        engine.script(&["start"]);
        engine
    }

    fn script(&self, args: &[&str]) {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/container-engine");
        let log = self.dir.path().join("script.log");
        // To a file, not a pipe: containers started by podman must not hold
        // the test's pipe open.
        let out = std::fs::File::create(&log).expect("script log");
        let (command, rest) = args.split_first().expect("a subcommand");
        let status = Command::new(&script)
            .arg(command)
            .arg(self.dir.path())
            .args(rest)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log handle"))
            .stderr(out)
            .status()
            .expect("run scripts/container-engine");
        assert!(
            status.success(),
            "container-engine {args:?}: {status}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    fn docker_host(&self) -> String {
        format!("unix://{}", self.dir.path().join("docker.sock").display())
    }

    fn api_pid(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("podman.pid"))
            .expect("podman.pid")
            .trim()
            .to_owned()
    }

    /// Kills the API server (the containers keep running) and waits until it
    /// is gone.
    fn kill_api(&self) {
        let pid = self.api_pid();
        let status = Command::new("kill").arg(&pid).status().expect("run kill");
        assert!(status.success(), "kill {pid}");
        common::wait_until(Duration::from_secs(10), "the API server to exit", || {
            !Path::new(&format!("/proc/{pid}")).exists()
        });
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/container-engine");
        let _ = Command::new(script)
            .arg("stop")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn podman(args: &[&str]) {
    let status = Command::new(PODMAN[0])
        .args(&PODMAN[1..])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .expect("run podman");
    assert!(status.success(), "podman {args:?}: {status}");
}

fn scrape(outrider: &Outrider) -> BTreeMap<SeriesKey, f64> {
    let reply = common::get(&outrider.url("/metrics"), &[]);
    assert_eq!(reply.status, 200, "/metrics answers");
    common::parse_samples(&reply.text())
}

/// The labels and value of `metric` for the container called `name`.
fn series(
    samples: &BTreeMap<SeriesKey, f64>,
    metric: &str,
    name: &str,
) -> Option<(BTreeMap<String, String>, f64)> {
    common::family(samples, metric)
        .into_iter()
        .find(|(labels, _)| labels.get("name").map(String::as_str) == Some(name))
        .map(|(labels, value)| (labels.clone(), value))
}

fn has_container(samples: &BTreeMap<SeriesKey, f64>, name: &str) -> bool {
    samples.keys().any(|k| {
        k.name.starts_with("container_") && k.labels.get("name").map(String::as_str) == Some(name)
    })
}

fn success(samples: &BTreeMap<SeriesKey, f64>) -> BTreeMap<String, f64> {
    common::family(samples, "outrider_collector_success")
        .into_iter()
        .map(|(labels, value)| (labels["collector"].clone(), value))
        .collect()
}

#[test]
fn containers_of_a_real_engine_come_and_go_with_it() {
    let started = Instant::now();
    let engine = Engine::start();
    let config = engine.dir.path().join("outrider.yml");
    std::fs::write(
        &config,
        "collectors:\n  containers:\n    label_allowlist: [app]\n    timeout: 2s\n",
    )
    .unwrap();
    let docker_host = engine.docker_host();
    let outrider = common::start_outrider_with_env(
        &[
            "--config.file",
            config.to_str().unwrap(),
            "--collect.interval",
            "500ms",
        ],
        &[("DOCKER_HOST", docker_host.as_str())],
    );
    let log = || outrider.process.log_text();

    // a and b, with cAdvisor's names and labels.
    common::wait_until(Duration::from_secs(15), "series of a and b", || {
        let samples = scrape(&outrider);
        has_container(&samples, "outrider-test-a") && has_container(&samples, "outrider-test-b")
    });
    let samples = scrape(&outrider);
    for name in ["outrider-test-a", "outrider-test-b"] {
        let (labels, cpu) = series(&samples, "container_cpu_usage_seconds_total", name)
            .unwrap_or_else(|| panic!("cpu of {name}\n{}", log()));
        assert_eq!(labels["image"], IMAGE);
        assert_eq!(labels["container_label_app"], name);
        assert_eq!(labels["cpu"], "total");
        let id = labels["id"]
            .strip_prefix("/docker/")
            .expect("id is /docker/<id>");
        assert!(
            id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "full id: {id}"
        );
        assert!(cpu >= 0.0);
        for metric in [
            "container_memory_usage_bytes",
            "container_spec_memory_limit_bytes",
            "container_start_time_seconds",
            "container_last_seen",
        ] {
            let (labels, _) =
                series(&samples, metric, name).unwrap_or_else(|| panic!("{metric} of {name}"));
            assert_eq!(labels["container_label_app"], name, "{metric}");
        }
        let memory = series(&samples, "container_memory_usage_bytes", name)
            .unwrap()
            .1;
        assert!(memory > 0.0, "memory of {name}: {memory}");
        // Started without a limit.
        assert_eq!(
            series(&samples, "container_spec_memory_limit_bytes", name)
                .unwrap()
                .1,
            0.0
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start = series(&samples, "container_start_time_seconds", name)
            .unwrap()
            .1;
        assert!(
            now - start < 300.0 && start <= now + 1.0,
            "start {start}, now {now}"
        );
        let seen = series(&samples, "container_last_seen", name).unwrap().1;
        assert!((now - seen).abs() < 30.0, "last seen {seen}, now {now}");
        // What podman's stats omit, from the container's cgroup (v1 here).
        let working_set = series(&samples, "container_memory_working_set_bytes", name)
            .unwrap_or_else(|| panic!("working set of {name}\n{}", log()))
            .1;
        assert!(
            working_set > 0.0 && working_set <= memory * 1.5,
            "working set of {name}: {working_set}, usage {memory}"
        );
        for metric in [
            "container_memory_rss",
            "container_memory_cache",
            "container_cpu_cfs_periods_total",
            "container_cpu_cfs_throttled_periods_total",
            "container_cpu_cfs_throttled_seconds_total",
            "container_spec_cpu_period",
            "container_oom_events_total",
        ] {
            let (labels, value) =
                series(&samples, metric, name).unwrap_or_else(|| panic!("{metric} of {name}"));
            assert_eq!(labels["container_label_app"], name, "{metric}");
            assert!(value >= 0.0, "{metric} of {name}: {value}");
        }
        // Started without a CPU quota: no quota series, rather than a 0.
        assert!(series(&samples, "container_spec_cpu_quota", name).is_none());
    }
    // No environment variable and no label outside the allowlist.
    let text = common::get(&outrider.url("/metrics"), &[]).text();
    assert!(
        !text.contains("outrider_test"),
        "label outrider.test is not allowlisted"
    );
    assert!(!text.contains("PATH="), "no environment");

    // b burns CPU: its counter rises between two scrapes.
    let cpu_of_b = || {
        series(
            &scrape(&outrider),
            "container_cpu_usage_seconds_total",
            "outrider-test-b",
        )
        .map(|(_, v)| v)
    };
    let before = cpu_of_b().expect("cpu of b");
    common::wait_until(Duration::from_secs(10), "b's CPU time to rise", || {
        cpu_of_b().is_some_and(|now| now > before)
    });

    // A new container appears; removed, its series go with it.
    engine.script(&[
        "run",
        "outrider-test-c",
        "--cpus=0.5",
        "--memory=64m",
        IMAGE,
        "/bin/sleep",
        "3600",
    ]);
    common::wait_until(Duration::from_secs(10), "series of c", || {
        has_container(&scrape(&outrider), "outrider-test-c")
    });
    let samples = scrape(&outrider);
    assert_eq!(
        series(
            &samples,
            "container_cpu_usage_seconds_total",
            "outrider-test-c"
        )
        .unwrap()
        .0["container_label_app"],
        "outrider-test-c"
    );
    // Its limits, from its cgroup files: cAdvisor's quota and period in
    // microseconds.
    for (metric, want) in [
        ("container_spec_cpu_quota", 50_000.0),
        ("container_spec_cpu_period", 100_000.0),
        ("container_spec_memory_limit_bytes", 64.0 * 1024.0 * 1024.0),
    ] {
        let got = series(&samples, metric, "outrider-test-c")
            .unwrap_or_else(|| panic!("{metric} of c"))
            .1;
        assert_eq!(got, want, "{metric} of c");
    }
    podman(&["rm", "-f", "-t", "0", "outrider-test-c"]);
    common::wait_until(Duration::from_secs(10), "series of c to go", || {
        !has_container(&scrape(&outrider), "outrider-test-c")
    });
    assert!(has_container(&scrape(&outrider), "outrider-test-a"));

    // The engine goes away: the collector fails, the others carry on.
    engine.kill_api();
    common::wait_until(Duration::from_secs(10), "the collector to fail", || {
        success(&scrape(&outrider)).get("containers") == Some(&0.0)
    });
    let samples = scrape(&outrider);
    let by_collector = success(&samples);
    for (collector, value) in &by_collector {
        if collector != "containers" {
            assert_eq!(*value, 1.0, "{collector} still succeeds");
        }
    }
    assert!(by_collector.len() > 5, "{by_collector:?}");
    assert!(!has_container(&samples, "outrider-test-a"));
    assert!(!common::family(&samples, "node_load1").is_empty());
    // Failing ticks log once, not once per tick: let two more ticks fail
    // before counting.
    for _ in 0..2 {
        common::wait_for_tick_after_now(&outrider.url("/metrics"));
        assert_eq!(success(&scrape(&outrider)).get("containers"), Some(&0.0));
    }
    let failures = log()
        .lines()
        .filter(|l| l.contains("collector failed") && l.contains("collector=containers"))
        .count();
    assert_eq!(failures, 1, "{}", log());
    assert!(
        log().contains("docker.sock"),
        "the failure names the engine\n{}",
        log()
    );

    // It comes back, and so do the containers (the script starts a and b
    // afresh, with new IDs).
    engine.script(&["start"]);
    common::wait_until(Duration::from_secs(20), "series to come back", || {
        let samples = scrape(&outrider);
        success(&samples).get("containers") == Some(&1.0)
            && has_container(&samples, "outrider-test-a")
            && has_container(&samples, "outrider-test-b")
    });
    assert!(log().contains("collector recovered"), "{}", log());
    eprintln!("containers test took {:?}", started.elapsed());
}
