//! The generated files at work, with real programs only: a real Prometheus
//! scrapes two running outriders (one on a fixture procfs this test
//! rewrites, one on this host) and an app this test serves, and evaluates
//! the generated rules; its alerts go to a real Alertmanager running the
//! generated example config, and from there to this test's webhook.
//!
//! A threshold rule (the load), an anomaly rule (a gauge the test pushes,
//! jumping from its baseline) and an SLO rule (the app's error rate
//! climbing) trip, their
//! alerts arrive, and once the conditions clear so do their resolutions.
//! The SLO's warning, firing with its page, is inhibited by the generated
//! Alertmanager config.
//! The SLO rule is generated with `--slo-window-scale 60`, so its windows
//! are 5s … 72m instead of 5m … 3d and the fast-burn page (1m and 5s above
//! 14.4x) fires and clears within the test.
//!
//! Every panel query of every committed dashboard runs against that
//! Prometheus twice, before anything trips and while the alerts fire: each
//! must parse and return data, except the panels listed in `NO_DATA_HERE`
//! and, before anything trips, those in `ONLY_WHILE_FIRING`.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::{Process, free_port, get, require, spawn, start_outrider_in, wait_until};

const RULES: &str = r#"groups:
  - name: e2e
    rules:
      - alert: E2eLoadHigh
        selector: node_load1
        threshold: {above: {critical: 50}}
        summary: 'Load is {{ $value }}'
        runbook_url: https://example.org/runbooks/e2e#load
      - alert: E2eQueueAnomaly
        selector: queue_depth
        anomaly: {ratio: {critical: 3}, half_life: 1m}
        summary: 'The queue is {{ $value }}x its baseline'
      - alert: E2eAvailabilityBudgetBurn
        slo:
          objective: 99
          errors: 'http_requests_total{code=~"5.."}'
          total: http_requests_total
          period: 28d
          min_rate: 1
        summary: 'Errors burn the budget {{ $value | humanize }}x too fast'
"#;

/// Panels without data in this test, by dashboard uid and title, and why.
const NO_DATA_HERE: &[(&str, &str, &str)] = &[
    (
        "outrider-containers",
        "*",
        "no container engine runs in this test (tests/containers.rs covers these series)",
    ),
    (
        "outrider-sidecar",
        "Scrape targets up",
        "this test's sidecars scrape no app (tests/scrape.rs covers outrider_target_up)",
    ),
    (
        "outrider-sidecar",
        "Probe success",
        "this test's sidecars probe nothing (tests/probes.rs covers probe_success)",
    ),
    (
        "outrider-overview",
        "Pending rules",
        "only while a rule is pending; the test's rules have no `for`",
    ),
];

/// Panels that have data only while an alert fires.
const ONLY_WHILE_FIRING: &[(&str, &str, &str)] = &[
    (
        "outrider-overview",
        "Firing rules",
        "counts outrider_rule_state == 2, which only firing alerts have",
    ),
    (
        "outrider-overview",
        "Alerts firing in Prometheus",
        "counts ALERTS{alertstate=\"firing\"}",
    ),
];

// --- the app: request counters whose error share the test sets -----------

