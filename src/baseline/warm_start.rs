//! `baselines.warm_start`: a series with no saved state (a new pod's empty
//! `storage.path` after a rollout) is seeded from the history Prometheus
//! holds of the same series, scraped from the pods that ran before.
//!
//! The series is picked in Prometheus by its name, its own labels and the
//! `identity_labels` (names of `external_labels`, whose values name the
//! workload rather than the pod: `namespace`, `job`, …); the labels that
//! change with every pod (`pod`, `instance`) are left free. Its raw samples
//! over `lookback` (one instant query of a range selector, so every sample
//! comes with the time it was scraped, and nothing is resampled or
//! repeated) go through a tracker of the running config exactly as live
//! samples do, so the seeded state is the one a sidecar that had seen
//! those samples would hold.
//!
//! Off the tick: the tick that first sees a series asks a worker thread for
//! its history and goes on cold; it keeps that series' live samples until
//! the history arrives, then replays them on top of it and puts the result
//! in place of the cold state before the next update. Only series first
//! seen within `timeout` of the start are seeded, and nothing is asked after
//! it: the warm start is a bounded cost of starting, not a steady load on
//! Prometheus. Histogram tracks start cold.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tracing::{info, warn};

use super::config::Config;
use super::tracker::{Tracked, Tracker};
use crate::alertmanagers::{AlertmanagerEntry, DeliveryError, Endpoint, entry_endpoints};
use crate::metric::{Family, Labels, MetricType, Sample};

/// The `baselines.warm_start` block.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WarmStartConfig {
    /// The Prometheus that scrapes this outrider: a base URL
    /// (`http://prometheus:9090`), or a block as in `alerting.alertmanagers`
    /// (`static_configs`, `scheme`, `path_prefix`, `timeout`, `tls_config`,
    /// `authorization`, `basic_auth`); the first target is asked.
    pub prometheus: AlertmanagerEntry,
    /// How much history to read. Unset: 7d when a tracked series keeps a
    /// seasonal profile (each of its 168 hour-of-week buckets is seen once
    /// a week), else the longest of `baselines.windows` (1d by default),
    /// past which no state of a series depends on a sample.
    #[serde(default, with = "humantime_serde")]
    pub lookback: Option<Duration>,
    /// Names of `external_labels` whose values identify the workload in
    /// Prometheus across pods, such as `[namespace, job]`. Labels that
    /// change with every pod (`pod`, `instance`) must not be listed.
    pub identity_labels: Vec<String>,
    /// How long after the start series are seeded; series seen later, and
    /// answers later, start cold.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// The most series seeded; the others start cold.
    #[serde(default = "default_max_series")]
    pub max_series: usize,
    /// The most samples a series is seeded with (the newest are kept).
    #[serde(default = "default_max_points")]
    pub max_points_per_series: usize,
    /// The most series one query may match (pods of the workload over the
    /// lookback); more means `identity_labels` pick more than one
    /// workload, and the series starts cold.
    #[serde(default = "default_max_matches")]
    pub max_matches: usize,
}

fn default_timeout() -> Duration {
    Duration::from_secs(60)
}

fn default_max_series() -> usize {
    2000
}

/// A week of samples every 5 s.
fn default_max_points() -> usize {
    120_960
}

fn default_max_matches() -> usize {
    64
}

/// The longest answer read from Prometheus for one series.
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;
/// The most live samples kept for a series while its history is on the
/// way; more means the answer is far later than any timeout allows.
const MAX_BUFFERED: usize = 4096;

impl WarmStartConfig {
    pub fn validate(&self) -> Result<(), String> {
        entry_endpoints(&self.prometheus, self.timeout)
            .map_err(|e| format!("baselines.warm_start.prometheus: {e}"))?;
        if self.timeout.is_zero() {
            return Err("baselines.warm_start.timeout must be more than 0s".into());
        }
        if self.lookback.is_some_and(|l| l.is_zero()) {
            return Err("baselines.warm_start.lookback must be more than 0s".into());
        }
        if self.max_points_per_series == 0 || self.max_matches == 0 {
            return Err(
                "baselines.warm_start: max_points_per_series and max_matches must be more than 0"
                    .into(),
            );
        }
        Ok(())
    }

