//! outrider scrapes an app served by the test on 127.0.0.1 and re-exports
//! its series with the target's labels; a target that fails or goes over
//! its sample limit shows `up` 0 and none of its old series.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{get, start_outrider, wait_until};

/// What the app answers: status, content type, body, gzip or not.
#[derive(Clone)]
struct Answer {
    status: u16,
    content_type: &'static str,
    body: String,
    gzip: bool,
}

/// A tiny HTTP app whose answer the test changes; it serves until the
/// test process ends (its thread only accepts on its own port).
fn serve_app(answer: Arc<Mutex<Answer>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let answer = answer.lock().unwrap().clone();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut accepts_gzip = false;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if line.to_ascii_lowercase().starts_with("accept-encoding:")
                    && line.contains("gzip")
                {
                    accepts_gzip = true;
                }
            }
            let (body, encoding) = if answer.gzip && accepts_gzip {
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                encoder.write_all(answer.body.as_bytes()).unwrap();
                (encoder.finish().unwrap(), "Content-Encoding: gzip\r\n")
            } else {
                (answer.body.into_bytes(), "")
            };
            let head = format!(
                "HTTP/1.1 {} X\r\nContent-Type: {}\r\n{encoding}Content-Length: {}\r\nConnection: close\r\n\r\n",
                answer.status,
                answer.content_type,
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    port
}

const TEXT_APP: &str = "# HELP http_requests_total Requests served.\n# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\",path=\"/a\\\"b\"} 1027\nhttp_requests_total{code=\"500\",path=\"/\"} 3\n# HELP request_seconds Request latency.\n# TYPE request_seconds histogram\nrequest_seconds_bucket{le=\"0.1\"} 2\nrequest_seconds_bucket{le=\"+Inf\"} 3\nrequest_seconds_sum 0.4\nrequest_seconds_count 3\n# HELP process_open_fds Open fds of the app.\n# TYPE process_open_fds gauge\nprocess_open_fds 12\n";

const OPENMETRICS_APP: &str = "# TYPE jobs counter\n# HELP jobs Jobs run.\njobs_total{queue=\"q\"} 4 # {trace_id=\"abc\"} 1 1.5\njobs_created{queue=\"q\"} 1.7e9\n# TYPE temperature_celsius gauge\n# UNIT temperature_celsius celsius\n# HELP temperature_celsius A temperature.\ntemperature_celsius 21.5\n# EOF\n";

use common::sample_value as value;

