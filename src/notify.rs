//! Sends alerts to Alertmanager: `POST {base}/api/v2/alerts` with a JSON array
//! of alerts, to every configured Alertmanager (see `alertmanagers` for how
//! each is reached).
//!
//! Each Alertmanager has its own queue and delivery task, so one that is down
//! never holds up the others. `send` never blocks: it encodes each alert once
//! and appends it to every queue; a full queue drops its oldest alerts and
//! counts them. The task sends up to [`MAX_BATCH`] alerts per POST; a batch
//! stays at the head of its queue until a 2xx answer, and a failed POST
//! (connection refused, timeout, any other status) is retried with backoff
//! ([`MIN_BACKOFF`] doubling to [`MAX_BACKOFF`]). Nothing within the queue's
//! capacity is lost while Alertmanager is down. A run of failures is logged
//! once when it starts and once when it ends.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};
use tracing::{error, info, warn};

pub use crate::alertmanagers::AlertmanagerEntry;
use crate::alertmanagers::{Endpoint, endpoints, entry_endpoints};
use crate::metric::Family;

/// Alerts per POST.
pub const MAX_BATCH: usize = 64;
/// The first wait after a failed POST; it doubles with each failure.
pub const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The `alerting:` config section.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AlertingConfig {
    /// The Alertmanagers to notify: base URLs (`http://127.0.0.1:9093`,
    /// `https://am:9093`) or Prometheus's `alertmanager_config` (targets,
    /// scheme, path prefix, timeout, TLS, credentials); every alert goes to
    /// each of them. Empty (the default) turns notifications off.
    pub alertmanagers: Vec<AlertmanagerEntry>,
    /// How often an alert that is still firing is sent again (humantime).
    #[serde(with = "humantime_serde")]
    pub resend_interval: Duration,
    /// Alerts waiting for each Alertmanager; when the queue is full, the
    /// oldest are dropped.
    pub queue_capacity: usize,
    /// How long one POST to an Alertmanager may take (humantime).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            alertmanagers: Vec::new(),
            resend_interval: Duration::from_secs(60),
            queue_capacity: 10_000,
            timeout: Duration::from_secs(10),
        }
    }
}

impl AlertingConfig {
    /// Checks what serde cannot: the URLs, and no zero capacity or durations.
    /// The message names the field.
    pub fn validate(&self) -> Result<(), String> {
        endpoints(&self.alertmanagers, self.timeout)?;
        if self.queue_capacity == 0 {
            return Err("alerting.queue_capacity must be at least 1".to_owned());
        }
        if self.timeout.is_zero() {
            return Err("alerting.timeout must be longer than 0s".to_owned());
        }
        if self.resend_interval.is_zero() {
            return Err("alerting.resend_interval must be longer than 0s".to_owned());
        }
        Ok(())
    }
}

/// One alert as the rule engine hands it over.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// The identity of the alert; includes `alertname` and `severity`.
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: SystemTime,
    /// `Some` for a resolved alert: when it stopped firing.
    pub ends_at: Option<SystemTime>,
    /// A link back to what produced the alert.
    pub generator_url: String,
}

/// An alert in Alertmanager's v2 API (`postableAlert`).
#[derive(Serialize)]
struct PostableAlert<'a> {
    labels: &'a BTreeMap<String, String>,
    annotations: &'a BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    starts_at: String,
    #[serde(rename = "endsAt", skip_serializing_if = "Option::is_none")]
    ends_at: Option<String>,
    #[serde(rename = "generatorURL")]
    generator_url: &'a str,
}

/// RFC 3339 with milliseconds, in UTC. Times outside what the format can
/// hold (before 1970, after 9999) are clamped rather than failing.
fn rfc3339(time: SystemTime) -> String {
    let latest = UNIX_EPOCH + Duration::from_secs(253_402_300_799);
    humantime::format_rfc3339_millis(time.clamp(UNIX_EPOCH, latest)).to_string()
}

