//! The notifier against the real Alertmanager (Debian's
//! `prometheus-alertmanager`): alerts go in through `Notifier`, and come out
//! of Alertmanager at a webhook receiver this test runs, which records what
//! Alertmanager posts to it.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use outrider::notify::{Alert, AlertingConfig, Notifier};
use serde_json::Value;

use common::{Process, free_port, require, spawn};

/// An HTTP server on 127.0.0.1 that records the JSON bodies posted to it and
/// answers 200. It stops when dropped.
struct Webhook {
    port: u16,
    received: Arc<Mutex<Vec<Value>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Webhook {
    fn start() -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind webhook");
        let port = listener.local_addr().expect("webhook address").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (received, stop) = (received.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let body = read_request(stream);
                    received.lock().unwrap().push(body);
                }
            })
        };
        Webhook {
            port,
            received,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    fn received(&self) -> Vec<Value> {
        self.received.lock().unwrap().clone()
    }

    /// The alerts of every notification so far, with the notification's status.
    fn alerts(&self) -> Vec<Value> {
        self.received()
            .iter()
            .filter_map(|n| n["alerts"].as_array())
            .flatten()
            .cloned()
            .collect()
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request (with a Content-Length body; Alertmanager sends one),
/// answers 200 and closes. A body that is not JSON is recorded as a string.
fn read_request(stream: TcpStream) -> Value {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return Value::String(format!("incomplete request: {line:?}")),
            Ok(_) => {}
        }
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return Value::String("incomplete body".to_owned());
    }
    let _ = reader
        .into_inner()
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
}

