//! Helpers for the end-to-end tests: start real processes on 127.0.0.1, stop
//! them by PID, scrape them, and read the exposition they return.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process that is killed (by its PID) when the test lets go of it.
pub struct Process {
    pub child: Child,
    pub log: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Process {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends a signal by PID and waits (bounded) for the exit status.
    pub fn signal_and_wait(&mut self, signal: &str, within: Duration) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for child") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "process did not exit within {within:?}\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fails with a clear message when a Debian package the tests need is missing.
pub fn require(binary: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(binary))
            .find(|candidate| candidate.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("{binary} is not installed: run the test command from the README, which installs the Debian packages the tests use")
    })
}

/// A port that was free a moment ago, for peers that cannot bind to port 0
/// and report it.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// Spawns a program with its stdout and stderr in a log file.
pub fn spawn(program: &Path, args: &[String], envs: &[(&str, &str)]) -> Process {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("output.log");
    let file = std::fs::File::create(&log).expect("log file");
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("clone log handle"))
        .stderr(file);
    for (key, value) in envs {
        command.env(key, value);
    }
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
    Process {
        child,
        log,
        _dir: Some(dir),
    }
}

/// Prometheus on 127.0.0.1 over a data directory in `dir` holding the
/// `openmetrics` history (`promtool tsdb create-blocks-from openmetrics`),
/// and its URL.
pub fn prometheus_with_history(openmetrics: &str, dir: &Path) -> (Process, String) {
    let promtool = require("promtool");
    let prometheus = require("prometheus");
    let input = dir.join("history.om");
    std::fs::write(&input, openmetrics).unwrap();
    let data = dir.join("data");
    let out = Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1m\n").unwrap();
    let port = free_port();
    let process = spawn(
        &prometheus,
        &[
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", data.display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        &[],
    );
    let api = format!("http://127.0.0.1:{port}");
    wait_until(Duration::from_secs(30), "Prometheus to be ready", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && get(&format!("{api}/-/ready"), &[]).status == 200
    });
    (process, api)
}

pub struct Outrider {
    pub process: Process,
    pub address: String,
    pub storage: tempfile::TempDir,
}

impl Outrider {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }
}

pub fn outrider_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_outrider"))
}

/// Starts outrider on 127.0.0.1 with an ephemeral port and waits until it
/// listens and its first tick is published.
pub fn start_outrider(args: &[&str]) -> Outrider {
    start_outrider_with_env(args, &[])
}

pub fn start_outrider_with_env(args: &[&str], envs: &[(&str, &str)]) -> Outrider {
    let storage = tempfile::tempdir().expect("storage dir");
    let process = start_outrider_in(storage.path(), args, envs);
    Outrider {
        address: process.1,
        process: process.0,
        storage,
    }
}

/// Starts outrider with the given storage directory (restart tests reuse
/// one) and returns the process and its address once it is ready.
pub fn start_outrider_in(
    storage: &Path,
    args: &[&str],
    envs: &[(&str, &str)],
) -> (Process, String) {
    let (process, address) = spawn_outrider(storage, args, envs);
    let ready = format!("http://{address}/-/ready");
    wait_until(Duration::from_secs(10), "outrider ready", || {
        get(&ready, &[]).status == 200
    });
    (process, address)
}

