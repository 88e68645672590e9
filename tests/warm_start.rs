//! `baselines.warm_start` against a real Prometheus holding backfilled
//! history (`promtool tsdb create-blocks-from openmetrics`): a start with
//! empty storage scores its first ticks as a sidecar that had run through
//! that history does; a restart with saved state asks nothing; a Prometheus
//! that does not answer is a cold start, said once.

mod common;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Process, get, parse_samples, sample_value, send, wait_until};
use outrider::baseline::Tracker;
use outrider::metric::{Family, MetricType, Sample};

const TOKEN: &str = "warm-start-push-token-0123";
const INTERVAL: f64 = 2.0;
const STEP: i64 = 60;
const DAY: i64 = 86_400;

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs_f64()
}

/// Noise in [-1, 1) that is the same on every run.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
}

/// One pod's samples of one series: (time, value).
type Samples = Vec<(i64, f64)>;

/// Two days of a queue depth and a request counter with a daily cycle, as
/// two pods of `checkout` in namespace `shop` wrote them one after the
/// other (the counter starts over in the second pod), and a decoy of
/// another namespace that must not be read.
struct History {
    /// Per pod: the gauge's and the counter's samples.
    pods: Vec<(&'static str, &'static str, Samples, Samples)>,
}

fn history(end: i64) -> History {
    let start = end - 2 * DAY;
    let middle = end - DAY;
    let mut noise = Noise(17);
    let mut pods = Vec::new();
    for (namespace, pod, from, to, scale) in [
        ("shop", "checkout-7d9f-a", start, middle, 1.0),
        ("shop", "checkout-7d9f-b", middle + STEP, end, 1.0),
        ("other", "checkout-5c4b-x", start, end, 100.0),
    ] {
        let (mut gauge, mut counter) = (Vec::new(), Vec::new());
        let mut total = 0.0;
        let mut t = from;
        while t <= to {
            let phase = 2.0 * std::f64::consts::PI * (t % DAY) as f64 / DAY as f64;
            gauge.push((t, scale * (50.0 + 20.0 * phase.sin() + 3.0 * noise.next())));
            let rate = scale * (10.0 + 5.0 * phase.cos() + 1.5 * noise.next());
            total += rate * STEP as f64;
            counter.push((t, total.round()));
            t += STEP;
        }
        pods.push((namespace, pod, gauge, counter));
    }
    History { pods }
}

fn openmetrics(history: &History) -> String {
    let mut text = String::from("# TYPE queue_depth gauge\n");
    for (namespace, pod, gauge, _) in &history.pods {
        for (t, v) in gauge {
            writeln!(text, "queue_depth{{namespace=\"{namespace}\",job=\"checkout\",pod=\"{pod}\",service=\"checkout\",queue=\"a\"}} {v} {t}").unwrap();
        }
    }
    text.push_str("# TYPE requests counter\n");
    for (namespace, pod, _, counter) in &history.pods {
        for (t, v) in counter {
            writeln!(text, "requests_total{{namespace=\"{namespace}\",job=\"checkout\",pod=\"{pod}\",service=\"checkout\"}} {v} {t}").unwrap();
        }
    }
    text.push_str("# EOF\n");
    text
}

/// Prometheus on 127.0.0.1 over a data directory holding the history.
fn prometheus_with(history: &History, dir: &Path) -> (Process, String) {
    common::prometheus_with_history(&openmetrics(history), dir)
}

fn config(prometheus: &str) -> String {
    format!(
        "collect_interval: {INTERVAL}s
rules: []
push:
  token: {TOKEN}
external_labels:
  namespace: $POD_NAMESPACE
  job: checkout
  pod: $POD_NAME
baselines:
  min_samples: 20
  track:
    - selector: queue_depth
      seasonal: true
    - selector: requests_total
  warm_start:
    prometheus: {prometheus}
    identity_labels: [namespace, job]
    lookback: 3d
    timeout: 20s
"
    )
}