/// Starts Alertmanager on 127.0.0.1:`port`, routing every alert, each on its
/// own, to `webhook`; state lives in `dir`. Returns once it is ready.
fn start_alertmanager(dir: &Path, port: u16, webhook: &str) -> Process {
    let config = dir.join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            "route:
  receiver: hook
  group_by: ['...']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {webhook}
        send_resolved: true
"
        ),
    )
    .expect("write alertmanager config");
    let args = [
        format!("--config.file={}", config.display()),
        format!("--storage.path={}", dir.join("data").display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
        "--cluster.listen-address=".to_owned(),
        "--log.level=debug".to_owned(),
    ];
    let mut process = spawn(&require("prometheus-alertmanager"), &args, &[]);
    let ready = format!("http://127.0.0.1:{port}/-/ready");
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(1))
        .build();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if agent.get(&ready).call().is_ok() {
            return process;
        }
        if let Some(status) = process.child.try_wait().expect("wait for alertmanager") {
            panic!("alertmanager exited with {status}:\n{}", process.log_text());
        }
        assert!(
            Instant::now() < deadline,
            "alertmanager not ready within 20s:\n{}",
            process.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls every 50 ms until `condition` holds; false after `within`.
fn eventually(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn alert(name: &str) -> Alert {
    Alert {
        labels: map(&[
            ("alertname", name),
            ("severity", "critical"),
            ("instance", "host-1:10777"),
        ]),
        annotations: map(&[
            ("summary", "Disk almost full"),
            ("description", "/ has 3% left"),
        ]),
        starts_at: SystemTime::now(),
        ends_at: None,
        generator_url: format!("http://host-1:10777/rules#{name}"),
    }
}

/// The value of `name`'s one series.
fn metric(notifier: &Notifier, name: &str) -> f64 {
    let families = notifier.families();
    let family = families
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no family {name}"));
    assert_eq!(family.samples.len(), 1, "{name}");
    family.samples[0].value
}

/// The alert named `name` with `status` among the webhook's notifications.
fn find(webhook: &Webhook, name: &str, status: &str) -> Option<Value> {
    webhook
        .alerts()
        .into_iter()
        .find(|a| a["labels"]["alertname"] == name && a["status"] == status)
}

fn start_notifier(port: u16) -> Notifier {
    let config = AlertingConfig {
        alertmanagers: vec![format!("http://127.0.0.1:{port}").as_str().into()],
        timeout: Duration::from_secs(2),
        ..AlertingConfig::default()
    };
    config.validate().expect("valid alerting config");
    Notifier::start(&config).expect("a notifier for one alertmanager")
}

#[test]
fn firing_and_resolved_alerts_reach_the_receiver() {
    let webhook = Webhook::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let alertmanager = start_alertmanager(dir.path(), port, &webhook.url());
    let runtime = runtime();
    let notifier = runtime.block_on(async { start_notifier(port) });

    let firing = alert("OutriderTestDiskFull");
    notifier.send(vec![firing.clone()]);
    let arrived = eventually(Duration::from_secs(20), || {
        find(&webhook, "OutriderTestDiskFull", "firing").is_some()
    });
    assert!(
        arrived,
        "no firing notification; webhook got {:?}\nalertmanager:\n{}",
        webhook.received(),
        alertmanager.log_text()
    );
    let got = find(&webhook, "OutriderTestDiskFull", "firing").unwrap();
    let labels: BTreeMap<String, String> = serde_json::from_value(got["labels"].clone()).unwrap();
    let annotations: BTreeMap<String, String> =
        serde_json::from_value(got["annotations"].clone()).unwrap();
    assert_eq!(labels, firing.labels);
    assert_eq!(annotations, firing.annotations);
    assert_eq!(got["generatorURL"], firing.generator_url.as_str());

    let resolved = Alert {
        ends_at: Some(SystemTime::now()),
        ..firing
    };
    notifier.send(vec![resolved]);
    let arrived = eventually(Duration::from_secs(20), || {
        find(&webhook, "OutriderTestDiskFull", "resolved").is_some()
    });
    assert!(
        arrived,
        "no resolved notification; webhook got {:?}\nalertmanager:\n{}",
        webhook.received(),
        alertmanager.log_text()
    );
    assert!(
        webhook.received().iter().any(|n| n["status"] == "resolved"),
        "{:?}",
        webhook.received()
    );

    runtime.block_on(notifier.flush(Duration::from_secs(5)));
    assert_eq!(metric(&notifier, "outrider_notifications_sent_total"), 2.0);
    assert_eq!(
        metric(&notifier, "outrider_notifications_errors_total"),
        0.0
    );
    assert_eq!(
        metric(&notifier, "outrider_notifications_dropped_total"),
        0.0
    );
    assert_eq!(
        metric(&notifier, "outrider_notifications_queue_length"),
        0.0
    );
}

#[test]
fn an_alert_sent_while_alertmanager_is_down_arrives_after_it_restarts() {
    let webhook = Webhook::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let mut alertmanager = start_alertmanager(dir.path(), port, &webhook.url());
    let runtime = runtime();
    let notifier = runtime.block_on(async { start_notifier(port) });

    // Delivery works, and the client holds a connection to the first process.
    notifier.send(vec![alert("OutriderTestBefore")]);
    assert!(
        eventually(Duration::from_secs(20), || find(
            &webhook,
            "OutriderTestBefore",
            "firing"
        )
        .is_some()),
        "first alert not delivered; webhook got {:?}\nalertmanager:\n{}",
        webhook.received(),
        alertmanager.log_text()
    );

    alertmanager.signal_and_wait("TERM", Duration::from_secs(10));
    drop(alertmanager);
    notifier.send(vec![alert("OutriderTestDuringOutage")]);
    assert!(
        eventually(Duration::from_secs(10), || metric(
            &notifier,
            "outrider_notifications_errors_total"
        ) >= 2.0),
        "no failed attempts counted while alertmanager was down"
    );
    assert_eq!(
        metric(&notifier, "outrider_notifications_queue_length"),
        1.0
    );

    let alertmanager = start_alertmanager(dir.path(), port, &webhook.url());
    assert!(
        eventually(Duration::from_secs(30), || find(
            &webhook,
            "OutriderTestDuringOutage",
            "firing"
        )
        .is_some()),
        "alert queued during the outage not delivered; webhook got {:?}\nalertmanager:\n{}",
        webhook.received(),
        alertmanager.log_text()
    );
    runtime.block_on(notifier.flush(Duration::from_secs(5)));
    assert!(metric(&notifier, "outrider_notifications_errors_total") > 0.0);
    assert_eq!(metric(&notifier, "outrider_notifications_sent_total"), 2.0);
    assert_eq!(
        metric(&notifier, "outrider_notifications_dropped_total"),
        0.0
    );
    assert_eq!(
        metric(&notifier, "outrider_notifications_queue_length"),
        0.0
    );
}

/// A running outrider whose fixture /proc load average the test sets, with
/// `rules` and a real Alertmanager (delivering to a webhook) to send to.
struct LoadRig {
    procfs: PathBuf,
    webhook: Webhook,
    am_dir: PathBuf,
    am_port: u16,
    alertmanager: Process,
    outrider: common::Outrider,
}

impl LoadRig {
    fn start(dir: &Path, rules: &str) -> LoadRig {
        let procfs = dir.join("proc");
        std::fs::create_dir_all(&procfs).expect("procfs dir");
        for file in ["stat", "meminfo", "loadavg"] {
            std::fs::copy(
                common::fixtures().join("proc").join(file),
                procfs.join(file),
            )
            .expect("copy fixture");
        }
        let webhook = Webhook::start();
        let am_port = common::free_port();
        let am_dir = dir.join("am");
        std::fs::create_dir_all(&am_dir).expect("am dir");
        let alertmanager = start_alertmanager(&am_dir, am_port, &webhook.url());
        let rules_file = dir.join("rules.yml");
        std::fs::write(&rules_file, rules).expect("write rules");
        let config = dir.join("outrider.yml");
        std::fs::write(
            &config,
            format!(
                "collect_interval: 200ms\nrules: ['{}']\nalerting:\n  alertmanagers: ['http://127.0.0.1:{am_port}']\n  resend_interval: 1s\n  timeout: 2s\ncollectors:\n  containers: {{enabled: false}}\n",
                rules_file.display()
            ),
        )
        .expect("write config");
        LoadRig {
            outrider: common::start_outrider(&[
                "--config.file",
                config.to_str().expect("utf-8 path"),
                "--path.procfs",
                procfs.to_str().expect("utf-8 path"),
            ]),
            procfs,
            webhook,
            am_dir,
            am_port,
            alertmanager,
        }
    }
}

/// Sets the fixture's 1-minute load average.
fn set_load(procfs: &Path, load: &str) {
    std::fs::write(procfs.join("loadavg"), format!("{load} 0.5 0.5 1/100 1\n"))
        .expect("write loadavg");
}

/// The whole path: a rule in a running outrider trips while Alertmanager is
/// down, its alert still reaches the receiver once Alertmanager is back, and
/// the resolution arrives when the condition clears.
#[test]
fn a_rule_in_a_running_outrider_pages_through_alertmanager() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rig = LoadRig::start(
        dir.path(),
        "groups:\n  - name: load\n    rules:\n      - alert: LoadTooHigh\n        selector: node_load1\n        threshold: {above: {critical: 5}}\n        summary: 'load {{ $value }}'\n",
    );
    let loadavg = |load: &str| set_load(&rig.procfs, load);
    let (webhook, outrider) = (&rig.webhook, &rig.outrider);

    // Alertmanager is down when the rule trips; the alert waits in the
    // queue and arrives once Alertmanager is back.
    drop(rig.alertmanager);
    loadavg("9.5");
    common::wait_until(Duration::from_secs(10), "a failed delivery", || {
        let metrics = common::parse_samples(&common::get(&outrider.url("/metrics"), &[]).text());
        common::family(&metrics, "outrider_notifications_errors_total")
            .values()
            .sum::<f64>()
            > 0.0
    });
    let _alertmanager = start_alertmanager(&rig.am_dir, rig.am_port, &webhook.url());
    let firing = |w: &Webhook| find(w, "LoadTooHigh", "firing");
    assert!(
        eventually(Duration::from_secs(30), || firing(webhook).is_some()),
        "no firing alert; outrider log:\n{}",
        outrider.process.log_text()
    );
    let alert = firing(webhook).expect("firing alert");
    assert_eq!(alert["labels"]["severity"], "critical");
    assert_eq!(alert["annotations"]["summary"], "load 9.5");

    // The condition clears: the resolution arrives.
    loadavg("0.1");
    assert!(
        eventually(Duration::from_secs(30), || find(
            webhook,
            "LoadTooHigh",
            "resolved"
        )
        .is_some()),
        "no resolution; outrider log:\n{}",
        outrider.process.log_text()
    );
    let metrics = common::parse_samples(&common::get(&outrider.url("/metrics"), &[]).text());
    let errors: f64 = common::family(&metrics, "outrider_notifications_errors_total")
        .values()
        .sum();
    assert!(errors > 0.0, "the outage was not noticed");
    let dropped: f64 = common::family(&metrics, "outrider_notifications_dropped_total")
        .values()
        .sum();
    assert_eq!(dropped, 0.0);
}

/// The severities of the alerts named `name` that Alertmanager holds as
/// active (its API leaves out resolved ones).
fn active_severities(port: u16, name: &str) -> Vec<String> {
    let url = format!("http://127.0.0.1:{port}/api/v2/alerts");
    let reply = common::get(&url, &[]);
    assert_eq!(reply.status, 200, "{}", reply.text());
    let alerts: Vec<Value> = serde_json::from_slice(&reply.body).expect("alerts JSON");
    let mut severities: Vec<String> = alerts
        .iter()
        .filter(|a| a["labels"]["alertname"] == name && a["status"]["state"] == "active")
        .map(|a| a["labels"]["severity"].as_str().unwrap_or("").to_owned())
        .collect();
    severities.sort();
    severities
}

/// Alertmanager tells alerts apart by their labels, severity included: when
/// a rule's alert moves from critical to warning, the critical one is
/// resolved there at once rather than left firing until it times out. The
/// records of the changes carry the values that caused them.
#[test]
fn a_severity_change_leaves_only_the_new_severity_active_in_alertmanager() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rig = LoadRig::start(
        dir.path(),
        "groups:\n  - name: load\n    rules:\n      - alert: LoadSeverity\n        selector: node_load1\n        threshold: {above: {warning: 5, critical: 8}}\n",
    );
    let loadavg = |load: &str| set_load(&rig.procfs, load);
    loadavg("0.1");
    let (am_port, alertmanager, outrider) = (rig.am_port, &rig.alertmanager, &rig.outrider);
    let severities = || active_severities(am_port, "LoadSeverity");

    loadavg("9.5");
    assert!(
        eventually(Duration::from_secs(30), || severities() == ["critical"]),
        "critical not active: {:?}\noutrider log:\n{}\nalertmanager log:\n{}",
        severities(),
        outrider.process.log_text(),
        alertmanager.log_text()
    );
    loadavg("6");
    assert!(
        eventually(Duration::from_secs(30), || severities() == ["warning"]),
        "after the change to warning, Alertmanager holds {:?}",
        severities()
    );
    loadavg("9.5");
    assert!(
        eventually(Duration::from_secs(30), || severities() == ["critical"]),
        "after the change back to critical, Alertmanager holds {:?}",
        severities()
    );
    loadavg("0.25");
    assert!(
        eventually(Duration::from_secs(30), || severities().is_empty()),
        "after the condition cleared, Alertmanager holds {:?}",
        severities()
    );

    // The events log: each change with the value of its tick, the end with
    // the load that ended it, not the last firing one.
    let events =
        std::fs::read_to_string(outrider.storage.path().join("events.jsonl")).expect("events log");
    let steps: Vec<(String, String, String, f64)> = events
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON line"))
        .map(|l| {
            (
                l["from"].as_str().unwrap_or("").to_owned(),
                l["to"].as_str().unwrap_or("").to_owned(),
                l["severity"].as_str().unwrap_or("").to_owned(),
                l["value"].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect();
    let step = |from: &str, to: &str, severity: &str, value: f64| {
        (from.to_owned(), to.to_owned(), severity.to_owned(), value)
    };
    assert_eq!(
        steps,
        [
            step("inactive", "firing", "critical", 9.5),
            step("firing", "firing", "warning", 6.0),
            step("firing", "firing", "critical", 9.5),
            step("firing", "resolved", "critical", 0.25),
        ]
    );
}

/// The alerts Alertmanager on `port` holds, by name.
fn held_alerts(port: u16, name: &str) -> Vec<Value> {
    let url = format!("http://127.0.0.1:{port}/api/v2/alerts");
    let reply = common::get(&url, &[]);
    assert_eq!(reply.status, 200, "{}", reply.text());
    let alerts: Vec<Value> = serde_json::from_slice(&reply.body).expect("alerts JSON");
    alerts
        .into_iter()
        .filter(|a| a["labels"]["alertname"] == name)
        .collect()
}

/// Every alert goes to every Alertmanager, carrying the external labels as
/// expanded from the environment (an unset variable leaves its label out);
/// a rule's own label wins over an external one of the same name, as in
/// Prometheus. The events log and `/api/v1/alerts` carry them too, and
/// `/metrics` does not (Prometheus adds its own target labels there).
#[test]
fn external_labels_name_the_pod_on_alerts_at_two_alertmanagers_events_and_the_api() {
    let dir = tempfile::tempdir().expect("temp dir");
    let procfs = dir.path().join("proc");
    std::fs::create_dir_all(&procfs).expect("procfs dir");
    for file in ["stat", "meminfo"] {
        std::fs::copy(
            common::fixtures().join("proc").join(file),
            procfs.join(file),
        )
        .expect("copy fixture");
    }
    set_load(&procfs, "9.5");
    let (webhook_a, webhook_b) = (Webhook::start(), Webhook::start());
    let (port_a, port_b) = (free_port(), free_port());
    let (dir_a, dir_b) = (dir.path().join("am-a"), dir.path().join("am-b"));
    std::fs::create_dir_all(&dir_a).expect("am dir");
    std::fs::create_dir_all(&dir_b).expect("am dir");
    let _am_a = start_alertmanager(&dir_a, port_a, &webhook_a.url());
    let _am_b = start_alertmanager(&dir_b, port_b, &webhook_b.url());
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: load\n    rules:\n      - alert: PodLoadHigh\n        selector: node_load1\n        threshold: {above: {critical: 5}}\n        labels: {team: from-rule}\n",
    )
    .expect("write rules");
    // One Alertmanager by URL (today's form), one by Prometheus's
    // alertmanager_config.
    let config = dir.path().join("outrider.yml");
    std::fs::write(
        &config,
        format!(
            "collect_interval: 200ms
rules: ['{}']
external_labels:
  pod: ${{POD_NAME}}
  namespace: $POD_NAMESPACE
  node: ${{OUTRIDER_TEST_UNSET_NODE}}
  team: from-external
  cluster: eu-1
alerting:
  alertmanagers:
    - http://127.0.0.1:{port_a}
    - static_configs: [{{targets: ['127.0.0.1:{port_b}']}}]
      timeout: 2s
  resend_interval: 1s
collectors:
  containers: {{enabled: false}}
",
            rules.display()
        ),
    )
    .expect("write config");
    let outrider = common::start_outrider_with_env(
        &[
            "--config.file",
            config.to_str().expect("utf-8 path"),
            "--path.procfs",
            procfs.to_str().expect("utf-8 path"),
        ],
        &[("POD_NAME", "shop-7d9f"), ("POD_NAMESPACE", "shop")],
    );
    let expected = map(&[
        ("alertname", "PodLoadHigh"),
        ("severity", "critical"),
        ("pod", "shop-7d9f"),
        ("namespace", "shop"),
        ("team", "from-rule"),
        ("cluster", "eu-1"),
    ]);
    for (webhook, port) in [(&webhook_a, port_a), (&webhook_b, port_b)] {
        assert!(
            eventually(Duration::from_secs(20), || find(
                webhook,
                "PodLoadHigh",
                "firing"
            )
            .is_some()),
            "no alert at the Alertmanager on {port}; outrider log:\n{}",
            outrider.process.log_text()
        );
        let alert = find(webhook, "PodLoadHigh", "firing").expect("firing alert");
        let labels: BTreeMap<String, String> =
            serde_json::from_value(alert["labels"].clone()).expect("labels");
        assert_eq!(labels, expected, "at the Alertmanager on {port}");
        assert_eq!(held_alerts(port, "PodLoadHigh").len(), 1);
    }

    let events =
        std::fs::read_to_string(outrider.storage.path().join("events.jsonl")).expect("events log");
    let line: Value =
        serde_json::from_str(events.lines().next().expect("an event")).expect("JSON line");
    assert_eq!(line["labels"]["pod"], "shop-7d9f", "{line}");
    assert_eq!(line["labels"]["namespace"], "shop", "{line}");
    assert_eq!(line["labels"]["cluster"], "eu-1", "{line}");
    assert!(
        line["labels"].get("team").is_none(),
        "the rule's label wins: {line}"
    );
    assert!(line["labels"].get("node").is_none(), "{line}");

    let api: Value =
        serde_json::from_slice(&common::get(&outrider.url("/api/v1/alerts"), &[]).body)
            .expect("alerts JSON");
    let alert = &api["data"]["alerts"][0];
    assert_eq!(alert["labels"]["pod"], "shop-7d9f", "{api}");
    assert_eq!(alert["labels"]["team"], "from-rule", "{api}");

    let metrics = common::get(&outrider.url("/metrics"), &[]).text();
    assert!(
        !metrics.contains("shop-7d9f"),
        "external labels leaked into /metrics"
    );

    // A reload applies new values.
    let text = std::fs::read_to_string(&config).expect("read config");
    std::fs::write(&config, text.replace("cluster: eu-1", "cluster: eu-2")).expect("write config");
    let status = std::process::Command::new("kill")
        .args(["-HUP", &outrider.process.pid().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(status.success());
    let cluster = || {
        let api: Value =
            serde_json::from_slice(&common::get(&outrider.url("/api/v1/alerts"), &[]).body)
                .expect("alerts JSON");
        api["data"]["alerts"][0]["labels"]["cluster"].clone()
    };
    assert!(
        eventually(Duration::from_secs(10), || cluster() == "eu-2"),
        "after a reload the alerts show cluster {}",
        cluster()
    );
}

/// An Alertmanager behind TLS and basic auth (its own `--web.config.file`):
/// outrider delivers with the CA file and the credentials, and without
/// either it is refused, logs and counts the failures per Alertmanager.
#[test]
fn an_https_alertmanager_with_basic_auth_takes_alerts_only_with_the_ca_and_credentials() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name);
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
    std::fs::write(path("ca.crt"), ca_cert.pem()).expect("write CA");
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().expect("server key");
    let server = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("server params")
        .signed_by(&server_key, &issuer)
        .expect("server certificate");
    std::fs::write(path("server.crt"), server.pem()).expect("write cert");
    std::fs::write(path("server.key"), server_key.serialize_pem()).expect("write key");
    let hash = bcrypt::hash("am-password-1", 4).expect("bcrypt");
    std::fs::write(
        path("web.yml"),
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  outrider: '{hash}'\n",
            path("server.crt").display(),
            path("server.key").display()
        ),
    )
    .expect("write web config");
    std::fs::write(path("password"), "am-password-1\n").expect("write password");

    let webhook = Webhook::start();
    let port = free_port();
    let am_dir = path("am");
    std::fs::create_dir_all(&am_dir).expect("am dir");
    let config = am_dir.join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: hook\n  group_by: ['...']\n  group_wait: 0s\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: {}\n",
            webhook.url()
        ),
    )
    .expect("write alertmanager config");
    let alertmanager = spawn(
        &require("prometheus-alertmanager"),
        &[
            format!("--config.file={}", config.display()),
            format!("--storage.path={}", am_dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            format!("--web.config.file={}", path("web.yml").display()),
            "--cluster.listen-address=".to_owned(),
        ],
        &[],
    );
    assert!(
        eventually(Duration::from_secs(20), || TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_ok()),
        "alertmanager did not listen:\n{}",
        alertmanager.log_text()
    );

    // One notifier per way of reaching it; each counts its own failures.
    let notifier = |yaml: String| {
        let config: AlertingConfig = serde_yaml_ng::from_str(&yaml).expect("alerting config");
        config.validate().expect("valid alerting config");
        Notifier::start(&config).expect("a notifier")
    };
    let ca = path("ca.crt").display().to_string();
    let password = path("password").display().to_string();
    let target = format!("static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n    scheme: https");
    let runtime = runtime();
    let (good, no_password, no_ca) = runtime.block_on(async {
        (
            notifier(format!(
                "timeout: 2s\nalertmanagers:\n  - {target}\n    tls_config: {{ca_file: '{ca}'}}\n    basic_auth: {{username: outrider, password_file: '{password}'}}\n"
            )),
            notifier(format!(
                "timeout: 2s\nalertmanagers:\n  - {target}\n    tls_config: {{ca_file: '{ca}'}}\n"
            )),
            notifier(format!(
                "timeout: 2s\nalertmanagers:\n  - {target}\n    basic_auth: {{username: outrider, password_file: '{password}'}}\n"
            )),
        )
    });
    no_password.send(vec![alert("OutriderTestNoPassword")]);
    no_ca.send(vec![alert("OutriderTestNoCa")]);
    good.send(vec![alert("OutriderTestTls")]);
    assert!(
        eventually(Duration::from_secs(20), || find(
            &webhook,
            "OutriderTestTls",
            "firing"
        )
        .is_some()),
        "no alert over https; alertmanager log:\n{}",
        alertmanager.log_text()
    );
    assert_eq!(metric(&good, "outrider_notifications_sent_total"), 1.0);
    for refused in [&no_password, &no_ca] {
        assert!(
            eventually(Duration::from_secs(10), || metric(
                refused,
                "outrider_notifications_errors_total"
            ) >= 2.0),
            "failures not counted"
        );
        assert_eq!(metric(refused, "outrider_notifications_sent_total"), 0.0);
        assert_eq!(metric(refused, "outrider_notifications_queue_length"), 1.0);
        let labels = &refused.families()[0].samples[0].labels;
        assert_eq!(
            outrider::metric::label_value(labels, "alertmanager"),
            Some(format!("https://127.0.0.1:{port}").as_str())
        );
    }
    let names: Vec<String> = webhook
        .alerts()
        .iter()
        .map(|a| a["labels"]["alertname"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        names,
        ["OutriderTestTls"],
        "only the alert with the CA and credentials arrived"
    );
    drop(runtime);
}
