//! The app's own metrics: each `scrape:` target is fetched on its own
//! interval by a background task (so a slow app never delays the tick),
//! parsed (text format or OpenMetrics) and re-exported with the target's
//! labels. Per target: `outrider_target_up`,
//! `outrider_target_scrape_duration_seconds` and `outrider_target_samples`.
//!
//! A target that fails, or goes over one of its limits (`body_size_limit`,
//! `sample_limit`, the label limits; as Prometheus fails such a scrape),
//! exports `up` 0 and none of its old series: stale values must not look
//! current. The limits are checked while reading and parsing, so a hostile
//! or broken app costs at most what they allow.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::Uri;
use hyper::header::{self, HeaderValue};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use tracing::{debug, info, warn};

use super::background::Background;
use super::{BuildError, CollectError, Collector};
use crate::metric::Family;
use crate::textparse::{self, Dialect, Limits, is_label_name};

const COLLECTOR: &str = "scrape";
/// What Prometheus sends: OpenMetrics first, the text format as fallback.
const ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// One target in the `scrape:` list.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Names the target in `outrider_target_*{target}`; unique.
    pub name: String,
    /// The app's metrics URL (http).
    pub url: String,
    /// How often to scrape.
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// How long one scrape may take; at most the interval.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Labels added to every series of the target; none set: `job` is the
    /// target's name, which keeps the app's series apart from outrider's
    /// own (`process_*` above all).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// A scrape with more samples fails; 0 means no limit.
    #[serde(default = "default_sample_limit")]
    pub sample_limit: usize,
    /// A larger response body (uncompressed) fails the scrape; reading
    /// stops as soon as the body passes it.
    #[serde(default = "default_body_size_limit")]
    pub body_size_limit: usize,
    /// A sample with more labels (the target's `labels` included) fails
    /// the scrape; 0 means no limit, as in Prometheus.
    #[serde(default)]
    pub label_limit: usize,
    /// A label name longer than this many bytes fails the scrape; 0 means
    /// no limit.
    #[serde(default)]
    pub label_name_length_limit: usize,
    /// A label value longer than this many bytes fails the scrape; 0 means
    /// no limit.
    #[serde(default)]
    pub label_value_length_limit: usize,
}

/// The labels added to a target's series: its `labels`, or without any,
/// `job="<name>"`. Every client library exports `process_*`, as outrider
/// does for itself; unlabelled, the app's would be the very series of
/// outrider's own, and one of the two would be dropped. `job` is the label
/// Prometheus gives a scrape target, so with `honor_labels: true` the
/// app's series keep their own job and outrider's keep the scrape job: the
/// client library's dashboards (by the app's job) and outrider's (by its
/// job) each see their own process.
fn target_labels(config: &TargetConfig) -> Vec<(String, String)> {
    if config.labels.is_empty() {
        return vec![("job".to_owned(), config.name.clone())];
    }
    config
        .labels
        .iter()
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect()
}