#[test]
fn app_series_are_reexported_and_dropped_when_the_app_fails() {
    let text_app = Arc::new(Mutex::new(Answer {
        status: 200,
        content_type: "text/plain; version=0.0.4",
        body: TEXT_APP.to_owned(),
        gzip: true,
    }));
    let openmetrics_app = Arc::new(Mutex::new(Answer {
        status: 200,
        content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8",
        body: OPENMETRICS_APP.to_owned(),
        gzip: false,
    }));
    let text_port = serve_app(Arc::clone(&text_app));
    let openmetrics_port = serve_app(Arc::clone(&openmetrics_app));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("outrider.yml");
    std::fs::write(
        &config,
        format!(
            "scrape:\n  - name: web\n    url: http://127.0.0.1:{text_port}/metrics\n    interval: 200ms\n    timeout: 150ms\n    labels: {{service: checkout}}\n    sample_limit: 20\n  - name: worker\n    url: http://127.0.0.1:{openmetrics_port}/metrics\n    interval: 200ms\n    timeout: 150ms\n"
        ),
    )
    .unwrap();
    let outrider = start_outrider(&[
        "--config.file",
        config.to_str().unwrap(),
        "--collect.interval",
        "200ms",
    ]);
    let metrics = || get(&outrider.url("/metrics"), &[]).text();
    wait_until(Duration::from_secs(5), "both targets up", || {
        let text = metrics();
        value(&text, "outrider_target_up", &[("target", "web")]) == Some(1.0)
            && value(&text, "outrider_target_up", &[("target", "worker")]) == Some(1.0)
    });
    let text = metrics();
    let web = |pairs: &[(&'static str, &'static str)]| {
        let mut all = pairs.to_vec();
        all.push(("service", "checkout"));
        all
    };
    assert_eq!(
        value(
            &text,
            "http_requests_total",
            &web(&[("code", "200"), ("path", "/a\"b")])
        ),
        Some(1027.0)
    );
    assert_eq!(
        value(&text, "request_seconds_bucket", &web(&[("le", "+Inf")])),
        Some(3.0)
    );
    assert!(
        text.contains("# TYPE request_seconds histogram\n"),
        "{text}"
    );
    // The app's process_open_fds sits beside outrider's own: the target's
    // label tells them apart.
    assert_eq!(value(&text, "process_open_fds", &web(&[])), Some(12.0));
    assert!(value(&text, "process_open_fds", &[]).is_some());
    // OpenMetrics: the counter keeps its _total, _created is not a series.
    // A target without labels: its series carry job="<name>".
    let worker = [("job", "worker")];
    assert_eq!(
        value(&text, "jobs_total", &[("job", "worker"), ("queue", "q")]),
        Some(4.0)
    );
    assert!(!text.contains("jobs_created"));
    assert_eq!(value(&text, "temperature_celsius", &worker), Some(21.5));
    assert_eq!(
        value(&text, "outrider_target_samples", &[("target", "web")]),
        Some(7.0)
    );
    assert!(
        value(
            &text,
            "outrider_target_scrape_duration_seconds",
            &[("target", "web")]
        )
        .unwrap()
            > 0.0
    );
    assert_eq!(
        value(
            &text,
            "outrider_series_dropped_total",
            &[("reason", "type_conflict")]
        ),
        Some(0.0)
    );

    // The app fails: up 0, and its series are gone rather than frozen.
    text_app.lock().unwrap().status = 500;
    wait_until(Duration::from_secs(5), "web down", || {
        value(&metrics(), "outrider_target_up", &[("target", "web")]) == Some(0.0)
    });
    let text = metrics();
    assert!(!text.contains("http_requests_total"), "{text}");
    assert_eq!(
        value(&text, "outrider_target_up", &[("target", "worker")]),
        Some(1.0)
    );

    // Back, then over its sample limit of 20.
    text_app.lock().unwrap().status = 200;
    wait_until(Duration::from_secs(5), "web up again", || {
        value(&metrics(), "outrider_target_up", &[("target", "web")]) == Some(1.0)
    });
    let many: String = (0..30).map(|i| format!("busy{{i=\"{i}\"}} 1\n")).collect();
    text_app.lock().unwrap().body = format!("{TEXT_APP}{many}");
    wait_until(Duration::from_secs(5), "web over its sample limit", || {
        value(&metrics(), "outrider_target_up", &[("target", "web")]) == Some(0.0)
    });
    let text = metrics();
    assert!(!text.contains("busy{"), "{text}");
    assert!(outrider.process.log_text().contains("sample_limit"));

    // Malformed exposition: up 0 and the line in the log.
    text_app.lock().unwrap().body = "ok 1\nbroken{ 2\n".to_owned();
    wait_until(Duration::from_secs(5), "the parse error logged", || {
        outrider.process.log_text().contains("line 2")
    });
    assert_eq!(
        value(&metrics(), "outrider_target_up", &[("target", "web")]),
        Some(0.0)
    );
    // The worker was never touched.
    assert_eq!(
        value(
            &metrics(),
            "jobs_total",
            &[("job", "worker"), ("queue", "q")]
        ),
        Some(4.0)
    );
}