/// The JSON object of one alert.
pub fn encode(alert: &Alert) -> String {
    let postable = PostableAlert {
        labels: &alert.labels,
        annotations: &alert.annotations,
        starts_at: rfc3339(alert.starts_at),
        ends_at: alert.ends_at.map(rfc3339),
        generator_url: &alert.generator_url,
    };
    serde_json::to_string(&postable).expect("string maps and strings always encode as JSON")
}

/// The JSON array of a batch of encoded alerts.
fn batch_body(alerts: &[Arc<str>]) -> Vec<u8> {
    let mut body = Vec::with_capacity(2 + alerts.iter().map(|a| a.len() + 1).sum::<usize>());
    body.push(b'[');
    for (i, alert) in alerts.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(alert.as_bytes());
    }
    body.push(b']');
    body
}

/// The alerts waiting for one Alertmanager, oldest first, and its counters.
/// The batch being sent stays at the head until it is delivered.
#[derive(Debug, Default)]
struct Queue {
    alerts: VecDeque<Arc<str>>,
    /// How many alerts at the head are in the POST under way.
    in_flight: usize,
    sent: u64,
    errors: u64,
    dropped: u64,
}

impl Queue {
    /// Appends alerts, dropping the oldest beyond `capacity`; returns how
    /// many were dropped. An in-flight alert that is dropped counts as
    /// dropped even if its POST then succeeds.
    fn push(&mut self, alerts: &[Arc<str>], capacity: usize) -> usize {
        let mut dropped = 0;
        for alert in alerts {
            self.alerts.push_back(alert.clone());
            if self.alerts.len() > capacity {
                self.alerts.pop_front();
                self.in_flight = self.in_flight.saturating_sub(1);
                dropped += 1;
            }
        }
        self.dropped += dropped as u64;
        dropped
    }

    /// The next batch, marked in flight; empty when there is nothing to send.
    fn take_batch(&mut self) -> Vec<Arc<str>> {
        self.in_flight = self.alerts.len().min(MAX_BATCH);
        self.alerts.range(..self.in_flight).cloned().collect()
    }

    /// The batch in flight arrived: it leaves the queue.
    fn delivered(&mut self) {
        let done = self.in_flight.min(self.alerts.len());
        self.alerts.drain(..done);
        self.sent += done as u64;
        self.in_flight = 0;
    }

    /// The batch in flight did not arrive: it stays for the next attempt.
    fn failed(&mut self) {
        self.errors += 1;
        self.in_flight = 0;
    }
}

/// One Alertmanager: where it is, its queue and the signals to its task.
struct Target {
    endpoint: Endpoint,
    queue: Mutex<Queue>,
    /// Wakes the delivery task when alerts arrive.
    wake: Notify,
    /// Wakes `flush` when the task makes progress.
    progress: Notify,
}

impl Target {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().expect("notification queue lock poisoned")
    }
}

struct Inner {
    targets: Vec<Arc<Target>>,
    capacity: usize,
    /// Dropped with the last handle; the delivery tasks then end.
    _stop: watch::Sender<()>,
}

/// A handle on the delivery tasks; clones share them. The tasks end when the
/// last handle is dropped (call [`Notifier::flush`] first).
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

impl Notifier {
    /// Starts one delivery task per Alertmanager on the current tokio runtime
    /// (it must be called within one); `None` when no Alertmanagers are
    /// configured. URLs that [`AlertingConfig::validate`] would refuse are
    /// logged and left out.
    pub fn start(config: &AlertingConfig) -> Option<Notifier> {
        let targets: Vec<Arc<Target>> = config
            .alertmanagers
            .iter()
            .enumerate()
            .filter_map(|(i, entry)| match entry_endpoints(entry, config.timeout) {
                Ok(found) => Some(found),
                Err(e) => {
                    error!(entry = i, error = %e, "alertmanager left out");
                    None
                }
            })
            .flatten()
            .map(|endpoint| {
                Arc::new(Target {
                    endpoint,
                    queue: Mutex::new(Queue::default()),
                    wake: Notify::new(),
                    progress: Notify::new(),
                })
            })
            .collect();
        if targets.is_empty() {
            return None;
        }
        let (stop, stopped) = watch::channel(());
        for target in &targets {
            tokio::spawn(deliver(target.clone(), stopped.clone()));
        }
        Some(Notifier {
            inner: Arc::new(Inner {
                targets,
                capacity: config.queue_capacity.max(1),
                _stop: stop,
            }),
        })
    }