    /// The lookback asked for, or the one the tracked series need.
    fn lookback_for(&self, config: &Config) -> Duration {
        self.lookback.unwrap_or_else(|| {
            let seasonal = config
                .track
                .iter()
                .any(|t| t.seasonal.unwrap_or(config.seasonal.unwrap_or(false)));
            if seasonal {
                Duration::from_secs(7 * 86400)
            } else {
                config
                    .windows
                    .iter()
                    .copied()
                    .max()
                    .unwrap_or_default()
                    .max(config.half_life * 10)
            }
        })
    }
}

/// Each identity label must be an external label: its value is what names
/// the workload.
pub fn check_identity(
    warm_start: Option<&WarmStartConfig>,
    external_labels: &BTreeMap<String, String>,
) -> Result<(), String> {
    let Some(warm_start) = warm_start else {
        return Ok(());
    };
    if warm_start.identity_labels.is_empty() {
        return Err("baselines.warm_start.identity_labels: name at least one of external_labels (such as namespace and job), or every pod of every workload matches".into());
    }
    for name in &warm_start.identity_labels {
        if !external_labels.contains_key(name) {
            return Err(format!(
                "baselines.warm_start.identity_labels: {name:?} is not in external_labels, which give its value"
            ));
        }
    }
    Ok(())
}

/// A series asked for, and the tick that first saw it: history ends before.
struct Request {
    key: String,
    name: String,
    labels: Vec<(String, String)>,
    kind: MetricType,
    before: f64,
}

enum Reply {
    Seeded { key: String, tracked: Box<Tracked> },
    Empty { key: String },
    Failed { key: String },
}

/// One live sample of a series waiting for its history.
#[derive(Clone, Copy)]
struct Point {
    now: f64,
    value: f64,
    read_at: Option<f64>,
}

struct Pending {
    name: String,
    labels: Arc<Labels>,
    kind: MetricType,
    points: Vec<Point>,
}

/// What the warm start has done, by outcome.
#[derive(Default)]
struct Counts {
    seeded: u64,
    empty: u64,
    failed: u64,
}

struct Running {
    requests: Option<mpsc::Sender<Vec<Request>>>,
    replies: mpsc::Receiver<Reply>,
    /// Series already asked for, or restored from disk: never asked again.
    known: HashSet<String>,
    pending: HashMap<String, Pending>,
    asked: usize,
    max_series: usize,
    window_ends: f64,
    started: Instant,
    counts: Counts,
    /// Seconds from the start to the last answer.
    last_answer: Option<f64>,
    logged_done: bool,
}

/// The warm start of one process.
pub struct WarmStart(Option<Running>);

impl WarmStart {
    /// Starts the worker when `config` asks for a warm start; `tracker`
    /// holds the series restored from disk, which keep their state.
    pub fn new(
        config: Option<&WarmStartConfig>,
        external_labels: &BTreeMap<String, String>,
        tracker: &Tracker,
        now: f64,
    ) -> WarmStart {
        let Some(config) = config else {
            if tracker.is_empty() {
                info!(
                    "no saved baselines and no baselines.warm_start: baselines start cold and score nothing until they have learned"
                );
            }
            return WarmStart(None);
        };
        match Self::start(config, external_labels, tracker, now) {
            Ok(running) => WarmStart(Some(running)),
            Err(reason) => {
                warn!(error = %reason, "baselines.warm_start cannot run; baselines start cold");
                WarmStart(None)
            }
        }
    }