#[test]
fn a_target_that_cannot_work_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("outrider.yml");
    std::fs::write(
        &config,
        "scrape:\n  - name: web\n    url: https://127.0.0.1:1/metrics\n",
    )
    .unwrap();
    let output = std::process::Command::new(common::outrider_binary())
        .args(["check", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("https is not supported"), "{text}");
}

/// An app that answers, by path: `/many` 200,000 series (a 9 MB body),
/// `/labels` 1,000 of them, `/big` a body whose Content-Length is over the
/// limit, `/endless` a body with no length that never ends (until the
/// reader hangs up or 60 s pass).
const HOSTILE_APP: &str = r#"
import http.server, sys, time
many = "".join('a{i="%d",path="/some/long/path/%d"} 1\n' % (i, i) for i in range(200000)).encode()
labels = many[: many.index(b'i="1000"')]
big = b"b 1\n" * (512 * 1024)
chunk = b'c{i="x"} 1\n' * 1000
class App(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def log_message(self, *args):
        pass
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        if self.path == "/endless":
            self.end_headers()
            stop = time.monotonic() + 60
            try:
                while time.monotonic() < stop:
                    self.wfile.write(chunk)
            except OSError:
                pass
            return
        body = {"/many": many, "/labels": labels}.get(self.path, big)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), App).serve_forever()
"#;

/// Peak resident memory of a process, in bytes (VmHWM).
fn peak_resident(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}

#[test]
fn a_hostile_app_costs_at_most_the_scrape_limits() {
    let python = std::path::PathBuf::from("/usr/bin/python3");
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("app.py");
    std::fs::write(&script, HOSTILE_APP).unwrap();
    let port = common::free_port();
    let _app = common::spawn(
        &python,
        &[script.display().to_string(), port.to_string()],
        &[],
    );
    wait_until(Duration::from_secs(10), "the app listening", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let config = dir.path().join("outrider.yml");
    let target = |name: &str, limits: &str| {
        format!(
            "  - name: {name}\n    url: http://127.0.0.1:{port}/{name}\n    interval: 2s\n    timeout: 2s\n    {limits}\n"
        )
    };
    std::fs::write(
        &config,
        format!(
            "scrape:\n{}{}{}{}",
            target("many", "sample_limit: 1000"),
            target("labels", "label_value_length_limit: 16"),
            target("big", "body_size_limit: 1048576"),
            target("endless", "body_size_limit: 1048576"),
        ),
    )
    .unwrap();
    let outrider = start_outrider(&[
        "--config.file",
        config.to_str().unwrap(),
        "--collect.interval",
        "200ms",
    ]);
    let metrics = || get(&outrider.url("/metrics"), &[]).text();
    // Each target fails for its own reason, which the log names.
    let failed = |target: &str, reason: &str| {
        outrider.process.log_text().lines().any(|l| {
            l.contains("scrape failed")
                && l.contains(&format!("target={target} "))
                && l.contains(reason)
        })
    };
    wait_until(Duration::from_secs(10), "every target refused", || {
        failed("many", "sample_limit of 1000")
            && failed("labels", "label_value_length_limit of 16")
            && failed("big", "body_size_limit")
            && failed("endless", "body_size_limit")
    });
    // Parsing all 200,000 series before counting them peaked at 119 MiB
    // here (debug build); stopping at the limit peaks at 33 MiB.
    let peak = peak_resident(outrider.process.pid());
    assert!(
        peak < 48 << 20,
        "outrider peaked at {} MiB resident",
        peak >> 20
    );
    let log = outrider.process.log_text();
    assert!(
        !failed("big", "reading the body"),
        "a Content-Length over the limit is refused before reading:\n{log}"
    );
    wait_until(Duration::from_secs(5), "every target down", || {
        let text = metrics();
        ["many", "labels", "big", "endless"]
            .iter()
            .all(|t| value(&text, "outrider_target_up", &[("target", t)]) == Some(0.0))
    });
    let text = metrics();
    assert!(!text.contains("\na{"), "{text}");
}