    /// Queues alerts for every Alertmanager and returns at once. A full queue
    /// drops its oldest alerts, and counts them.
    pub fn send(&self, alerts: Vec<Alert>) {
        if alerts.is_empty() {
            return;
        }
        let encoded: Vec<Arc<str>> = alerts.iter().map(|a| Arc::from(encode(a))).collect();
        for target in &self.inner.targets {
            target.lock().push(&encoded, self.inner.capacity);
            target.wake.notify_one();
        }
    }

    /// The delivery metrics, one series per Alertmanager (label
    /// `alertmanager`, its URL as configured).
    pub fn families(&self) -> Vec<Family> {
        let mut sent = Family::counter(
            "outrider_notifications_sent_total",
            "Alerts delivered to the Alertmanager.",
        );
        let mut errors = Family::counter(
            "outrider_notifications_errors_total",
            "POSTs of alerts to the Alertmanager that failed; each retry counts.",
        );
        let mut dropped = Family::counter(
            "outrider_notifications_dropped_total",
            "Alerts dropped undelivered because the Alertmanager's queue was full.",
        );
        let mut length = Family::gauge(
            "outrider_notifications_queue_length",
            "Alerts waiting to be delivered to the Alertmanager.",
        );
        for target in &self.inner.targets {
            let label = [("alertmanager", target.endpoint.label.as_str())];
            let queue = target.lock();
            sent.push(label, queue.sent as f64);
            errors.push(label, queue.errors as f64);
            dropped.push(label, queue.dropped as f64);
            length.push(label, queue.alerts.len() as f64);
        }
        vec![sent, errors, dropped, length]
    }

    /// Waits until every queue is empty, or `within` has passed; for
    /// shutdown. Alerts still queued then are logged.
    pub async fn flush(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        for target in &self.inner.targets {
            loop {
                let progress = target.progress.notified();
                tokio::pin!(progress);
                // Registered before the check, so no wake-up is missed.
                progress.as_mut().enable();
                let pending = target.lock().alerts.len();
                if pending == 0 {
                    break;
                }
                if tokio::time::timeout_at(deadline, progress).await.is_err() {
                    warn!(alertmanager = %target.endpoint.label, pending, "alerts not delivered before shutdown");
                    break;
                }
            }
        }
    }
}