    fn start(
        config: &WarmStartConfig,
        external_labels: &BTreeMap<String, String>,
        tracker: &Tracker,
        now: f64,
    ) -> Result<Running, String> {
        let endpoint = entry_endpoints(&config.prometheus, config.timeout)?
            .into_iter()
            .next()
            .ok_or("no Prometheus to ask")?;
        let expanded = crate::external_labels::ExternalLabels::from_env(external_labels);
        let identity = config
            .identity_labels
            .iter()
            .map(|name| {
                expanded
                    .as_map()
                    .get(name)
                    .map(|value| (name.clone(), value.clone()))
                    .ok_or_else(|| format!("identity label {name:?} has no value"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let known = tracker
            .series()
            .map(|t| key_of(&t.name, t.labels.iter().map(|(n, v)| (n.as_str(), v))))
            .collect();
        let (requests, asked) = mpsc::channel();
        let (answered, replies) = mpsc::channel();
        let worker = Worker {
            endpoint,
            identity,
            lookback: config.lookback_for(tracker.config()),
            max_points: config.max_points_per_series,
            max_matches: config.max_matches,
            config: tracker.config().clone(),
            deadline: Instant::now() + config.timeout,
        };
        std::thread::Builder::new()
            .name("warm-start".into())
            .spawn(move || worker.run(asked, answered))
            .map_err(|e| format!("starting its thread: {e}"))?;
        Ok(Running {
            requests: Some(requests),
            replies,
            known,
            pending: HashMap::new(),
            asked: 0,
            max_series: config.max_series,
            window_ends: now + config.timeout.as_secs_f64(),
            started: Instant::now(),
            counts: Counts::default(),
            last_answer: None,
            logged_done: false,
        })
    }

    /// Puts the seeded states that arrived in place of the cold ones, each
    /// with the live samples it missed; before the tick's update.
    pub fn apply(&mut self, tracker: &mut Tracker) {
        let Some(running) = &mut self.0 else { return };
        loop {
            let reply = match running.replies.try_recv() {
                Ok(reply) => reply,
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    // The worker has stopped at its deadline: what it did
                    // not answer starts cold.
                    running.counts.failed += running.pending.len() as u64;
                    running.pending.clear();
                    break;
                }
            };
            running.last_answer = Some(running.started.elapsed().as_secs_f64());
            match reply {
                Reply::Seeded { key, tracked } => {
                    let Some(pending) = running.pending.remove(&key) else {
                        continue;
                    };
                    let mut scratch = Tracker::new(tracker.config().clone());
                    scratch.restore(vec![*tracked]);
                    feed(&mut scratch, &pending, &pending.points);
                    let replaced = scratch
                        .series()
                        .next()
                        .cloned()
                        .is_some_and(|t| tracker.replace(t));
                    if replaced {
                        running.counts.seeded += 1;
                    } else {
                        running.counts.failed += 1;
                    }
                }
                Reply::Empty { key } => {
                    running.pending.remove(&key);
                    running.counts.empty += 1;
                }
                Reply::Failed { key } => {
                    running.pending.remove(&key);
                    running.counts.failed += 1;
                }
            }
        }
        if !running.logged_done && running.requests.is_none() && running.pending.is_empty() {
            running.logged_done = true;
            info!(
                seeded = running.counts.seeded,
                empty = running.counts.empty,
                failed = running.counts.failed,
                seconds = running.last_answer.unwrap_or_default(),
                "baseline warm start done"
            );
        }
    }

    /// After the tick's update: asks for the history of the series seen for
    /// the first time, keeps the live samples of those waiting, and returns
    /// the warm start's own gauges.
    pub fn observe(&mut self, tracker: &Tracker, families: &[Family], now: f64) -> Vec<Family> {
        let Some(running) = &mut self.0 else {
            return Vec::new();
        };
        if now >= running.window_ends {
            // The worker finishes what it was given, within its deadline.
            running.requests = None;
        }
        if let Some(requests) = &running.requests {
            let mut batch = Vec::new();
            for tracked in tracker.series() {
                let key = key_of(
                    &tracked.name,
                    tracked.labels.iter().map(|(n, v)| (n.as_str(), v)),
                );
                if running.known.contains(&key) || running.asked >= running.max_series {
                    continue;
                }
                running.known.insert(key.clone());
                let histogram = tracker
                    .config()
                    .track
                    .get(tracked.track)
                    .is_some_and(|t| t.histogram.is_some());
                let Some(kind) = families
                    .iter()
                    .find(|f| f.name == tracked.name)
                    .map(|f| f.kind)
                else {
                    continue;
                };
                if histogram {
                    continue;
                }
                running.asked += 1;
                running.pending.insert(
                    key.clone(),
                    Pending {
                        name: tracked.name.clone(),
                        labels: Arc::new(
                            tracked
                                .labels
                                .iter()
                                .map(|(n, v)| (Cow::Owned(n.clone()), v.clone()))
                                .collect(),
                        ),
                        kind,
                        points: Vec::new(),
                    },
                );
                batch.push(Request {
                    key,
                    name: tracked.name.clone(),
                    labels: tracked.labels.clone(),
                    kind,
                    before: now,
                });
            }
            if !batch.is_empty() {
                if let Err(mpsc::SendError(lost)) = requests.send(batch) {
                    // The worker has stopped: these start cold.
                    for request in lost {
                        running.pending.remove(&request.key);
                        running.counts.failed += 1;
                    }
                    running.requests = None;
                }
            }
        }
        if !running.pending.is_empty() {
            keep_live_samples(running, families, now);
        }
        let mut series = Family::gauge(
            "outrider_baseline_warm_start_series",
            "Series whose baseline the warm start seeded from Prometheus's history, found none for, failed to read, or still waits for.",
        );
        let waiting = running.pending.len() as f64;
        series.push([("outcome", "seeded")], running.counts.seeded as f64);
        series.push([("outcome", "empty")], running.counts.empty as f64);
        series.push([("outcome", "failed")], running.counts.failed as f64);
        series.push([("outcome", "pending")], waiting);
        let mut out = vec![series];
        if let Some(took) = running.last_answer.filter(|_| running.pending.is_empty()) {
            out.push(
                Family::gauge(
                    "outrider_baseline_warm_start_duration_seconds",
                    "How long the warm start took, from the start to its last answer.",
                )
                .single(took),
            );
        }
        out
    }
}

fn keep_live_samples(running: &mut Running, families: &[Family], now: f64) {
    let mut overflow = Vec::new();
    for family in families {
        if !running.pending.values().any(|p| p.name == family.name) {
            continue;
        }
        for sample in &family.samples {
            let key = key_of(&family.name, sample.labels.iter().map(|(n, v)| (&**n, v)));
            if let Some(pending) = running.pending.get_mut(&key) {
                pending.points.push(Point {
                    now,
                    value: sample.value,
                    read_at: family.read_at,
                });
                if pending.points.len() > MAX_BUFFERED {
                    overflow.push(key);
                }
            }
        }
    }
    for key in overflow {
        running.pending.remove(&key);
        running.counts.failed += 1;
    }
}

/// A series' identity, as the warm start tells series apart.
fn key_of<'a>(name: &str, labels: impl Iterator<Item = (&'a str, &'a String)>) -> String {
    let mut key = name.to_owned();
    for (label, value) in labels {
        key.push('\u{0}');
        key.push_str(label);
        key.push('=');
        key.push_str(value);
    }
    key
}

/// Feeds `points` to `tracker` as the ticks of a sidecar that saw them. A
/// gap longer than `idle_timeout` starts the series afresh, as a running
/// sidecar would have (see `Tracker`).
fn feed(tracker: &mut Tracker, series: &Pending, points: &[Point]) {
    for point in points {
        let family = Family {
            name: Cow::Owned(series.name.clone()),
            help: Cow::Borrowed(""),
            kind: series.kind,
            samples: vec![Sample {
                labels: Arc::clone(&series.labels),
                value: point.value,
            }],
            read_at: point.read_at,
            origin: None,
        };
        tracker.observe_with(
            std::slice::from_ref(&family),
            point.now,
            &mut |_, _, _| {},
            false,
        );
    }
}

/// Asks Prometheus, one series at a time, and seeds each series from what
/// it answers.
struct Worker {
    endpoint: Endpoint,
    identity: Vec<(String, String)>,
    lookback: Duration,
    max_points: usize,
    max_matches: usize,
    config: Config,
    deadline: Instant,
}

#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error(transparent)]
    Request(#[from] DeliveryError),
    #[error("the answer is not a query result: {0}")]
    Answer(String),
    #[error("{0} series match; identity_labels pick more than one workload")]
    TooMany(usize),
}

impl Worker {
    fn run(self, asked: mpsc::Receiver<Vec<Request>>, answer: mpsc::Sender<Reply>) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => Some(runtime),
            Err(e) => {
                warn!(error = %e, "baseline warm start failed; baselines start cold");
                None
            }
        };
        // After one failure to reach Prometheus, the rest are not asked:
        // a Prometheus down is one log line and a prompt cold start.
        let mut unreachable = runtime.is_none();
        let mut logged = false;
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            let Ok(batch) = asked.recv_timeout(left) else {
                break;
            };
            for request in batch {
                let reply = match (&runtime, unreachable || Instant::now() >= self.deadline) {
                    (Some(runtime), false) => {
                        match runtime.block_on(self.fetch_by_deadline(&request)) {
                            Ok(points) if points.is_empty() => Reply::Empty { key: request.key },
                            Ok(points) => self.seed(request, &points),
                            Err(e) => {
                                unreachable = matches!(
                                    e,
                                    FetchError::Request(
                                        DeliveryError::Connect(_)
                                            | DeliveryError::Timeout(_)
                                            | DeliveryError::Tls(_)
                                            | DeliveryError::Http(_)
                                    )
                                );
                                if !logged {
                                    logged = true;
                                    warn!(prometheus = %self.endpoint.label, series = %request.name, error = %e, "baseline warm start failed; baselines start cold");
                                }
                                Reply::Failed { key: request.key }
                            }
                        }
                    }
                    _ => Reply::Failed { key: request.key },
                };
                if answer.send(reply).is_err() {
                    return;
                }
            }
        }
    }

    /// `fetch`, given up at the deadline: an answer later than that would
    /// seed a series that has long been scoring cold.
    async fn fetch_by_deadline(&self, request: &Request) -> Result<Vec<Point>, FetchError> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        tokio::time::timeout(left, self.fetch(request))
            .await
            .unwrap_or(Err(FetchError::Request(DeliveryError::Timeout(left))))
    }

    /// The series' history, one pod after another.
    async fn fetch(&self, request: &Request) -> Result<Vec<Point>, FetchError> {
        let mut selector = format!("{{__name__=\"{}\"", escape(&request.name));
        for (name, value) in request.labels.iter().chain(&self.identity) {
            selector.push_str(&format!(",{name}=\"{}\"", escape(value)));
        }
        selector.push_str(&format!("}}[{}s]", self.lookback.as_secs().max(1)));
        // Before the first live sample, in Prometheus's milliseconds.
        let time = (request.before * 1000.0).floor() / 1000.0 - 0.001;
        let path = format!(
            "/api/v1/query?query={}&time={time:.3}",
            percent_encode(&selector)
        );
        let body = self.endpoint.get(&path, MAX_ANSWER_BYTES).await?;
        let series = parse_answer(&body, self.max_matches)?;
        let mut stitched = stitch(series);
        if stitched.len() > self.max_points {
            stitched.drain(..stitched.len() - self.max_points);
        }
        Ok(stitched
            .into_iter()
            .map(|(t, value)| Point {
                now: t,
                value,
                read_at: Some(t),
            })
            .collect())
    }

    fn seed(&self, request: Request, points: &[Point]) -> Reply {
        let pending = Pending {
            name: request.name,
            labels: Arc::new(
                request
                    .labels
                    .into_iter()
                    .map(|(n, v)| (Cow::Owned(n), v))
                    .collect(),
            ),
            kind: request.kind,
            points: Vec::new(),
        };
        let mut tracker = Tracker::new(self.config.clone());
        feed(&mut tracker, &pending, points);
        let idle = self.config.idle_timeout.as_secs_f64();
        match tracker.series().next() {
            // History that ended longer ago than the idle timeout is state a
            // running sidecar would have dropped.
            Some(tracked) if request.before - tracked.last_seen <= idle => Reply::Seeded {
                key: request.key,
                tracked: Box::new(tracked.clone()),
            },
            _ => Reply::Empty { key: request.key },
        }
    }
}