struct App {
    port: u16,
    error_percent: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct Counters {
    ok: f64,
    errors: f64,
}

impl App {
    /// 20 requests a second, all within 0.1 s; `error_percent` of them 500s.
    fn start() -> App {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind app");
        let port = listener.local_addr().unwrap().port();
        let error_percent = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Mutex::new(Counters::default()));
        let ticker = {
            let (counters, stop, error_percent) =
                (counters.clone(), stop.clone(), error_percent.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let share = error_percent.load(Ordering::SeqCst) as f64 / 100.0;
                    let mut c = counters.lock().unwrap();
                    c.errors += 2.0 * share;
                    c.ok += 2.0 * (1.0 - share);
                    drop(c);
                    // The pause sets the app's request rate: 20 requests a
                    // second, counted as they would be served.
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        let server = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let c = counters.lock().unwrap();
                    let total = c.ok + c.errors;
                    let body = format!(
                        "# TYPE http_requests_total counter\nhttp_requests_total{{code=\"200\"}} {}\nhttp_requests_total{{code=\"500\"}} {}\n# TYPE http_request_duration_seconds histogram\nhttp_request_duration_seconds_bucket{{le=\"0.1\"}} {total}\nhttp_request_duration_seconds_bucket{{le=\"0.5\"}} {total}\nhttp_request_duration_seconds_bucket{{le=\"+Inf\"}} {total}\nhttp_request_duration_seconds_sum {}\nhttp_request_duration_seconds_count {total}\n",
                        c.ok,
                        c.errors,
                        total * 0.05
                    );
                    drop(c);
                    let _ = answer(stream, &body);
                }
            })
        };
        App {
            port,
            error_percent,
            stop,
            threads: vec![ticker, server],
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Reads a request's head (and body, if any) and answers 200 with `body`;
/// returns the request body.
fn answer(stream: TcpStream, body: &str) -> std::io::Result<Vec<u8>> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut request = vec![0; length];
    reader.read_exact(&mut request)?;
    let reply = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    reader.into_inner().write_all(reply.as_bytes())?;
    Ok(request)
}

// --- the webhook Alertmanager notifies ---------------------------------------

struct Webhook {
    port: u16,
    received: Arc<Mutex<Vec<Value>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Webhook {
    fn start() -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind webhook");
        let port = listener.local_addr().unwrap().port();
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
                    if let Ok(body) = answer(stream, "") {
                        let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        received.lock().unwrap().push(value);
                    }
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

    /// Every alert of every notification, with the receiver it came through.
    fn alerts(&self) -> Vec<(String, Value)> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .flat_map(|n| {
                let receiver = n["receiver"].as_str().unwrap_or_default().to_owned();
                n["alerts"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |a| (receiver.clone(), a))
            })
            .collect()
    }