/// Starts outrider on 127.0.0.1 with an ephemeral port and returns once it
/// listens, without asking it anything (it may speak TLS or want a
/// password).
pub fn spawn_outrider(storage: &Path, args: &[&str], envs: &[(&str, &str)]) -> (Process, String) {
    let mut all: Vec<String> = vec![
        "--web.listen-address".into(),
        "127.0.0.1:0".into(),
        "--storage.path".into(),
        storage.display().to_string(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    let mut process = spawn(&outrider_binary(), &all, envs);
    let deadline = Instant::now() + Duration::from_secs(10);
    let address = loop {
        let log = process.log_text();
        if let Some(address) = log.lines().find_map(listening_address) {
            break address;
        }
        if let Some(status) = process.child.try_wait().expect("wait") {
            panic!("outrider exited with {status} before listening:\n{log}");
        }
        assert!(Instant::now() < deadline, "outrider did not listen:\n{log}");
        std::thread::sleep(Duration::from_millis(20));
    };
    (process, address)
}

/// Spawns outrider with `config` as its config file (containers off: no
/// engine here) and its storage in `dir`, and returns once it listens.
pub fn spawn_configured(
    dir: &Path,
    config: &str,
    args: &[&str],
    envs: &[(&str, &str)],
) -> (Process, String) {
    let file = dir.join("outrider.yml");
    std::fs::write(
        &file,
        format!("collectors:\n  containers: {{enabled: false}}\n{config}"),
    )
    .expect("write config");
    let storage = dir.join("storage");
    std::fs::create_dir_all(&storage).expect("storage dir");
    let mut all = vec!["--config.file", file.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    spawn_outrider(&storage, &all, envs)
}

/// The address in outrider's "listening" log line, in logfmt or JSON.
fn listening_address(line: &str) -> Option<String> {
    if line.contains("message=listening") {
        return line
            .split_whitespace()
            .find_map(|f| f.strip_prefix("address="))
            .map(str::to_owned);
    }
    if line.contains("\"message\":\"listening\"") {
        let start = line.find("\"address\":\"")? + "\"address\":\"".len();
        let end = line[start..].find('"')?;
        return Some(line[start..start + end].to_owned());
    }
    None
}

pub struct Reply {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("utf-8 body")
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .build()
}

fn reply(response: ureq::Response) -> Reply {
    let status = response.status();
    let headers = response
        .headers_names()
        .into_iter()
        .filter_map(|name| {
            let value = response.header(&name)?.to_owned();
            Some((name.to_ascii_lowercase(), value))
        })
        .collect();
    let mut body = Vec::new();
    response
        .into_reader()
        .take(64 << 20)
        .read_to_end(&mut body)
        .expect("read body");
    Reply {
        status,
        headers,
        body,
    }
}

pub fn request(method: &str, url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = agent().request(method, url);
    for (name, value) in headers {
        req = req.set(name, value);
    }
    match req.call() {
        Ok(response) => reply(response),
        Err(ureq::Error::Status(_, response)) => reply(response),
        Err(e) => panic!("{method} {url}: {e}"),
    }
}

/// Sends a request with a body.
pub fn send(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut req = agent().request(method, url);
    for (name, value) in headers {
        req = req.set(name, value);
    }
    match req.send_bytes(body) {
        Ok(response) => reply(response),
        Err(ureq::Error::Status(_, response)) => reply(response),
        Err(e) => panic!("{method} {url}: {e}"),
    }
}

pub fn get(url: &str, headers: &[(&str, &str)]) -> Reply {
    request("GET", url, headers)
}

/// Polls `condition` every 50 ms until it holds, failing after `within`.
pub fn wait_until(within: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits (up to 10 s) until the exposition at `metrics_url` comes from a
/// tick that started after this call. A tick takes its time before it asks
/// the collectors (the push store among them), so that tick has seen every
/// push answered before the call; no second tick is needed.
pub fn wait_for_tick_after_now(metrics_url: &str) {
    let called_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs_f64();
    wait_until(Duration::from_secs(10), "a tick after the call", || {
        sample_value(
            &get(metrics_url, &[]).text(),
            "outrider_tick_timestamp_seconds",
            &[],
        )
        .is_some_and(|tick| tick > called_at)
    });
}

/// One series of a scrape.
#[derive(Clone, Debug, PartialEq, PartialOrd, Eq, Ord)]
pub struct SeriesKey {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// The key of `name{labels}`.
pub fn series_key(name: &str, labels: &[(&str, &str)]) -> SeriesKey {
    SeriesKey {
        name: name.to_owned(),
        labels: labels
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
    }
}

/// The value of `name{labels}` (exactly those labels) in an exposition.
pub fn sample_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    parse_samples(text).get(&series_key(name, labels)).copied()
}

/// Parses the sample lines of the text format into series → value.
pub fn parse_samples(text: &str) -> BTreeMap<SeriesKey, f64> {
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample line has a value");
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (
                name,
                parse_labels(rest.strip_suffix('}').expect("closing brace")),
            ),
            None => (series, BTreeMap::new()),
        };
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("value {v:?} in {line:?}")),
        };
        samples.insert(
            SeriesKey {
                name: name.to_owned(),
                labels,
            },
            value,
        );
    }
    samples
}

fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (name, after) = rest.split_once("=\"").expect("label name");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            let (i, c) = chars.next().expect("closing quote");
            match c {
                '\\' => match chars.next().expect("escape").1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break i,
                c => value.push(c),
            }
        };
        labels.insert(name.trim_start_matches(',').to_owned(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    labels
}

/// The pushed series and push-time series, labels with empty values
/// dropped (Prometheus does not tell them from absent ones), push times as
/// "set" (1) or "never" (0).
pub fn pushed_series(text: &str) -> BTreeMap<SeriesKey, f64> {
    parse_samples(text)
        .into_iter()
        .filter(|(k, _)| {
            ![
                "go_",
                "process_",
                "pushgateway_",
                "promhttp_",
                "outrider_",
                "node_",
                "namedprocess_",
            ]
            .iter()
            .any(|p| k.name.starts_with(p))
        })
        .map(|(mut k, v)| {
            k.labels.retain(|_, value| !value.is_empty());
            let v = if k.name.starts_with("push_") {
                if v > 0.0 { 1.0 } else { 0.0 }
            } else {
                v
            };
            (k, v)
        })
        .collect()
}

/// Asserts that the Pushgateway and outrider hold the same pushed series,
/// naming those only one of them holds first (the full maps are long).
pub fn assert_same_pushed_series(
    theirs: &BTreeMap<SeriesKey, f64>,
    ours: &BTreeMap<SeriesKey, f64>,
    when: &str,
) {
    let only_theirs: Vec<_> = theirs
        .iter()
        .filter(|(k, _)| !ours.contains_key(*k))
        .collect();
    let only_ours: Vec<_> = ours
        .iter()
        .filter(|(k, _)| !theirs.contains_key(*k))
        .collect();
    assert!(
        only_theirs.is_empty() && only_ours.is_empty(),
        "{when}: only in the Pushgateway: {only_theirs:#?}\nonly in outrider: {only_ours:#?}"
    );
    assert_eq!(theirs, ours, "{when}");
}

/// The samples of one metric name.
pub fn family<'a>(
    samples: &'a BTreeMap<SeriesKey, f64>,
    name: &str,
) -> BTreeMap<&'a BTreeMap<String, String>, f64> {
    samples
        .iter()
        .filter(|(k, _)| k.name == name)
        .map(|(k, v)| (&k.labels, *v))
        .collect()
}

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Runs `promtool check metrics` on an exposition and returns its problems,
/// less the one lint outrider inherits on purpose: node_exporter's meminfo
/// names keep the kernel's CamelCase keys (node_memory_MemTotal_bytes), and
/// dashboards depend on them.
pub fn promtool_problems(exposition: &[u8]) -> Vec<String> {
    use std::io::Write;
    let mut child = Command::new(require("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .expect("promtool stdin")
        .write_all(exposition)
        .expect("write to promtool");
    let output = child.wait_with_output().expect("wait for promtool");
    let report = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    report
        .lines()
        .filter(|l| !l.trim().is_empty())
        // node_exporter's own names, which dashboards query as they are.
        .filter(|l| {
            !((l.starts_with("node_memory_") || l.starts_with("node_netstat_"))
                && l.ends_with("metric names should be written in 'snake_case' not 'camelCase'"))
        })
        .filter(|l| !(l.starts_with("node_entropy_") && l.contains("instead of \"bits\"")))
        .map(str::to_owned)
        .collect()
}

/// A real Pushgateway (Debian's `prometheus-pushgateway`) on a free port,
/// keeping its state in its own folder, once it answers `/-/ready`; the
/// process, its URL and that folder.
pub fn start_pushgateway() -> (Process, String, tempfile::TempDir) {
    let binary = require("prometheus-pushgateway");
    let port = free_port();
    let state = tempfile::tempdir().expect("state dir");
    let process = spawn(
        &binary,
        &[
            format!("--web.listen-address=127.0.0.1:{port}"),
            format!(
                "--persistence.file={}",
                state.path().join("pushgateway.data").display()
            ),
        ],
        &[],
    );
    let url = format!("http://127.0.0.1:{port}");
    wait_until(Duration::from_secs(10), "the Pushgateway", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && get(&format!("{url}/-/ready"), &[]).status == 200
    });
    (process, url, state)
}

/// Builds the Go program `tests/clients/<name>.go` offline against
/// Debian's Go packages (GOPATH mode, `golang-go` and
/// `golang-github-prometheus-client-golang-dev`); returns the binary. The
/// build cache stays in the target folder, so a rerun builds in a second.
pub fn build_go_client(name: &str) -> PathBuf {
    let go = require("go");
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(format!("{name}.go"));
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("go-clients");
    std::fs::create_dir_all(&out_dir).expect("go output dir");
    let binary = out_dir.join(name);
    let output = Command::new(go)
        .arg("build")
        .arg("-o")
        .arg(&binary)
        .arg(&source)
        .env("GO111MODULE", "off")
        .env("GOPATH", "/usr/share/gocode")
        .env("GOCACHE", out_dir.join("cache"))
        .env("GOFLAGS", "")
        .stdin(Stdio::null())
        .output()
        .expect("run go build");
    assert!(
        output.status.success(),
        "go build {}: {}",
        source.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    binary
}

/// Runs a client program to completion (within 60 s); its exit status
/// and output.
pub fn run_client(program: &Path, args: &[&str], envs: &[(&str, &str)]) -> (bool, String) {
    let mut process = spawn(
        program,
        &args.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        envs,
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = process.child.try_wait().expect("wait for client") {
            return (status.success(), process.log_text());
        }
        assert!(
            Instant::now() < deadline,
            "{} did not finish within 60 s: {}",
            program.display(),
            process.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