/// Pushes the live values: an anomalous queue depth, a queue with no
/// history, and the counter at `requests`.
fn push(address: &str, requests: f64) {
    let body = format!(
        r#"{{"service": "checkout", "metrics": [
        {{"name": "queue_depth", "type": "gauge", "value": 93.5, "labels": {{"queue": "a"}}}},
        {{"name": "queue_depth", "type": "gauge", "value": 4, "labels": {{"queue": "new"}}}},
        {{"name": "requests_total", "type": "counter", "value": {requests}}}]}}"#
    );
    let auth = format!("Bearer {TOKEN}");
    let reply = send(
        "POST",
        &format!("http://{address}/api/v1/metrics/push"),
        &[("Authorization", &auth)],
        body.as_bytes(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
}

fn outcome(text: &str, outcome: &str) -> Option<f64> {
    sample_value(
        text,
        "outrider_baseline_warm_start_series",
        &[("outcome", outcome)],
    )
}

/// Every exposition of distinct ticks, by tick time, until `done` says so.
fn record_ticks(
    metrics: &str,
    within: Duration,
    mut done: impl FnMut(&BTreeMap<u64, String>) -> bool,
) -> BTreeMap<u64, String> {
    let mut ticks = BTreeMap::new();
    let deadline = Instant::now() + within;
    while !done(&ticks) {
        assert!(
            Instant::now() < deadline,
            "timed out; ticks seen: {:?}",
            ticks.keys().collect::<Vec<_>>()
        );
        let reply = get(metrics, &[]);
        let text = reply.text();
        if reply.status != 200 {
            std::thread::sleep(Duration::from_millis(40));
            continue;
        }
        if let Some(at) = sample_value(&text, "outrider_tick_timestamp_seconds", &[]) {
            ticks.entry(at.to_bits()).or_insert(text);
        }
        std::thread::sleep(Duration::from_millis(40));
    }
    ticks
}

/// The exported gauges a sidecar that ran through `history` and then saw
/// `live` (tick time, value) would show at each live tick.
fn reference(
    name: &'static str,
    kind: MetricType,
    labels: &[(&'static str, &str)],
    history: &[(f64, f64)],
    live: &[(f64, f64)],
    yaml: &str,
) -> Vec<BTreeMap<&'static str, f64>> {
    let config = outrider::config::Config::from_yaml(yaml, "test").unwrap();
    let mut tracker = Tracker::new(config.baselines);
    let labels: Arc<outrider::metric::Labels> = Arc::new(
        labels
            .iter()
            .map(|(n, v)| (Cow::Borrowed(*n), v.to_string()))
            .collect(),
    );
    let family = |value: f64, read_at: Option<f64>| Family {
        name: Cow::Borrowed(name),
        help: Cow::Borrowed(""),
        kind,
        samples: vec![Sample {
            labels: Arc::clone(&labels),
            value,
        }],
        read_at,
        origin: None,
    };
    for (t, v) in history {
        tracker.observe(&[family(*v, Some(*t))], *t);
    }
    live.iter()
        .map(|(t, v)| {
            let out = tracker.observe(&[family(*v, None)], *t);
            let mut gauges = BTreeMap::new();
            for gauge in [
                "outrider_baseline",
                "outrider_anomaly_ratio",
                "outrider_anomaly_zscore",
                "outrider_anomaly_score",
            ] {
                if let Some(sample) = out
                    .iter()
                    .find(|f| f.name == gauge)
                    .and_then(|f| f.samples.first())
                {
                    gauges.insert(gauge, sample.value);
                }
            }
            gauges
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn a_start_with_empty_storage_scores_as_a_sidecar_that_ran_through_the_history() {
    let dir = tempfile::tempdir().unwrap();
    // The history ends at the last whole minute, as a pod replaced now.
    let end = (now() as i64 / STEP) * STEP - STEP;
    let history = history(end);
    let (_prometheus, api) = prometheus_with(&history, dir.path());
    let yaml = config(&api);
    let env = [("POD_NAMESPACE", "shop"), ("POD_NAME", "checkout-7d9f-c")];
    let (mut outrider, address) = common::spawn_configured(dir.path(), &yaml, &[], &env);
    let metrics = format!("http://{address}/metrics");
    wait_until(Duration::from_secs(10), "outrider ready", || {
        get(&format!("http://{address}/-/ready"), &[]).status == 200
    });
    let started = Instant::now();
    // The counter where the last pod left it: its first live rate is 0
    // whatever the time between the readings. That time is when the
    // collectors read (a few ms after the tick's time, which is all the
    // exposition tells), so a rate over it cannot be recomputed here.
    let last_count = history.pods[1].3.last().unwrap().1;
    push(&address, last_count);
    // Every tick from the first that sees the pushed series until three
    // ticks after the seeded states were put in place.
    let ticks = record_ticks(&metrics, Duration::from_secs(40), |ticks| {
        let seeded = ticks
            .values()
            .filter(|text| outcome(text, "seeded") == Some(2.0))
            .count();
        seeded >= 3
    });
    let took = started.elapsed();
    let last = ticks.values().last().unwrap();
    assert_eq!(
        outcome(last, "empty"),
        Some(1.0),
        "queue=\"new\" has no history"
    );
    assert_eq!(outcome(last, "failed"), Some(0.0));

    let live_labels_gauge = [("queue", "a"), ("service", "checkout")];
    let live_labels_counter = [("service", "checkout")];
    let live: Vec<(f64, &String)> = ticks
        .iter()
        .map(|(at, text)| (f64::from_bits(*at), text))
        .filter(|(_, text)| sample_value(text, "queue_depth", &live_labels_gauge).is_some())
        .collect();
    for pair in live.windows(2) {
        assert!(
            pair[1].0 - pair[0].0 < 1.5 * INTERVAL,
            "a tick was missed between {} and {}: the reference would not see the same samples",
            pair[0].0,
            pair[1].0
        );
    }
    let shop: Vec<_> = history.pods.iter().filter(|p| p.0 == "shop").collect();
    let stitched = |counter: bool| -> Vec<(f64, f64)> {
        shop.iter()
            .flat_map(|p| if counter { &p.3 } else { &p.2 })
            .map(|(t, v)| (*t as f64, *v))
            .collect()
    };
    for (name, kind, labels, samples) in [
        (
            "queue_depth",
            MetricType::Gauge,
            &live_labels_gauge[..],
            stitched(false),
        ),
        (
            "requests_total",
            MetricType::Counter,
            &live_labels_counter[..],
            stitched(true),
        ),
    ] {
        let values: Vec<(f64, f64)> = live
            .iter()
            .map(|(t, text)| (*t, sample_value(text, name, labels).unwrap()))
            .collect();
        let expected = reference(name, kind, labels, &samples, &values, &yaml);
        let mut exported: Vec<(&str, &str)> = labels.to_vec();
        exported.push(("metric", name));
        let mut compared = 0;
        for ((at, text), want) in live.iter().zip(&expected) {
            if outcome(text, "seeded") != Some(2.0) {
                continue;
            }
            for gauge in [
                "outrider_baseline",
                "outrider_anomaly_ratio",
                "outrider_anomaly_zscore",
                "outrider_anomaly_score",
            ] {
                let got = sample_value(text, gauge, &exported);
                let want = want.get(gauge).copied();
                assert!(
                    match (got, want) {
                        (Some(g), Some(w)) => close(g, w),
                        (None, None) => true,
                        _ => false,
                    },
                    "{name} {gauge} at tick {at}: exported {got:?}, a sidecar that ran through the history {want:?}"
                );
            }
            if sample_value(text, "outrider_anomaly_zscore", &exported).is_some() {
                compared += 1;
            }
        }
        assert!(compared >= 3, "{name}: {compared} ticks compared");
    }
    eprintln!(
        "warm start of 3 series over 3d (2 with 2 days of samples every {STEP}s): {:?} s from the start to the last answer, {took:?} from the push to the third seeded tick",
        sample_value(last, "outrider_baseline_warm_start_duration_seconds", &[])
    );

    // A restart with the saved state asks Prometheus nothing: every series
    // keeps its state (scored on the first tick) and none is seeded.
    outrider.signal_and_wait("TERM", Duration::from_secs(10));
    let (restarted, address) = common::spawn_configured(dir.path(), &yaml, &[], &env);
    let metrics = format!("http://{address}/metrics");
    let ticks = record_ticks(&metrics, Duration::from_secs(20), |ticks| {
        ticks
            .values()
            .any(|text| sample_value(text, "queue_depth", &live_labels_gauge).is_some())
    });
    let first = ticks.values().last().unwrap();
    for name in ["seeded", "empty", "failed", "pending"] {
        assert_eq!(outcome(first, name), Some(0.0), "{name}: {first}");
    }
    let mut exported: Vec<(&str, &str)> = live_labels_gauge.to_vec();
    exported.push(("metric", "queue_depth"));
    assert!(
        sample_value(first, "outrider_anomaly_zscore", &exported).is_some(),
        "the restored state scores the first tick:\n{first}"
    );
    drop(restarted);
}

#[test]
fn a_prometheus_that_does_not_answer_is_a_cold_start_said_once() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on this port.
    let nobody = format!("http://127.0.0.1:{}", common::free_port());
    let yaml = config(&nobody);
    let env = [("POD_NAMESPACE", "shop"), ("POD_NAME", "checkout-7d9f-c")];
    let (outrider, address) = common::spawn_configured(dir.path(), &yaml, &[], &env);
    let metrics = format!("http://{address}/metrics");
    wait_until(Duration::from_secs(10), "outrider ready", || {
        get(&format!("http://{address}/-/ready"), &[]).status == 200
    });
    push(&address, 1250.0);
    wait_until(Duration::from_secs(20), "the warm start to fail", || {
        outcome(&get(&metrics, &[]).text(), "failed") == Some(3.0)
    });
    let text = get(&metrics, &[]).text();
    let samples = parse_samples(&text);
    assert_eq!(outcome(&text, "seeded"), Some(0.0));
    assert_eq!(outcome(&text, "pending"), Some(0.0));
    // Cold, as without a warm start: tracked, nothing scored yet.
    assert!(
        samples.keys().any(|k| k.name == "outrider_baseline_series"),
        "{text}"
    );
    assert!(!samples.keys().any(|k| k.name == "outrider_anomaly_zscore"));
    let log = outrider.log_text();
    assert_eq!(
        log.matches("baseline warm start failed").count(),
        1,
        "{log}"
    );
    assert!(
        log.contains(&nobody[7..]),
        "the line names the Prometheus: {log}"
    );
}