    fn has(&self, alertname: &str, status: &str) -> bool {
        self.alerts().iter().any(|(_, a)| {
            a["labels"]["alertname"] == alertname
                && a["labels"]["severity"] == "critical"
                && a["status"] == status
        })
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// --- a pusher: a gauge the test sets, pushed to the sidecar every 250 ms ------

const PUSH_TOKEN: &str = "e2e-push-token-0123456789";

struct Pusher {
    depth: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Pusher {
    fn start(address: &str, depth: u64) -> Pusher {
        let depth = Arc::new(AtomicU64::new(depth));
        let stop = Arc::new(AtomicBool::new(false));
        let url = format!("http://{address}/api/v1/metrics/push");
        let thread = {
            let (depth, stop) = (depth.clone(), stop.clone());
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(600);
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    let body = format!(
                        r#"{{"service":"e2e","metrics":[{{"name":"queue_depth","type":"gauge","value":{}}}]}}"#,
                        depth.load(Ordering::SeqCst)
                    );
                    let reply = common::send(
                        "POST",
                        &url,
                        &[("Authorization", &format!("Bearer {PUSH_TOKEN}"))],
                        body.as_bytes(),
                    );
                    assert_eq!(reply.status, 200, "{}", reply.text());
                    // The pause is the pushing job's cadence: a fresh value
                    // every 250 ms, as a real job would send.
                    std::thread::sleep(Duration::from_millis(250));
                }
            })
        };
        Pusher {
            depth,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Pusher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// --- setup ---------------------------------------------------------------------

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

fn write_loadavg(procfs: &Path, one: f64) {
    let tmp = procfs.join("loadavg.tmp");
    std::fs::write(&tmp, format!("{one:.2} 1.00 1.00 1/100 4242\n")).unwrap();
    std::fs::rename(tmp, procfs.join("loadavg")).unwrap();
}

/// The generated Alertmanager example, with its receivers pointed at the
/// webhook and its waits shortened so the test sees notifications in
/// seconds. Routes, inhibition and mute intervals are kept as generated.
fn alertmanager_config(generated: &Path, webhook: u16) -> String {
    let text = std::fs::read_to_string(generated).unwrap();
    let mut config: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    config["route"]["group_wait"] = "0s".into();
    config["route"]["group_interval"] = "1s".into();
    for receiver in config["receivers"].as_sequence_mut().unwrap() {
        let name = receiver["name"].as_str().unwrap().to_owned();
        for hook in receiver["webhook_configs"].as_sequence_mut().unwrap() {
            hook["url"] = format!("http://127.0.0.1:{webhook}/{name}").into();
        }
    }
    serde_yaml_ng::to_string(&config).unwrap()
}

fn start_ready(program: &str, args: Vec<String>, port: u16) -> Process {
    let mut process = spawn(&require(program), &args, &[]);
    let ready = format!("http://127.0.0.1:{port}/-/ready");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() && get(&ready, &[]).status == 200 {
            return process;
        }
        if let Some(status) = process.child.try_wait().unwrap() {
            panic!("{program} exited with {status}:\n{}", process.log_text());
        }
        assert!(
            Instant::now() < deadline,
            "{program} not ready within 60s:\n{}",
            process.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An instant query: Err with Prometheus' message when it does not parse.
fn query(api: &str, expr: &str) -> Result<Vec<Value>, String> {
    let reply = get(
        &format!("{api}/api/v1/query?query={}", urlencode(expr)),
        &[],
    );
    let json: Value = serde_json::from_slice(&reply.body).map_err(|e| e.to_string())?;
    if json["status"] != "success" {
        return Err(format!("{}: {}", json["errorType"], json["error"]));
    }
    Ok(json["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

/// A panel query as Grafana sends it, with every variable set to all its
/// values.
fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$job", ".+")
        .replace("$instance", ".+")
        .replace("$groupname", ".+")
        .replace("$metric", ".+")
}

fn no_data_reason(
    exceptions: &[&[(&str, &str, &'static str)]],
    uid: &str,
    title: &str,
) -> Option<&'static str> {
    exceptions
        .iter()
        .flat_map(|list| list.iter())
        .find(|(u, t, _)| *u == uid && (*t == "*" || *t == title))
        .map(|(_, _, why)| *why)
}

/// Runs every panel query of every committed dashboard; returns how many
/// ran and the problems found.
fn check_dashboards(
    api: &str,
    exceptions: &[&[(&str, &str, &'static str)]],
) -> (usize, Vec<String>) {
    let grafana = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("grafana");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&grafana)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    let mut problems = Vec::new();
    let mut queries = 0;
    for path in names {
        let dashboard: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let uid = dashboard["uid"].as_str().unwrap();
        for panel in dashboard["panels"].as_array().unwrap() {
            if panel["type"] == "row" {
                continue;
            }
            let title = panel["title"].as_str().unwrap();
            for target in panel["targets"].as_array().unwrap() {
                let expr = substitute(target["expr"].as_str().unwrap());
                queries += 1;
                match (query(api, &expr), no_data_reason(exceptions, uid, title)) {
                    (Err(e), _) => problems.push(format!("{uid} / {title}: {expr}: {e}")),
                    (Ok(r), None) if r.is_empty() => {
                        problems.push(format!("{uid} / {title}: no data: {expr}"))
                    }
                    _ => {}
                }
            }
        }
    }
    (queries, problems)
}

#[test]
fn generated_rules_fire_and_resolve_through_prometheus_and_alertmanager() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let rules = root.join("e2e.yml");
    std::fs::write(&rules, RULES).unwrap();
    let generated = root.join("generated");
    let out = std::process::Command::new(common::outrider_binary())
        .args(["generate", "--slo-window-scale", "60", "--out"])
        .arg(&generated)
        .arg(&rules)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let webhook = Webhook::start();
    let app = App::start();

    let am_port = free_port();
    let am_config = root.join("alertmanager.yml");
    std::fs::write(
        &am_config,
        alertmanager_config(&generated.join("alerts/alertmanager.yml"), webhook.port),
    )
    .unwrap();
    let _alertmanager = start_ready(
        "prometheus-alertmanager",
        vec![
            format!("--config.file={}", am_config.display()),
            format!("--storage.path={}", root.join("am").display()),
            format!("--web.listen-address=127.0.0.1:{am_port}"),
            "--cluster.listen-address=".to_owned(),
        ],
        am_port,
    );

    // The outrider whose load the test sets, evaluating the same rules.
    let procfs = root.join("proc");
    copy_tree(&common::fixtures().join("proc"), &procfs);
    write_loadavg(&procfs, 1.0);
    let fixture_config = root.join("fixture.yml");
    std::fs::write(
        &fixture_config,
        format!(
            "collect_interval: 1s\nrules: ['{}']\nbaselines:\n  min_samples: 5\n",
            rules.display()
        ),
    )
    .unwrap();
    let fixture_storage = root.join("fixture-storage");
    std::fs::create_dir_all(&fixture_storage).unwrap();
    let (_fixture, fixture_address) = start_outrider_in(
        &fixture_storage,
        &[
            "--config.file",
            fixture_config.to_str().unwrap(),
            "--path.procfs",
            procfs.to_str().unwrap(),
        ],
        &[("OUTRIDER_PUSH_TOKEN", PUSH_TOKEN)],
    );
    let pusher = Pusher::start(&fixture_address, 10);
    // The outrider on this host, with the default rules and notifications
    // on, for the host, process and sidecar dashboards.
    let host_config = root.join("host.yml");
    std::fs::write(
        &host_config,
        format!(
            "collect_interval: 1s\nbaselines:\n  min_samples: 5\nalerting:\n  alertmanagers: ['http://127.0.0.1:{am_port}']\n"
        ),
    )
    .unwrap();
    let host_storage = root.join("host-storage");
    std::fs::create_dir_all(&host_storage).unwrap();
    let (_host, host_address) = start_outrider_in(
        &host_storage,
        &["--config.file", host_config.to_str().unwrap()],
        &[],
    );

    // Prometheus with the test's generated rules and the committed defaults.
    let repo_alerts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("alerts");
    let mut rule_files: Vec<String> =
        vec![generated.join("alerts/e2e.rules.yml").display().to_string()];
    for name in ["app", "containers", "host", "processes"] {
        rule_files.push(
            repo_alerts
                .join(format!("{name}.rules.yml"))
                .display()
                .to_string(),
        );
    }
    let prom_port = free_port();
    let prom_config = root.join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: {rule_files:?}\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{am_port}']\nscrape_configs:\n  - job_name: outrider\n    static_configs:\n      - targets: ['{fixture_address}', '{host_address}']\n  - job_name: app\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
            app.port
        ),
    )
    .unwrap();
    let _prometheus = start_ready(
        "prometheus",
        vec![
            format!("--config.file={}", prom_config.display()),
            format!("--storage.tsdb.path={}", root.join("tsdb").display()),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ],
        prom_port,
    );
    let api = format!("http://127.0.0.1:{prom_port}");
    wait_until(Duration::from_secs(30), "every target up", || {
        query(&api, "sum(up)").is_ok_and(|r| r.first().is_some_and(|s| s["value"][1] == "3"))
    });
    wait_until(
        Duration::from_secs(40),
        "the pushed gauge's baseline",
        || {
            query(&api, r#"outrider_anomaly_ratio{metric="queue_depth"}"#)
                .is_ok_and(|r| !r.is_empty())
        },
    );
    // The SLO's windows fill with good traffic first: ask until every panel
    // has data (or the deadline passes, and the assertion says which do not).
    let deadline = Instant::now() + Duration::from_secs(30);
    let (queries, problems) = loop {
        let checked = check_dashboards(&api, &[NO_DATA_HERE, ONLY_WHILE_FIRING]);
        if checked.1.is_empty() || Instant::now() >= deadline {
            break checked;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        problems.is_empty(),
        "before anything tripped, {} of {queries} panel queries failed:\n{}",
        problems.len(),
        problems.join("\n")
    );
    let quiet: Vec<(String, Value)> = webhook.alerts();
    assert!(
        !quiet.iter().any(|(_, a)| a["labels"]["alertname"]
            .as_str()
            .is_some_and(|n| n.starts_with("E2e"))),
        "alerts before anything tripped: {quiet:?}"
    );

    // Trip all three: load 60 (threshold 50), the pushed queue 10x its
    // baseline, half the app's requests failing (50x the 1% budget).
    write_loadavg(&procfs, 60.0);
    pusher.depth.store(100, Ordering::SeqCst);
    app.error_percent.store(50, Ordering::SeqCst);
    for name in [
        "E2eLoadHigh",
        "E2eQueueAnomaly",
        "E2eAvailabilityBudgetBurn",
    ] {
        wait_until(
            Duration::from_secs(60),
            &format!("{name} at the webhook"),
            || webhook.has(name, "firing"),
        );
    }
    let alerts = webhook.alerts();
    let firing = |name: &str| {
        alerts
            .iter()
            .find(|(_, a)| a["labels"]["alertname"] == name && a["status"] == "firing")
            .cloned()
            .unwrap()
    };
    let (receiver, load) = firing("E2eLoadHigh");
    assert_eq!(receiver, "pager", "critical alerts page");
    assert_eq!(load["labels"]["job"], "outrider");
    assert_eq!(load["labels"]["instance"], fixture_address.as_str());
    assert_eq!(load["annotations"]["summary"], "Load is 60");
    assert_eq!(
        load["annotations"]["runbook_url"],
        "https://example.org/runbooks/e2e#load"
    );
    let (_, anomaly) = firing("E2eQueueAnomaly");
    assert_eq!(anomaly["labels"]["metric"], "queue_depth");
    assert_eq!(anomaly["labels"]["service"], "e2e");
    assert_eq!(
        anomaly["annotations"]["summary"],
        "The queue is 10x its baseline"
    );
    let (_, slo) = firing("E2eAvailabilityBudgetBurn");
    assert_eq!(slo["labels"]["job"], "app");
    assert_eq!(slo["labels"]["slo"], "E2eAvailabilityBudgetBurn");
    assert!(
        slo["annotations"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("Errors burn the budget "),
        "{slo}"
    );
    // A description by default; no runbook link the rule did not give.
    assert!(
        slo["annotations"]["description"].as_str().is_some()
            && slo["annotations"].get("runbook_url").is_none(),
        "{slo}"
    );

    // The SLO's ticket (warning) fires too, and the generated inhibit rule
    // holds it back while the page (critical) fires. (It may have reached
    // the chat receiver before the page fired, outside the quiet hours.)
    let am_alerts = format!("http://127.0.0.1:{am_port}/api/v2/alerts");
    wait_until(Duration::from_secs(30), "the inhibited SLO warning", || {
        let reply = get(&am_alerts, &[]);
        let alerts: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
        alerts.as_array().is_some_and(|all| {
            all.iter().any(|a| {
                a["labels"]["alertname"] == "E2eAvailabilityBudgetBurn"
                    && a["labels"]["severity"] == "warning"
                    && a["status"]["state"] == "suppressed"
                    && a["status"]["inhibitedBy"]
                        .as_array()
                        .is_some_and(|by| !by.is_empty())
            })
        })
    });

    // The dashboards, while alerts fire.
    let (queries, problems) = check_dashboards(&api, &[NO_DATA_HERE]);
    assert!(queries >= 60, "only {queries} panel queries");
    assert!(
        problems.is_empty(),
        "while alerts fire, {} of {queries} panel queries failed:\n{}",
        problems.len(),
        problems.join("\n")
    );

    // Clear everything; the resolutions arrive.
    write_loadavg(&procfs, 1.0);
    pusher.depth.store(10, Ordering::SeqCst);
    app.error_percent.store(0, Ordering::SeqCst);
    for name in [
        "E2eLoadHigh",
        "E2eQueueAnomaly",
        "E2eAvailabilityBudgetBurn",
    ] {
        wait_until(
            Duration::from_secs(70),
            &format!("{name} resolved at the webhook"),
            || webhook.has(name, "resolved"),
        );
    }
    let by_name: BTreeMap<String, usize> =
        webhook
            .alerts()
            .iter()
            .fold(BTreeMap::new(), |mut m, (_, a)| {
                *m.entry(a["labels"]["alertname"].as_str().unwrap_or("").to_owned())
                    .or_default() += 1;
                m
            });
    eprintln!(
        "notifications by alert: {by_name:?}; {queries} panel queries; {:?} in all",
        started.elapsed()
    );
}