fn default_interval() -> Duration {
    Duration::from_secs(15)
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_sample_limit() -> usize {
    50_000
}

fn default_body_size_limit() -> usize {
    64 << 20
}

#[derive(Default)]
struct TargetState {
    /// None until the first scrape finishes.
    up: Option<bool>,
    duration: f64,
    samples: usize,
    families: Arc<Vec<Family>>,
    last_error: Option<String>,
}

struct Target {
    config: TargetConfig,
    uri: Uri,
    extra_labels: Vec<(String, String)>,
    state: Arc<Mutex<TargetState>>,
}

pub struct ScrapeCollector {
    targets: Vec<Arc<Target>>,
    background: Background,
    /// Dropping the collector (a reload or a stop) ends the tasks.
    _stop: tokio::sync::watch::Sender<()>,
    stop: tokio::sync::watch::Receiver<()>,
}

impl ScrapeCollector {
    pub fn new(configs: &[TargetConfig]) -> Result<Self, BuildError> {
        let refuse = |reason: String| BuildError {
            collector: COLLECTOR,
            reason,
        };
        let mut names = HashSet::new();
        let mut targets = Vec::new();
        for config in configs {
            let name = &config.name;
            if name.is_empty() || !names.insert(name.clone()) {
                return Err(refuse(format!(
                    "target name {name:?} must be non-empty and unique"
                )));
            }
            let uri: Uri = config
                .url
                .parse()
                .map_err(|e| refuse(format!("target {name}: url {:?}: {e}", config.url)))?;
            match uri.scheme_str() {
                Some("http") => {}
                Some("https") => {
                    return Err(refuse(format!(
                        "target {name}: https is not supported; scrape the app over http on the pod's loopback"
                    )));
                }
                _ => {
                    return Err(refuse(format!(
                        "target {name}: url {:?} must be http://host:port/path",
                        config.url
                    )));
                }
            }
            if config.interval.is_zero() || config.timeout.is_zero() {
                return Err(refuse(format!(
                    "target {name}: interval and timeout must be more than 0s"
                )));
            }
            if config.timeout > config.interval {
                return Err(refuse(format!(
                    "target {name}: timeout {:?} is longer than the interval {:?}",
                    config.timeout, config.interval
                )));
            }
            for label in config.labels.keys() {
                if !is_label_name(label) || label.starts_with("__") {
                    return Err(refuse(format!(
                        "target {name}: {label:?} is not a valid label name"
                    )));
                }
            }
            targets.push(Arc::new(Target {
                config: config.clone(),
                uri,
                extra_labels: target_labels(config),
                state: Arc::default(),
            }));
        }
        let (stop_sender, stop) = tokio::sync::watch::channel(());
        // The scrape tasks start on the first tick, not here: a config is
        // built to be checked too (`outrider check`, every reload), and
        // checking must not scrape anything.
        Ok(ScrapeCollector {
            targets,
            background: Background::new("scrape targets", "no tokio runtime to scrape from"),
            _stop: stop_sender,
            stop,
        })
    }
}

impl Collector for ScrapeCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let (targets, stop) = (&self.targets, &self.stop);
        self.background.start_once(|runtime| {
            let client: Client<HttpConnector, Empty<Bytes>> =
                Client::builder(TokioExecutor::new()).build_http();
            for target in targets {
                runtime.spawn(scrape_loop(
                    Arc::clone(target),
                    client.clone(),
                    stop.clone(),
                ));
            }
        })?;
        let mut up = Family::gauge(
            "outrider_target_up",
            "Whether the last scrape of the target succeeded.",
        );
        let mut duration = Family::gauge(
            "outrider_target_scrape_duration_seconds",
            "How long the last scrape of the target took.",
        );
        let mut samples = Family::gauge(
            "outrider_target_samples",
            "Samples the last successful scrape of the target returned.",
        );
        for target in &self.targets {
            let state = crate::model::sync::lock(&target.state);
            let Some(is_up) = state.up else {
                continue;
            };
            let name = target.config.name.as_str();
            up.push([("target", name)], if is_up { 1.0 } else { 0.0 });
            duration.push([("target", name)], state.duration);
            samples.push([("target", name)], state.samples as f64);
            if is_up {
                out.extend(state.families.iter().cloned());
            }
        }
        out.extend([up, duration, samples]);
        Ok(())
    }
}

async fn scrape_loop(
    target: Arc<Target>,
    client: Client<HttpConnector, Empty<Bytes>>,
    mut stop: tokio::sync::watch::Receiver<()>,
) {
    let mut ticker = tokio::time::interval(target.config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            changed = stop.changed() => if changed.is_err() { return },
        }
        let started = Instant::now();
        let result = tokio::time::timeout(target.config.timeout, scrape(&target, &client))
            .await
            .unwrap_or_else(|_| Err(format!("timed out after {:?}", target.config.timeout)));
        let elapsed = started.elapsed().as_secs_f64();
        let mut state = crate::model::sync::lock(&target.state);
        state.duration = elapsed;
        match result {
            Ok((families, count)) => {
                if state.up == Some(false) {
                    info!(collector = COLLECTOR, target = %target.config.name, "target is up again");
                }
                state.up = Some(true);
                state.samples = count;
                state.families = Arc::new(families);
                state.last_error = None;
            }
            Err(reason) => {
                if state.up != Some(false) || state.last_error.as_deref() != Some(&reason) {
                    warn!(collector = COLLECTOR, target = %target.config.name, url = %target.config.url, error = %reason, "scrape failed");
                }
                state.up = Some(false);
                state.samples = 0;
                state.families = Arc::default();
                state.last_error = Some(reason);
            }
        }
    }
}

