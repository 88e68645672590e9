//! Side by side with the real process-exporter (Debian's 0.7) on the same
//! config: the same groups and series, gauges that agree, and counters that
//! grow alike while a group burns CPU.
//!
//! process-exporter runs with `-gather-smaps=false -threads=false`: outrider
//! never reads smaps (it stalls on large processes) and has no per-thread
//! series, so the proportional memory types and `namedprocess_namegroup_thread_*`
//! are the named differences.

mod common;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{SeriesKey, family, get, parse_samples};

const GROUPS: &str = "process_names:
  - name: sleepers
    cmdline: ['^sleep 3107$']
  - name: 'burn-{{.Comm}}'
    cmdline: ['outrider-parity-burn$']
";

/// Child processes the groups are made of, killed when the test ends.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn(program: &str, args: &[&str]) -> Child {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

type Samples = std::collections::BTreeMap<SeriesKey, f64>;

fn value(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    family(samples, name)
        .into_iter()
        .find(|(l, _)| {
            labels
                .iter()
                .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {name}{labels:?}"))
}

#[test]
fn groups_match_process_exporter() {
    let process_exporter = common::require("prometheus-process-exporter");
    let mut children = Children(Vec::new());
    for _ in 0..3 {
        children.0.push(spawn("sleep", &["3107"]));
    }
    children.0.push(spawn(
        "sh",
        &["-c", "while :; do :; done", "outrider-parity-burn"],
    ));

    let dir = tempfile::tempdir().unwrap();
    let pe_config = dir.path().join("process-exporter.yml");
    std::fs::write(&pe_config, GROUPS).unwrap();
    let outrider_config = dir.path().join("outrider.yml");
    let indented: String = GROUPS.lines().map(|l| format!("    {l}\n")).collect();
    std::fs::write(
        &outrider_config,
        format!("collect_interval: 500ms\ncollectors:\n  processes:\n{indented}"),
    )
    .unwrap();

    let port = common::free_port();
    let _pe = common::spawn(
        &process_exporter,
        &[
            format!("-web.listen-address=127.0.0.1:{port}"),
            format!("-config.path={}", pe_config.display()),
            "-gather-smaps=false".into(),
            "-threads=false".into(),
        ],
        &[],
    );
    let pe_url = format!("http://127.0.0.1:{port}/metrics");
    common::wait_until(Duration::from_secs(10), "process-exporter", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let outrider = common::start_outrider(&["--config.file", outrider_config.to_str().unwrap()]);
    let scrape_outrider = || parse_samples(&get(&outrider.url("/metrics"), &[]).text());
    let scrape_pe = || parse_samples(&get(&pe_url, &[]).text());
    let tick_time = |s: &Samples| *family(s, "node_time_seconds").values().next().unwrap();
    let next_tick = |after: f64| {
        let mut samples = scrape_outrider();
        common::wait_until(Duration::from_secs(5), "an outrider tick", || {
            samples = scrape_outrider();
            tick_time(&samples) > after
        });
        samples
    };
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };

    // Both count from their first look; take two brackets two seconds apart.
    let ours_1 = next_tick(now());
    let theirs_1 = scrape_pe();
    // The pause is the span measured: both exporters must count the same
    // processes' CPU and I/O over it, and it must be long enough for the
    // counters to move well past a jiffy.
    std::thread::sleep(Duration::from_secs(2));
    let theirs_2 = scrape_pe();
    let ours_2 = next_tick(now());

    // The same series for every family outrider exports.
    let names: BTreeSet<&str> = ours_1
        .keys()
        .filter(|k| k.name.starts_with("namedprocess_namegroup_"))
        .map(|k| k.name.as_str())
        .collect();
    assert_eq!(names.len(), 13, "{names:?}");
    for name in &names {
        let ours: BTreeSet<_> = family(&ours_1, name).keys().map(|l| (*l).clone()).collect();
        let theirs: BTreeSet<_> = family(&theirs_1, name)
            .keys()
            .map(|l| (*l).clone())
            .collect();
        assert_eq!(ours, theirs, "series of {name}");
    }

    for group in ["sleepers", "burn-sh"] {
        let g = [("groupname", group)];
        for gauge in [
            "namedprocess_namegroup_num_procs",
            "namedprocess_namegroup_num_threads",
            "namedprocess_namegroup_open_filedesc",
            "namedprocess_namegroup_worst_fd_ratio",
            "namedprocess_namegroup_oldest_start_time_seconds",
        ] {
            assert_eq!(
                value(&ours_1, gauge, &g),
                value(&theirs_1, gauge, &g),
                "{gauge} of {group}"
            );
        }
        for memtype in ["resident", "virtual", "swapped"] {
            let labels = [("groupname", group), ("memtype", memtype)];
            let ours = value(&ours_1, "namedprocess_namegroup_memory_bytes", &labels);
            let theirs = value(&theirs_1, "namedprocess_namegroup_memory_bytes", &labels);
            assert!(
                (ours - theirs).abs() <= 64.0 * 1024.0,
                "{memtype} of {group}: {ours} vs {theirs}"
            );
        }
    }
    assert_eq!(
        value(
            &ours_1,
            "namedprocess_namegroup_num_procs",
            &[("groupname", "sleepers")]
        ),
        3.0
    );
    assert_eq!(
        value(
            &ours_1,
            "namedprocess_namegroup_states",
            &[("groupname", "sleepers"), ("state", "Sleeping")]
        ),
        3.0
    );

    // The burner used up to 2 s of CPU between the brackets, seen alike.
    let cpu = |s: &Samples| {
        value(
            s,
            "namedprocess_namegroup_cpu_seconds_total",
            &[("groupname", "burn-sh"), ("mode", "user")],
        ) + value(
            s,
            "namedprocess_namegroup_cpu_seconds_total",
            &[("groupname", "burn-sh"), ("mode", "system")],
        )
    };
    let ours = cpu(&ours_2) - cpu(&ours_1);
    let theirs = cpu(&theirs_2) - cpu(&theirs_1);
    // On a loaded machine the burner gets less than its 2 s; it still gets
    // some, and both must see it.
    assert!(
        ours > 0.1 && theirs > 0.1,
        "outrider {ours}, process-exporter {theirs}"
    );
    // outrider's bracket encloses process-exporter's.
    assert!(
        ours + 0.05 >= theirs,
        "outrider {ours}, process-exporter {theirs}"
    );
    assert!(
        ours <= theirs + 1.5,
        "outrider {ours}, process-exporter {theirs}"
    );
    let sleepers_cpu = value(
        &ours_2,
        "namedprocess_namegroup_cpu_seconds_total",
        &[("groupname", "sleepers"), ("mode", "user")],
    );
    assert!(sleepers_cpu < 0.05, "sleepers used {sleepers_cpu} s");
}

#[test]
fn counters_stay_monotonic_as_processes_come_and_go() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("outrider.yml");
    std::fs::write(
        &config,
        "collect_interval: 200ms\ncollectors:\n  processes:\n    process_names:\n      - name: workers\n        cmdline: ['outrider-monotonic-worker$']\n",
    )
    .unwrap();
    let outrider = common::start_outrider(&["--config.file", config.to_str().unwrap()]);
    let cpu = || {
        let samples = parse_samples(&get(&outrider.url("/metrics"), &[]).text());
        let procs = family(&samples, "namedprocess_namegroup_num_procs")
            .into_iter()
            .find(|(l, _)| l["groupname"] == "workers")
            .map(|(_, v)| v);
        let cpu: f64 = family(&samples, "namedprocess_namegroup_cpu_seconds_total")
            .into_iter()
            .filter(|(l, _)| l["groupname"] == "workers")
            .map(|(_, v)| v)
            .sum();
        (procs, cpu)
    };
    let mut last = 0.0;
    for round in 0..3 {
        // A worker that burns CPU for a second, then exits.
        let mut worker = spawn(
            "timeout",
            &[
                "1",
                "sh",
                "-c",
                "while :; do :; done",
                "outrider-monotonic-worker",
            ],
        );
        common::wait_until(Duration::from_secs(5), "the worker to be seen", || {
            cpu().0 == Some(2.0) || cpu().0 == Some(1.0)
        });
        worker.wait().unwrap();
        common::wait_until(Duration::from_secs(5), "the worker to be gone", || {
            cpu().0 == Some(0.0)
        });
        let (_, total) = cpu();
        assert!(
            total >= last,
            "round {round}: cpu went from {last} to {total}"
        );
        assert!(
            total > last + 0.05,
            "round {round}: the worker's CPU was not counted ({last} → {total})"
        );
        last = total;
    }
}