/// The samples of each series of a query's JSON answer; values that are
/// not numbers are left out.
fn parse_answer(body: &[u8], max_matches: usize) -> Result<Vec<Vec<(f64, f64)>>, FetchError> {
    let answer: Answer =
        serde_json::from_slice(body).map_err(|e| FetchError::Answer(e.to_string()))?;
    if answer.status != "success" {
        return Err(FetchError::Answer(answer.status));
    }
    let data = answer.data.ok_or(FetchError::Answer("no data".into()))?;
    if data.result.len() > max_matches {
        return Err(FetchError::TooMany(data.result.len()));
    }
    Ok(data
        .result
        .into_iter()
        .map(|s| {
            s.values
                .into_iter()
                .filter_map(|(t, v)| Some((t, v.parse::<f64>().ok()?)))
                .filter(|(t, _)| t.is_finite())
                .collect()
        })
        .collect())
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    data: Option<AnswerData>,
}

#[derive(Deserialize)]
struct AnswerData {
    #[serde(default)]
    result: Vec<AnswerSeries>,
}

#[derive(Deserialize)]
struct AnswerSeries {
    #[serde(default)]
    values: Vec<(f64, String)>,
}

/// One history from the series of several pods: one series at a time,
/// followed to its end, then the one with the earliest sample after it, so
/// that every value is one pod's, as the sidecar of one pod sees it.
/// Replicas that overlap are not summed or averaged (per-pod values of two
/// pods are no value of one); the samples of the others are left out.
fn stitch(mut series: Vec<Vec<(f64, f64)>>) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    let mut after = f64::NEG_INFINITY;
    loop {
        let next = series
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.iter().find(|(t, _)| *t > after).map(|(t, _)| (i, *t)))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        let Some((index, _)) = next else { break };
        let chosen = std::mem::take(&mut series[index]);
        out.extend(chosen.into_iter().filter(|(t, _)| *t > after));
        after = out.last().map_or(after, |(t, _)| *t);
    }
    out
}

