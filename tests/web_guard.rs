//! The guard in front of the endpoints against clients that try to get
//! around it or spend what others need: pushes in the Pushgateway's base64
//! form, floods of wrong passwords and of requests without a token, slow
//! connections and slow uploads, and oversized request heads. Over real
//! sockets, with curl, raw TCP and Python's prometheus_client.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Process, spawn_outrider};

const TOKEN: &str = "a-push-token-for-the-guard-tests";
const PASSWORD: &str = "correct-horse-battery";

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

/// outrider with a config file (containers off: no engine here), extra
/// flags and the push token, waited for until it listens.
fn start(dir: &Path, config: &str, args: &[&str]) -> (Process, String) {
    let file = dir.join("outrider.yml");
    std::fs::write(
        &file,
        format!("collectors:\n  containers: {{enabled: false}}\n{config}"),
    )
    .unwrap();
    let storage = dir.join("storage");
    std::fs::create_dir_all(&storage).unwrap();
    let mut all = vec![
        "--config.file",
        file.to_str().unwrap(),
        "--collect.interval",
        "200ms",
    ];
    all.extend_from_slice(args);
    spawn_outrider(&storage, &all, &[("OUTRIDER_PUSH_TOKEN", TOKEN)])
}

/// A web config with one basic-auth user, `prometheus:PASSWORD`. Cost 4
/// keeps a debug build quick.
fn basic_auth_web_config(dir: &Path) -> PathBuf {
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let file = dir.join("web-config.yml");
    std::fs::write(
        &file,
        format!("basic_auth_users:\n  prometheus: '{hash}'\n"),
    )
    .unwrap();
    file
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// The status of a curl call (0 when there was no HTTP answer).
fn curl(args: &[&str]) -> u16 {
    let output = Command::new(common::require("curl"))
        .args([
            "-sS",
            "--max-time",
            "10",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "Expect:",
        ])
        .args(args)
        .output()
        .expect("run curl");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

fn push(method: &str, url: &str, authorization: &str, body: &str) -> u16 {
    let header = format!("Authorization: {authorization}");
    curl(&["-X", method, "-H", &header, "--data-binary", body, url])
}

#[test]
fn base64_job_pushes_are_guarded_as_pushes() {
    // 127.0.0.1 may not push: both forms of the job are refused.
    let dir = tempfile::tempdir().unwrap();
    let (_outrider, address) = start(
        dir.path(),
        "web:\n  allow:\n    write: ['10.0.0.0/8']\n",
        &[],
    );
    for path in ["/metrics/job/plain", "/metrics/job@base64/YnlwYXNz"] {
        let url = format!("http://{address}{path}");
        for method in ["PUT", "POST", "DELETE"] {
            let status = push(method, &url, &bearer(), "ab 1\n");
            assert_eq!(status, 403, "{method} {path}");
        }
    }

    // The write rate limit and the write body limit apply to the base64
    // form, and basic auth for reads does not stand in its way.
    let dir = tempfile::tempdir().unwrap();
    let web = basic_auth_web_config(dir.path());
    let (_outrider, address) = start(
        dir.path(),
        "web:\n  limits:\n    write: {rate: 0.001, burst: 3}\n",
        &["--web.config.file", web.to_str().unwrap()],
    );
    // Python's client uses the base64 form for a job with a '/'; 8,000
    // series are over the read class's 64 KiB, well under the write
    // class's 16 MiB.
    let script = format!(
        r#"
from prometheus_client import CollectorRegistry, Gauge, push_to_gateway
from prometheus_client.exposition import default_handler

def with_token(url, method, timeout, headers, data):
    assert len(data) > 65536, len(data)
    return default_handler(url, method, timeout, list(headers) + [("Authorization", "{bearer}")], data)

registry = CollectorRegistry()
gauge = Gauge("batch_rows", "Rows per shard.", ["shard"], registry=registry)
for shard in range(8000):
    gauge.labels(str(shard)).set(shard)
push_to_gateway("{address}", job="team/batch", registry=registry, handler=with_token)
"#,
        bearer = bearer()
    );
    let python = Command::new("/usr/bin/python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        python.status.success(),
        "{}",
        String::from_utf8_lossy(&python.stderr)
    );
    let base64 = format!("http://{address}/metrics/job@base64/YjY0am9i");
    assert_eq!(push("PUT", &base64, &bearer(), "ab 1\n"), 200);
    assert_eq!(push("DELETE", &base64, &bearer(), ""), 202);
    // The burst of 3 is spent: the fourth push is limited, in either form.
    assert_eq!(push("PUT", &base64, &bearer(), "ab 1\n"), 429);
    let plain = format!("http://{address}/metrics/job/plain");
    assert_eq!(push("PUT", &plain, &bearer(), "ab 1\n"), 429);

    let metrics = format!("http://{address}/metrics");
    let credentials = basic("prometheus", PASSWORD);
    common::wait_until(Duration::from_secs(10), "the pushed series", || {
        let reply = common::get(&metrics, &[("Authorization", &credentials)]);
        reply.status == 200
            && reply.text().lines().any(|line| {
                line.starts_with("batch_rows{")
                    && line.contains(r#"job="team/batch""#)
                    && line.contains(r#"shard="7999""#)
                    && line.contains(" 7999")
            })
    });
}