/// Delivers one Alertmanager's queue until the notifier is dropped.
async fn deliver(target: Arc<Target>, mut stopped: watch::Receiver<()>) {
    let mut backoff = MIN_BACKOFF;
    // Failed attempts since the last delivery; `Some` while failing.
    let mut failing: Option<u64> = None;
    loop {
        let batch = target.lock().take_batch();
        if batch.is_empty() {
            tokio::select! {
                _ = target.wake.notified() => continue,
                _ = stopped.changed() => return,
            }
        }
        let result = tokio::select! {
            result = target.endpoint.post(batch_body(&batch)) => result,
            _ = stopped.changed() => return,
        };
        match result {
            Ok(()) => {
                target.lock().delivered();
                target.progress.notify_waiters();
                backoff = MIN_BACKOFF;
                if let Some(failed_attempts) = failing.take() {
                    info!(alertmanager = %target.endpoint.label, failed_attempts, "alert delivery recovered");
                }
            }
            Err(e) => {
                let pending = {
                    let mut queue = target.lock();
                    queue.failed();
                    queue.alerts.len()
                };
                target.progress.notify_waiters();
                match &mut failing {
                    Some(count) => *count += 1,
                    None => {
                        warn!(alertmanager = %target.endpoint.label, error = %e, pending, "alert delivery failing; retrying");
                        failing = Some(1);
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stopped.changed() => return,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn alert(name: &str) -> Alert {
        Alert {
            labels: BTreeMap::from([
                ("alertname".to_owned(), name.to_owned()),
                ("severity".to_owned(), "warning".to_owned()),
            ]),
            annotations: BTreeMap::from([("summary".to_owned(), "disk \"/\" full".to_owned())]),
            starts_at: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            ends_at: None,
            generator_url: "http://host:10777/rules#DiskFull".to_owned(),
        }
    }

    fn encoded(names: &[&str]) -> Vec<Arc<str>> {
        names.iter().map(|n| Arc::from(encode(&alert(n)))).collect()
    }

    fn names(queue: &Queue) -> Vec<String> {
        queue
            .alerts
            .iter()
            .map(|a| {
                let v: Value = serde_json::from_str(a).unwrap();
                v["labels"]["alertname"].as_str().unwrap().to_owned()
            })
            .collect()
    }

    #[test]
    fn firing_alert_has_the_v2_api_fields_and_no_end() {
        let v: Value = serde_json::from_str(&encode(&alert("DiskFull"))).unwrap();
        assert_eq!(
            v,
            json!({
                "labels": {"alertname": "DiskFull", "severity": "warning"},
                "annotations": {"summary": "disk \"/\" full"},
                "startsAt": "2023-11-14T22:13:20.123Z",
                "generatorURL": "http://host:10777/rules#DiskFull",
            })
        );
    }

    #[test]
    fn resolved_alert_has_an_end() {
        let mut a = alert("DiskFull");
        a.ends_at = Some(UNIX_EPOCH + Duration::from_secs(1_700_000_060));
        let v: Value = serde_json::from_str(&encode(&a)).unwrap();
        assert_eq!(v["endsAt"], "2023-11-14T22:14:20.000Z");
        assert_eq!(v["startsAt"], "2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn times_out_of_range_are_clamped_not_a_panic() {
        let mut a = alert("X");
        a.starts_at = UNIX_EPOCH - Duration::from_secs(10);
        a.ends_at = Some(UNIX_EPOCH + Duration::from_secs(400_000_000_000));
        let v: Value = serde_json::from_str(&encode(&a)).unwrap();
        assert_eq!(v["startsAt"], "1970-01-01T00:00:00.000Z");
        assert_eq!(v["endsAt"], "9999-12-31T23:59:59.000Z");
    }

    #[test]
    fn a_batch_is_a_json_array() {
        let body = batch_body(&encoded(&["A", "B"]));
        let v: Value = serde_json::from_slice(&body).unwrap();
        let names: Vec<_> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["labels"]["alertname"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["A", "B"]);
        assert_eq!(batch_body(&[]), b"[]");
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_counts_them() {
        let mut queue = Queue::default();
        assert_eq!(queue.push(&encoded(&["A", "B"]), 3), 0);
        assert_eq!(queue.push(&encoded(&["C", "D", "E"]), 3), 2);
        assert_eq!(names(&queue), ["C", "D", "E"]);
        assert_eq!(queue.dropped, 2);
        // More in one call than the queue holds: only the newest stay.
        assert_eq!(queue.push(&encoded(&["F", "G", "H", "I"]), 3), 4);
        assert_eq!(names(&queue), ["G", "H", "I"]);
        assert_eq!(queue.dropped, 6);
    }

    #[test]
    fn a_failed_batch_stays_and_a_delivered_one_leaves() {
        let mut queue = Queue::default();
        let many: Vec<String> = (0..MAX_BATCH + 6).map(|i| format!("A{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        queue.push(&encoded(&many), 1000);
        assert_eq!(queue.take_batch().len(), MAX_BATCH);
        queue.failed();
        assert_eq!(queue.alerts.len(), MAX_BATCH + 6);
        assert_eq!(queue.errors, 1);
        assert_eq!(queue.take_batch().len(), MAX_BATCH);
        queue.delivered();
        assert_eq!(names(&queue), ["A64", "A65", "A66", "A67", "A68", "A69"]);
        assert_eq!(queue.sent, MAX_BATCH as u64);
        assert!(queue.take_batch().len() == 6);
        queue.delivered();
        assert!(queue.take_batch().is_empty());
        assert_eq!(queue.sent, MAX_BATCH as u64 + 6);
    }

    #[test]
    fn dropping_alerts_in_flight_leaves_the_newer_ones_queued() {
        let mut queue = Queue::default();
        queue.push(&encoded(&["A", "B", "C"]), 3);
        assert_eq!(queue.take_batch().len(), 3);
        // While A, B, C are being sent, D and E push A and B out.
        queue.push(&encoded(&["D", "E"]), 3);
        queue.delivered();
        assert_eq!(names(&queue), ["D", "E"]);
        assert_eq!(queue.sent, 1);
        assert_eq!(queue.dropped, 2);
    }

    fn config(urls: &[&str]) -> AlertingConfig {
        AlertingConfig {
            alertmanagers: urls.iter().map(|u| AlertmanagerEntry::from(*u)).collect(),
            ..AlertingConfig::default()
        }
    }

    #[test]
    fn defaults_and_yaml() {
        let d = AlertingConfig::default();
        assert!(d.alertmanagers.is_empty());
        assert_eq!(d.resend_interval, Duration::from_secs(60));
        assert_eq!(d.queue_capacity, 10_000);
        assert_eq!(d.timeout, Duration::from_secs(10));
        assert_eq!(d.validate(), Ok(()));
        let c: AlertingConfig = serde_yaml_ng::from_str(
            "alertmanagers: [\"http://127.0.0.1:9093\"]\nresend_interval: 30s\ntimeout: 2s\n",
        )
        .unwrap();
        assert_eq!(c.resend_interval, Duration::from_secs(30));
        assert_eq!(c.timeout, Duration::from_secs(2));
        assert_eq!(c.queue_capacity, 10_000);
        assert_eq!(c.validate(), Ok(()));
        let unknown = serde_yaml_ng::from_str::<AlertingConfig>("alertmanager: []\n");
        assert!(unknown.unwrap_err().to_string().contains("unknown field"));
    }

    #[test]
    fn endpoint_keeps_a_path_prefix() {
        let uri = |url: &str| {
            crate::alertmanagers::endpoints(&[url.into()], Duration::from_secs(1)).unwrap()[0]
                .uri
                .to_string()
        };
        assert_eq!(
            uri("http://127.0.0.1:9093"),
            "http://127.0.0.1:9093/api/v2/alerts"
        );
        assert_eq!(
            uri("http://am.local:9093/alertmanager/"),
            "http://am.local:9093/alertmanager/api/v2/alerts"
        );
    }

    #[test]
    fn validation_names_the_field() {
        let err = |c: AlertingConfig| c.validate().unwrap_err();
        let ftp = err(config(&["http://a:9093", "ftp://am:9093"]));
        assert!(ftp.starts_with("alerting.alertmanagers[1]:"), "{ftp}");
        assert!(ftp.contains("unsupported scheme"), "{ftp}");
        for bad in [
            "127.0.0.1:9093",
            "am:9093",
            "not a url",
            "http://",
            "ftp://am/",
        ] {
            let e = err(config(&[bad]));
            assert!(e.starts_with("alerting.alertmanagers[0]:"), "{bad}: {e}");
        }
        let query = err(config(&["http://am:9093/?x=1"]));
        assert!(query.contains("query"), "{query}");
        let twice = err(config(&["http://am:9093", "http://am:9093"]));
        assert!(twice.contains("listed twice"), "{twice}");
        let zero = AlertingConfig {
            queue_capacity: 0,
            ..config(&["http://am:9093"])
        };
        assert_eq!(err(zero), "alerting.queue_capacity must be at least 1");
        let zero = AlertingConfig {
            timeout: Duration::ZERO,
            ..config(&["http://am:9093"])
        };
        assert!(err(zero).starts_with("alerting.timeout"));
        let zero = AlertingConfig {
            resend_interval: Duration::ZERO,
            ..config(&["http://am:9093"])
        };
        assert!(err(zero).starts_with("alerting.resend_interval"));
    }

    #[test]
    fn no_alertmanagers_no_notifier() {
        assert!(Notifier::start(&AlertingConfig::default()).is_none());
    }

    /// A port nothing listens on: bound, then let go.
    fn closed_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    fn value(families: &[Family], name: &str) -> f64 {
        let family = families.iter().find(|f| f.name == name).unwrap();
        assert_eq!(family.samples.len(), 1);
        family.samples[0].value
    }

    #[tokio::test]
    async fn send_never_blocks_and_overflow_is_counted_per_alertmanager() {
        let url = format!("http://127.0.0.1:{}", closed_port());
        let notifier = Notifier::start(&AlertingConfig {
            queue_capacity: 3,
            ..config(&[&url])
        })
        .unwrap();
        notifier.send(vec![
            alert("A"),
            alert("B"),
            alert("C"),
            alert("D"),
            alert("E"),
        ]);
        let families = notifier.families();
        assert_eq!(
            value(&families, "outrider_notifications_dropped_total"),
            2.0
        );
        assert_eq!(value(&families, "outrider_notifications_queue_length"), 3.0);
        assert_eq!(value(&families, "outrider_notifications_sent_total"), 0.0);
        let labels = &families[0].samples[0].labels;
        assert_eq!(
            crate::metric::label_value(labels, "alertmanager"),
            Some(url.as_str())
        );
        // Nothing listens: flush gives up in time and the alerts stay queued.
        let started = std::time::Instant::now();
        notifier.flush(Duration::from_millis(300)).await;
        assert!(started.elapsed() < Duration::from_secs(2));
        let families = notifier.families();
        assert_eq!(value(&families, "outrider_notifications_queue_length"), 3.0);
        assert!(value(&families, "outrider_notifications_errors_total") >= 1.0);
    }

    /// Answers each connection with the next status of `statuses`, recording
    /// request bodies.
    fn scripted_server(statuses: Vec<u16>) -> (u16, std::sync::mpsc::Receiver<String>) {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for status in statuses {
                let Ok((stream, _)) = listener.accept() else {
                    return;
                };
                let mut reader = BufReader::new(stream);
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if line.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.trim().parse().unwrap();
                        }
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let _ = tx.send(String::from_utf8(body).unwrap());
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: 4\r\nconnection: close\r\n\r\nnope"
                );
                reader.into_inner().write_all(reply.as_bytes()).unwrap();
            }
        });
        (port, rx)
    }

    /// A log sink for `tracing_subscriber::fmt`.
    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Log {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_rejected_batch_is_retried_until_accepted() {
        // A process-wide subscriber: a thread-local one loses events when
        // tests on other threads race it for tracing's callsite cache. Lines
        // are told apart by this test's Alertmanager port.
        let log = Log::default();
        let sink = log.clone();
        let _ = tracing::subscriber::set_global_default(
            tracing_subscriber::fmt()
                .with_ansi(false)
                .with_writer(move || sink.clone())
                .finish(),
        );
        let (port, bodies) = scripted_server(vec![500, 400, 200]);
        let notifier = Notifier::start(&config(&[&format!("http://127.0.0.1:{port}")])).unwrap();
        notifier.send(vec![alert("A"), alert("B")]);
        notifier.flush(Duration::from_secs(10)).await;
        let families = notifier.families();
        assert_eq!(value(&families, "outrider_notifications_queue_length"), 0.0);
        assert_eq!(value(&families, "outrider_notifications_sent_total"), 2.0);
        assert_eq!(value(&families, "outrider_notifications_errors_total"), 2.0);
        let bodies: Vec<String> = bodies.try_iter().collect();
        assert_eq!(bodies.len(), 3);
        // The same batch each time.
        assert!(bodies.iter().all(|b| b == &bodies[0]), "{bodies:?}");
        let v: Value = serde_json::from_str(&bodies[0]).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 2);
        // One line when failures start, one when they end; none per retry.
        let log = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("alert delivery") && l.contains(&format!(":{port}")))
            .collect();
        assert_eq!(lines.len(), 2, "{log}");
        assert!(lines[0].contains("WARN"), "{log}");
        assert!(lines[0].contains("alert delivery failing"), "{log}");
        assert!(
            lines[0].contains("500 Internal Server Error: nope"),
            "{log}"
        );
        assert!(lines[1].contains("INFO"), "{log}");
        assert!(lines[1].contains("alert delivery recovered"), "{log}");
        assert!(lines[1].contains("failed_attempts=2"), "{log}");
    }
}