/// A label value inside PromQL double quotes.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A query-string value: everything but the unreserved characters encoded.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_are_followed_one_at_a_time_never_summed() {
        // Pod a runs 0..30, b replaces it from 20 (a rollout's overlap), c
        // is a replica of b over the same times.
        let a = vec![(0.0, 1.0), (10.0, 1.0), (20.0, 1.0), (30.0, 1.0)];
        let b = vec![(20.0, 2.0), (35.0, 2.0), (50.0, 2.0)];
        let c = vec![(21.0, 3.0), (36.0, 3.0), (51.0, 3.0), (66.0, 3.0)];
        let history = stitch(vec![b, c, a]);
        assert_eq!(
            history,
            [
                (0.0, 1.0),
                (10.0, 1.0),
                (20.0, 1.0),
                (30.0, 1.0),
                (35.0, 2.0),
                (50.0, 2.0),
                (51.0, 3.0),
                (66.0, 3.0)
            ]
        );
        assert!(stitch(Vec::new()).is_empty());
    }

    #[test]
    fn an_answer_is_read_or_refused_with_a_reason() {
        let body = br#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"pod":"a"},"values":[[1700000000,"1.5"],[1700000015.5,"NaN"],[1700000030,"x"]]}]}}"#;
        let series = parse_answer(body, 4).unwrap();
        assert_eq!(series.len(), 1);
        assert_eq!(series[0][0], (1_700_000_000.0, 1.5));
        assert!(series[0][1].1.is_nan());
        assert_eq!(series[0].len(), 2, "a value that is no number is left out");
        let error = br#"{"status":"error","errorType":"bad_data","error":"parse error"}"#;
        assert!(parse_answer(error, 4).is_err());
        let many = br#"{"status":"success","data":{"result":[{"values":[]},{"values":[]}]}}"#;
        assert!(matches!(parse_answer(many, 1), Err(FetchError::TooMany(2))));
        assert!(parse_answer(b"<html>", 4).is_err());
    }

    proptest::proptest! {
        /// Whatever Prometheus (or a proxy in front of it) answers, reading
        /// it never panics, and a history is one value per time, in order,
        /// each taken from one of the series.
        #[test]
        fn any_answer_reads_without_panic_into_an_ordered_history(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
            series in proptest::collection::vec(
                proptest::collection::vec((0u32..1000, -1e6f64..1e6), 0..40), 0..6),
        ) {
            let _ = parse_answer(&body, 64);
            let series: Vec<Vec<(f64, f64)>> = series
                .into_iter()
                .map(|mut s| {
                    s.sort_by_key(|(t, _)| *t);
                    s.dedup_by_key(|(t, _)| *t);
                    s.into_iter().map(|(t, v)| (f64::from(t), v)).collect()
                })
                .collect();
            let history = stitch(series.clone());
            proptest::prop_assert!(history.windows(2).all(|w| w[0].0 < w[1].0));
            for point in &history {
                proptest::prop_assert!(series.iter().any(|s| s.contains(point)));
            }
            let first = series.iter().filter_map(|s| s.first()).map(|p| p.0).reduce(f64::min);
            proptest::prop_assert_eq!(history.first().map(|p| p.0), first);
        }
    }

    #[test]
    fn a_prometheus_that_never_answers_costs_the_tick_nothing_and_ends_cold() {
        // Accepts connections (the kernel's backlog) and never answers.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let mut config = Config {
            min_samples: 3,
            track: vec![super::super::config::track("g", 0.0)],
            ..Config::default()
        };
        config.warm_start = Some(
            serde_yaml_ng::from_str(&format!(
                "prometheus: http://127.0.0.1:{port}\nidentity_labels: [job]\ntimeout: 300ms\n"
            ))
            .unwrap(),
        );
        let mut tracker = Tracker::new(config.clone());
        let external = BTreeMap::from([("job".to_owned(), "shop".to_owned())]);
        let start = crate::pipeline::unix_now();
        let mut warm = WarmStart::new(config.warm_start.as_ref(), &external, &tracker, start);
        let families = [Family::gauge("g", "G.").single(1.0)];
        let outcome = |out: &[Family], name: &str| {
            out[0]
                .samples
                .iter()
                .find(|s| s.labels[0].1 == name)
                .map(|s| s.value)
        };
        let mut out = Vec::new();
        for tick in 0..100 {
            let began = Instant::now();
            let now = start + 0.05 * f64::from(tick);
            warm.apply(&mut tracker);
            tracker.observe(&families, now);
            out = warm.observe(&tracker, &families, now);
            assert!(
                began.elapsed() < Duration::from_millis(100),
                "tick {tick} waited"
            );
            if outcome(&out, "failed") == Some(1.0) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(outcome(&out, "failed"), Some(1.0), "{out:?}");
        assert_eq!(outcome(&out, "pending"), Some(0.0));
        assert_eq!(outcome(&out, "seeded"), Some(0.0));
        // Cold, as without a warm start: the series goes on learning.
        assert_eq!(tracker.len(), 1);
    }

    #[test]
    fn selectors_are_escaped_and_encoded() {
        assert_eq!(escape(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(
            percent_encode("x{a=\"b c\"}[1s]"),
            "x%7Ba%3D%22b%20c%22%7D%5B1s%5D"
        );
    }

    #[test]
    fn identity_labels_must_be_external_labels() {
        let config: WarmStartConfig = serde_yaml_ng::from_str(
            "prometheus: http://127.0.0.1:9090\nidentity_labels: [namespace, job]\n",
        )
        .unwrap();
        config.validate().unwrap();
        let mut external = BTreeMap::from([("namespace".to_owned(), "$NS".to_owned())]);
        let missing = check_identity(Some(&config), &external).unwrap_err();
        assert!(
            missing.contains("\"job\" is not in external_labels"),
            "{missing}"
        );
        external.insert("job".into(), "shop".into());
        check_identity(Some(&config), &external).unwrap();
        let bad: WarmStartConfig =
            serde_yaml_ng::from_str("prometheus: ftp://x\nidentity_labels: [job]\n").unwrap();
        assert!(bad.validate().unwrap_err().contains("scheme"));
    }

    #[test]
    fn the_lookback_covers_what_the_state_remembers() {
        let config: WarmStartConfig =
            serde_yaml_ng::from_str("prometheus: http://p:9090\nidentity_labels: [job]\n").unwrap();
        let mut baselines = Config::default();
        assert_eq!(config.lookback_for(&baselines), Duration::from_secs(86400));
        baselines.seasonal = Some(true);
        assert_eq!(
            config.lookback_for(&baselines),
            Duration::from_secs(7 * 86400)
        );
    }
}
