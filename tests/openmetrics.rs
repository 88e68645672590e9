//! outrider's `/metrics` answer stays valid in both formats when what it
//! re-exports has the shapes that used to break OpenMetrics: a counter
//! without `_total` (scraped and pushed), histogram buckets whose text order
//! is not their numeric order, client_python's `_created` gauges, and a
//! summary. A Python app serves the exposition; the answers are read by the
//! Python client library's strict OpenMetrics parser, its text parser and
//! `promtool check metrics`.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{get, sample_value, send, spawn, wait_until};

/// What the app serves, as client_python writes the text format (the
/// creation times are gauges of their own there).
const APP: &str = r#"# HELP requests Requests served.
# TYPE requests counter
requests{code="200"} 5
requests{code="500"} 1
# HELP jobs_total Jobs run.
# TYPE jobs_total counter
jobs_total 3
# HELP jobs_created Jobs run.
# TYPE jobs_created gauge
jobs_created 1.7e+09
# HELP latency_seconds Latency.
# TYPE latency_seconds histogram
latency_seconds_bucket{le="2.5"} 1
latency_seconds_bucket{le="10.0"} 2
latency_seconds_bucket{le="+Inf"} 3
latency_seconds_sum 12.5
latency_seconds_count 3
# HELP latency_seconds_created Latency.
# TYPE latency_seconds_created gauge
latency_seconds_created 1.7e+09
# HELP rpc_seconds RPC time.
# TYPE rpc_seconds summary
rpc_seconds{quantile="0.5"} 0.2
rpc_seconds{quantile="0.9"} 0.9
rpc_seconds{quantile="0.99"} 1.5
rpc_seconds_sum 9
rpc_seconds_count 40
"#;

/// Serves the file given as argument at every path, as text format 0.0.4.
const SERVER: &str = r#"
import http.server, sys
body = open(sys.argv[2], 'rb').read()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), Handler).serve_forever()
"#;

/// Parses stdin with the named parser of the Python client library; any
/// error is a traceback on stderr and a non-zero exit.
const CHECK: &str = r#"
import sys
if sys.argv[1] == 'openmetrics':
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
else:
    from prometheus_client.parser import text_string_to_metric_families
families = list(text_string_to_metric_families(sys.stdin.read()))
print(len(families))
"#;

/// The Debian python3 that has python3-prometheus-client.
fn python() -> &'static Path {
    let python = Path::new("/usr/bin/python3");
    assert!(
        python.is_file(),
        "/usr/bin/python3 is not installed: run the test command from the README"
    );
    python
}

/// Runs the Python client library's parser of `format` on `body`.
fn python_parse(format: &str, body: &str) -> Result<(), String> {
    use std::io::Write;
    let mut child = Command::new(python())
        .args(["-c", CHECK, format])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    child
        .stdin
        .take()
        .expect("python stdin")
        .write_all(body.as_bytes())
        .expect("write to python");
    let output = child.wait_with_output().expect("wait for python");
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

#[test]
fn both_formats_stay_valid_with_the_shapes_apps_and_pushers_send() {
    let dir = tempfile::tempdir().unwrap();
    let exposition = dir.path().join("app.prom");
    std::fs::write(&exposition, APP).unwrap();
    let port = common::free_port();
    let _app = spawn(
        python(),
        &[
            "-c".to_owned(),
            SERVER.to_owned(),
            port.to_string(),
            exposition.to_str().unwrap().to_owned(),
        ],
        &[],
    );
    wait_until(Duration::from_secs(10), "the app listening", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let config = dir.path().join("outrider.yml");
    std::fs::write(
        &config,
        format!(
            "scrape:\n  - name: app\n    url: http://127.0.0.1:{port}/metrics\n    interval: 200ms\n    timeout: 150ms\n"
        ),
    )
    .unwrap();
    let token = "a-push-token-long-enough-for-the-check";
    let outrider = common::start_outrider_with_env(
        &[
            "--config.file",
            config.to_str().unwrap(),
            "--collect.interval",
            "200ms",
        ],
        &[("OUTRIDER_PUSH_TOKEN", token)],
    );
    // A batch job pushes a counter without `_total`, as a Pushgateway client.
    let pushed = send(
        "PUT",
        &outrider.url("/metrics/job/batch"),
        &[("Authorization", &format!("Bearer {token}"))],
        b"# TYPE batch_runs counter\nbatch_runs 2\n# TYPE batch_runs_created gauge\nbatch_runs_created 1.7e+09\n",
    );
    assert!(
        pushed.status / 100 == 2,
        "push: {} {}",
        pushed.status,
        pushed.text()
    );

    let openmetrics = [("Accept", "application/openmetrics-text; version=1.0.0")];
    wait_until(
        Duration::from_secs(10),
        "the app's and the pushed series",
        || {
            let text = get(&outrider.url("/metrics"), &[]).text();
            sample_value(&text, "rpc_seconds_count", &[("job", "app")]).is_some()
                && text.contains("\nbatch_runs{")
        },
    );
    let om = get(&outrider.url("/metrics"), &openmetrics);
    let om_text = om.text();
    let content_type = om.headers.get("content-type");
    assert!(
        content_type.is_some_and(|t| t.starts_with("application/openmetrics-text")),
        "{content_type:?}"
    );
    if let Err(error) = python_parse("openmetrics", &om_text) {
        panic!("the strict OpenMetrics parser refused the answer:\n{error}\n{om_text}");
    }
    // The series keep their names; the counter without `_total` is typed
    // `unknown` rather than renamed, and creation times are not series.
    assert!(om_text.contains("# TYPE requests unknown\n"), "{om_text}");
    assert!(om_text.contains("# TYPE batch_runs unknown\n"), "{om_text}");
    assert!(om_text.contains("# TYPE jobs counter\n"), "{om_text}");
    assert!(!om_text.contains("_created"), "{om_text}");
    let buckets: Vec<&str> = om_text
        .lines()
        .filter(|l| l.starts_with("latency_seconds_bucket"))
        .filter_map(|l| l.split("le=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(buckets, ["2.5", "10.0", "+Inf"], "{om_text}");
    let quantiles: Vec<&str> = om_text
        .lines()
        .filter(|l| l.starts_with("rpc_seconds{"))
        .filter_map(|l| l.split("quantile=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(quantiles, ["0.5", "0.9", "0.99"], "{om_text}");

    let text = get(&outrider.url("/metrics"), &[]).text();
    if let Err(error) = python_parse("text", &text) {
        panic!("the text parser refused the answer:\n{error}\n{text}");
    }
    for name in ["requests", "batch_runs"] {
        assert!(
            text.contains(&format!("# TYPE {name} counter\n")),
            "{name}: {text}"
        );
    }
    // promtool lints the app's own naming (a counter without `_total`);
    // anything else, a parse error above all, is outrider's.
    let problems: Vec<String> = common::promtool_problems(text.as_bytes())
        .into_iter()
        .filter(|p| {
            !((p.starts_with("requests ") || p.starts_with("batch_runs "))
                && p.contains("should have \"_total\" suffix"))
        })
        .collect();
    assert!(problems.is_empty(), "{problems:#?}\n{text}");
}