async fn scrape(
    target: &Target,
    client: &Client<HttpConnector, Empty<Bytes>>,
) -> Result<(Vec<Family>, usize), String> {
    let config = &target.config;
    let request = hyper::Request::get(target.uri.clone())
        .header(header::ACCEPT, ACCEPT)
        .header(header::ACCEPT_ENCODING, "gzip")
        .header(
            header::USER_AGENT,
            format!("outrider/{}", crate::build::VERSION),
        )
        .header(
            "X-Prometheus-Scrape-Timeout-Seconds",
            config.timeout.as_secs_f64().to_string(),
        )
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    let response = client
        .request(request)
        .await
        .map_err(|e| super::describe_error(&e))?;
    if response.status() != hyper::StatusCode::OK {
        return Err(format!("server returned HTTP status {}", response.status()));
    }
    let header_str = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header_str(header::CONTENT_TYPE);
    let gzipped =
        header_str(header::CONTENT_ENCODING).is_some_and(|e| e.eq_ignore_ascii_case("gzip"));
    let limit = config.body_size_limit;
    // Refused before a byte of the body is read when the app says up
    // front that it is too large.
    let length = header_str(header::CONTENT_LENGTH).and_then(|l| l.trim().parse::<u64>().ok());
    if let Some(length) = length.filter(|&l| l > limit as u64) {
        return Err(format!(
            "Content-Length {length} is over the body_size_limit of {limit} bytes"
        ));
    }
    // Limited fails as soon as the streamed body passes the limit, so an
    // endless body costs at most the limit.
    let mut stream = Limited::new(response.into_body(), limit);
    // Read into one buffer of the announced size (already within the
    // limit) rather than collecting frames and joining them, which would
    // hold the body twice.
    let mut body = Vec::with_capacity(length.map_or(0, |l| l as usize));
    while let Some(frame) = stream.frame().await {
        let frame =
            frame.map_err(|e| format!("reading the body: {e} (body_size_limit {limit} bytes)"))?;
        if let Ok(data) = frame.into_data() {
            body.extend_from_slice(&data);
        }
    }
    let body = if gzipped {
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .take(limit as u64 + 1)
            .read_to_end(&mut text)
            .map_err(|e| format!("decompressing the body: {e}"))?;
        if text.len() > limit {
            return Err(format!("body over body_size_limit {limit} bytes"));
        }
        text
    } else {
        body
    };
    let text = std::str::from_utf8(&body).map_err(|e| format!("body is not UTF-8: {e}"))?;
    let dialect = Dialect::from_content_type(content_type.as_deref());
    // The limits are checked while parsing: a body over sample_limit costs
    // the samples up to the limit, not the whole body's worth.
    let limits = Limits {
        samples: config.sample_limit,
        labels: config.label_limit,
        extra_labels: target.extra_labels.len(),
        label_name_length: config.label_name_length_limit,
        label_value_length: config.label_value_length_limit,
    };
    let parsed =
        textparse::parse_limited(text, dialect, limits).map_err(|e| format!("parsing: {e}"))?;
    let count: usize = parsed.iter().map(|f| f.sample_count()).sum();
    debug!(collector = COLLECTOR, target = %config.name, samples = count, "scraped");
    Ok((
        textparse::into_families(&parsed, &target.extra_labels),
        count,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(yaml: &str) -> Result<ScrapeCollector, String> {
        let configs: Vec<TargetConfig> =
            serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())?;
        ScrapeCollector::new(&configs).map_err(|e| e.to_string())
    }

    #[test]
    fn refuses_what_cannot_work() {
        assert!(target("- {name: a, url: 'http://127.0.0.1:1/metrics'}").is_ok());
        let cases = [
            ("- {name: a, url: 'https://x/metrics'}", "https"),
            ("- {name: a, url: 'ftp://x/metrics'}", "http://"),
            (
                "- {name: a, url: 'http://x/', timeout: 20s}",
                "longer than the interval",
            ),
            (
                "- {name: a, url: 'http://x/'}\n- {name: a, url: 'http://y/'}",
                "unique",
            ),
            (
                "- {name: a, url: 'http://x/', labels: {'1x': v}}",
                "label name",
            ),
            (
                "- {name: a, url: 'http://x/', intervall: 1s}",
                "unknown field",
            ),
        ];
        for (yaml, reason) in cases {
            let error = target(yaml).err().unwrap_or_default();
            assert!(error.contains(reason), "{yaml}: {error}");
        }
    }
}
