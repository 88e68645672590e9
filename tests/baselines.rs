//! Baselines in a running outrider: exported for the default host series,
//! continued after kill -9 from the last snapshot, and a damaged snapshot is
//! survived.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Process, family, get, parse_samples, start_outrider_in};

/// Fast ticks, a short warm-up and frequent snapshots.
const CONFIG: &str =
    "collect_interval: 100ms\nbaselines:\n  min_samples: 40\n  snapshot_interval: 300ms\n";

fn config_file(dir: &Path) -> String {
    let path = dir.join("outrider.yml");
    std::fs::write(&path, CONFIG).unwrap();
    path.display().to_string()
}

fn scrape(address: &str) -> common::Reply {
    get(&format!("http://{address}/metrics"), &[])
}

fn value_for(text: &str, name: &str, metric: &str, window: Option<&str>) -> Option<f64> {
    let samples = parse_samples(text);
    family(&samples, name)
        .into_iter()
        .find(|(labels, _)| {
            labels.get("metric").map(String::as_str) == Some(metric)
                && window.is_none_or(|w| labels.get("window").map(String::as_str) == Some(w))
        })
        .map(|(_, v)| v)
}

#[test]
fn default_host_series_get_baselines_and_pass_promtool() {
    let storage = tempfile::tempdir().unwrap();
    let config = config_file(storage.path());
    let (_process, address) = start_outrider_in(storage.path(), &["--config.file", &config], &[]);
    let mut text = String::new();
    common::wait_until(Duration::from_secs(30), "baselines to warm up", || {
        text = scrape(&address).text();
        value_for(
            &text,
            "outrider_anomaly_ratio",
            "node_memory_MemAvailable_bytes",
            None,
        )
        .is_some()
    });
    for metric in ["node_load1", "node_memory_MemAvailable_bytes"] {
        let baseline = value_for(&text, "outrider_baseline", metric, None).unwrap();
        let upper = value_for(&text, "outrider_baseline_upper", metric, None).unwrap();
        let lower = value_for(&text, "outrider_baseline_lower", metric, None).unwrap();
        assert!(
            lower <= baseline && baseline <= upper,
            "{metric}: {lower} {baseline} {upper}"
        );
        assert!(value_for(&text, "outrider_window_samples", metric, Some("5m")).unwrap() >= 40.0);
    }
    // Counters are tracked as per-second rates: CPU seconds per second of one
    // CPU lie near 0..1 (raw counters would be in the thousands). /proc/stat
    // counts in 10 ms jiffies, which over 100 ms ticks on a busy machine can
    // overshoot by more than half.
    let samples = parse_samples(&text);
    let cpu_rates: Vec<f64> = family(&samples, "outrider_window_max")
        .into_iter()
        .filter(|(l, _)| l["metric"] == "node_cpu_seconds_total")
        .map(|(_, v)| v)
        .collect();
    assert!(!cpu_rates.is_empty());
    assert!(
        cpu_rates.iter().all(|r| (0.0..=3.0).contains(r)),
        "{cpu_rates:?}"
    );
    assert!(
        *family(&samples, "outrider_baseline_series")
            .values()
            .next()
            .unwrap()
            > 3.0
    );

    let problems = common::promtool_problems(text.as_bytes());
    assert!(problems.is_empty(), "{problems:?}");
}

fn wait_for_snapshot(storage: &Path) {
    let file = storage.join("baselines.snapshot");
    common::wait_until(Duration::from_secs(10), "a snapshot", || file.exists());
}

fn kill_9(process: &mut Process) {
    let status = process.signal_and_wait("KILL", Duration::from_secs(5));
    assert!(!status.success());
}

#[test]
fn kill_9_then_restart_continues_from_the_last_snapshot() {
    let storage = tempfile::tempdir().unwrap();
    let config = config_file(storage.path());
    let args = ["--config.file", config.as_str()];
    let (mut first, address) = start_outrider_in(storage.path(), &args, &[]);
    common::wait_until(Duration::from_secs(30), "baselines to warm up", || {
        value_for(
            &scrape(&address).text(),
            "outrider_anomaly_ratio",
            "node_load1",
            None,
        )
        .is_some()
    });
    // A snapshot taken after the warm-up, so the restart has a warm one.
    let warm_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    common::wait_until(Duration::from_secs(10), "a snapshot after warm-up", || {
        common::sample_value(
            &scrape(&address).text(),
            "outrider_baseline_snapshot_last_success_timestamp_seconds",
            &[],
        )
        .is_some_and(|at| at > warm_at)
    });
    wait_for_snapshot(storage.path());
    let before = value_for(
        &scrape(&address).text(),
        "outrider_window_samples",
        "node_load1",
        Some("1d"),
    )
    .unwrap();
    kill_9(&mut first);
    // A crash in the middle of the next snapshot leaves a half-written
    // temporary file; it must not matter.
    std::fs::write(
        storage.path().join("baselines.snapshot.tmp"),
        b"OUTRIDRB\x01\x00",
    )
    .unwrap();

    let started = Instant::now();
    let (second, address) = start_outrider_in(storage.path(), &args, &[]);
    let text = scrape(&address).text();
    // A fresh start needs 40 ticks (4 s) before it exports a ratio; a
    // restored one has it on its first tick.
    assert!(started.elapsed() < Duration::from_millis(3500));
    assert!(
        value_for(&text, "outrider_anomaly_ratio", "node_load1", None).is_some(),
        "no ratio right after restart:\n{}",
        second.log_text()
    );
    let after = value_for(&text, "outrider_window_samples", "node_load1", Some("1d")).unwrap();
    // Up to one snapshot interval (3 ticks) may be lost, never more.
    assert!(
        after >= before - 5.0,
        "window count {before} before kill, {after} after restart"
    );
    assert!(
        second
            .log_text()
            .contains("baselines restored from snapshot")
    );
}

#[test]
fn a_damaged_snapshot_is_reported_and_ignored() {
    for damage in [
        &b"not a snapshot"[..],
        &b"OUTRIDRB\x01\x00\x00\x00\xff\xff\xff\xff\x00\x00\x00\x00"[..],
        &b""[..],
    ] {
        let storage = tempfile::tempdir().unwrap();
        std::fs::write(storage.path().join("baselines.snapshot"), damage).unwrap();
        let config = config_file(storage.path());
        let (process, address) =
            start_outrider_in(storage.path(), &["--config.file", &config], &[]);
        assert_eq!(scrape(&address).status, 200);
        assert!(
            process.log_text().contains("baseline snapshot ignored"),
            "{}",
            process.log_text()
        );
        // A copy of the damaged file is kept beside it.
        let copies: Vec<Vec<u8>> = std::fs::read_dir(storage.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("baselines.snapshot.damaged-")
            })
            .map(|p| std::fs::read(p).unwrap())
            .collect();
        assert_eq!(copies, vec![damage.to_vec()]);
        // It starts afresh and its next snapshot replaces the damaged file.
        common::wait_until(Duration::from_secs(10), "a good snapshot", || {
            std::fs::read(storage.path().join("baselines.snapshot"))
                .map(|b| {
                    let version = outrider::baseline::snapshot::VERSION.to_le_bytes();
                    b.starts_with(b"OUTRIDRB") && b[8..12] == version && b.len() > 24
                })
                .unwrap_or(false)
        });
    }
}
