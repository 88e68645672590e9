//! The guard in front of the endpoints against clients that try to get
//! around it or spend what others need: pushes in the Pushgateway's base64
//! form, floods of wrong passwords and of requests without a token, slow
//! connections and slow uploads, and oversized request heads. Over real
//! sockets, with curl, raw TCP and Python's prometheus_client.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::Process;

const TOKEN: &str = "a-push-token-for-the-guard-tests";
const PASSWORD: &str = "correct-horse-battery";

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

/// outrider with a config file, extra flags and the push token, once it
/// listens.
fn start(dir: &Path, config: &str, args: &[&str]) -> (Process, String) {
    let mut all = vec!["--collect.interval", "200ms"];
    all.extend_from_slice(args);
    common::spawn_configured(dir, config, &all, &[("OUTRIDER_PUSH_TOKEN", TOKEN)])
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
    // Basic credentials are not the push token, and a refusal spends no
    // part of the rate limit.
    assert_eq!(
        push("PUT", &base64, &basic("prometheus", PASSWORD), "ab 1\n"),
        401
    );
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

/// Attacking requests one test makes at most.
const MAX_ATTACKS: u64 = 50_000;

/// Runs `attack` on `threads` threads until the test's own requests are
/// done, `within` passes or `MAX_ATTACKS` were made, and returns what the
/// test's requests returned and how many attacking requests were made.
fn under_attack<T: Send>(
    threads: usize,
    within: Duration,
    attack: impl Fn(u64) + Sync,
    legitimate: impl FnOnce(&dyn Fn() -> u64) -> T + Send,
) -> (T, u64) {
    let stop = AtomicBool::new(false);
    let made = AtomicU64::new(0);
    let deadline = Instant::now() + within;
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed)
                    && Instant::now() < deadline
                    && made.load(Ordering::Relaxed) < MAX_ATTACKS
                {
                    attack(made.fetch_add(1, Ordering::Relaxed));
                }
            });
        }
        let count = || made.load(Ordering::Relaxed);
        let result = legitimate(&count);
        stop.store(true, Ordering::Relaxed);
        (result, count())
    })
}

/// A status without panicking on a refused connection (0).
fn status(method: &str, url: &str, headers: &[(&str, &str)]) -> u16 {
    let mut request = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .build()
        .request(method, url);
    for (name, value) in headers {
        request = request.set(name, value);
    }
    let sent = if method == "GET" {
        request.call()
    } else {
        request.send_bytes(b"ab 1\n")
    };
    match sent {
        Ok(response) => response.status(),
        Err(ureq::Error::Status(status, _)) => status,
        Err(_) => 0,
    }
}

#[test]
fn requests_without_credentials_do_not_spend_the_rate_limits() {
    const RELOAD: &str = "a-reload-token-for-the-guard-tests";
    let dir = tempfile::tempdir().unwrap();
    let (_outrider, address) = start(
        dir.path(),
        &format!(
            "web:\n  reload_token: {RELOAD}\n  limits:\n    write: {{rate: 1, burst: 20}}\n    admin: {{rate: 0.1, burst: 3}}\n"
        ),
        &[],
    );
    let push_url = format!("http://{address}/metrics/job@base64/YQ");
    let reload_url = format!("http://{address}/-/reload");
    let reload_bearer = format!("Bearer {RELOAD}");
    let ((pushes, reloads), flood) = under_attack(
        2,
        Duration::from_secs(30),
        |n| {
            // No token, or a wrong one: 401, whatever the endpoint.
            let answer = if n % 2 == 0 {
                status("PUT", &push_url, &[])
            } else {
                status("POST", &reload_url, &[("Authorization", "Bearer guess")])
            };
            assert!([401, 429, 0].contains(&answer), "{answer}");
        },
        |made| {
            common::wait_until(Duration::from_secs(10), "the flood", || made() >= 200);
            let pushes: Vec<u16> = (0..10)
                .map(|_| status("PUT", &push_url, &[("Authorization", &bearer())]))
                .collect();
            let reloads: Vec<u16> = (0..3)
                .map(|_| status("POST", &reload_url, &[("Authorization", &reload_bearer)]))
                .collect();
            (pushes, reloads)
        },
    );
    assert!(flood >= 200, "{flood}");
    assert_eq!(pushes, [200; 10], "after {flood} requests without a token");
    assert_eq!(reloads, [200; 3], "after {flood} requests without a token");
}

#[test]
fn wrong_password_floods_do_not_turn_away_a_logged_in_scraper() {
    // A cost at which one check takes 20 ms or more on this machine, so
    // the flood is real work.
    let mut cost = 4;
    let hash = loop {
        let started = Instant::now();
        let hash = bcrypt::hash(PASSWORD, cost).unwrap();
        if started.elapsed() >= Duration::from_millis(20) || cost >= 12 {
            break hash;
        }
        cost += 1;
    };
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web-config.yml");
    std::fs::write(&web, format!("basic_auth_users:\n  prometheus: '{hash}'\n")).unwrap();
    let (_outrider, address) = start(
        dir.path(),
        "web:\n  limits: {max_requests: 4}\n",
        &["--web.config.file", web.to_str().unwrap()],
    );
    let metrics = format!("http://{address}/metrics");
    let right = basic("prometheus", PASSWORD);
    // Logged in once: the verdict is cached.
    common::wait_until(Duration::from_secs(10), "the first tick", || {
        status("GET", &metrics, &[("Authorization", &right)]) == 200
    });
    let (scrapes, flood) = under_attack(
        16,
        Duration::from_secs(40),
        |n| {
            let guess = basic("prometheus", &format!("guess-{n}"));
            let answer = status("GET", &metrics, &[("Authorization", &guess)]);
            assert!([401, 503, 0].contains(&answer), "{answer}");
        },
        |made| {
            common::wait_until(Duration::from_secs(10), "the flood", || made() >= 50);
            (0..15)
                .map(|_| {
                    let started = Instant::now();
                    let answer = status("GET", &metrics, &[("Authorization", &right)]);
                    (answer, started.elapsed())
                })
                .collect::<Vec<_>>()
        },
    );
    for (answer, took) in &scrapes {
        assert_eq!(*answer, 200, "{scrapes:?} during {flood} guesses");
        // Well inside Prometheus's default scrape timeout of 10 s.
        assert!(*took < Duration::from_secs(5), "{scrapes:?}");
    }
}

/// Opens a push whose body never arrives in full: it holds its request
/// until `body_read_timeout`.
fn slow_upload(address: &str, n: usize) -> TcpStream {
    let mut stream = TcpStream::connect(address).unwrap();
    let head = format!(
        "PUT /metrics/job/slow{n} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Length: 100000\r\n\r\nab 1\n",
        bearer()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream
}

#[test]
fn slow_uploads_leave_slots_for_scrapes() {
    let dir = tempfile::tempdir().unwrap();
    let (_outrider, address) = start(
        dir.path(),
        "web:\n  limits: {max_requests: 4, body_read_timeout: 60s}\n",
        &[],
    );
    let metrics = format!("http://{address}/metrics");
    common::wait_until(Duration::from_secs(10), "the first tick", || {
        status("GET", &metrics, &[]) == 200
    });
    // Slow uploads until they hold what writes may hold, which a complete
    // push then finds taken. One more each round: a push racing them may
    // have held a slot for a moment and turned one away.
    let push_url = format!("http://{address}/metrics/job/quick");
    let mut uploads = Vec::new();
    common::wait_until(Duration::from_secs(10), "the writes' share taken", || {
        uploads.push(slow_upload(&address, uploads.len()));
        status("PUT", &push_url, &[("Authorization", &bearer())]) == 503
    });
    for _ in 0..5 {
        assert_eq!(status("GET", &metrics, &[]), 200);
    }
    drop(uploads);
}

/// A GET of `/-/healthy` whose request line and headers are `size` bytes,
/// and the status it gets (0: none).
fn head_of(address: &str, path: &str, size: usize) -> u16 {
    let start = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: ");
    let end = "\r\n\r\n";
    let pad = size - start.len() - end.len();
    let head = format!("{start}{}{end}", "p".repeat(pad));
    assert_eq!(head.len(), size);
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // The server may answer and close before it has read everything.
    let _ = stream.write_all(head.as_bytes());
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut stream, &mut answer);
    String::from_utf8_lossy(&answer)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn request_heads_are_held_to_max_header_bytes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    // The default 64 KiB.
    let (_outrider, address) = start(dir.path(), "", &[]);
    assert_eq!(head_of(&address, "/-/healthy", 65_536), 200);
    assert_eq!(head_of(&address, "/-/healthy", 65_537), 431);
    // What used to pass: the read buffer's next increment past the limit.
    assert_eq!(head_of(&address, "/-/healthy", 114_688), 431);
    // A long URI counts toward the same limit, and gets the same answer.
    let long_path = format!("/-/healthy?{}", "q".repeat(100_000));
    assert_eq!(head_of(&address, &long_path, 100_100), 431);
    let url = format!("http://{address}{long_path}");
    assert_eq!(curl(&[&url]), 431);

    let dir = tempfile::tempdir().unwrap();
    let (_outrider, address) = start(
        dir.path(),
        "web:\n  limits: {max_header_bytes: 20000}\n",
        &[],
    );
    assert_eq!(head_of(&address, "/-/healthy", 20_000), 200);
    assert_eq!(head_of(&address, "/-/healthy", 20_001), 431);
    assert_eq!(head_of(&address, "/-/healthy", 40_000), 431);
}

/// Holds `connections` connections that send a request head a byte at a
/// time and never finish it, opening a new one for each the server closes,
/// as a reconnecting slow-loris client does.
fn slowloris(
    address: &str,
    connections: usize,
    opened: &AtomicU64,
    stop: &AtomicBool,
    deadline: Instant,
) {
    let address: std::net::SocketAddr = address.parse().unwrap();
    let mut streams: Vec<TcpStream> = Vec::new();
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        while streams.len() < connections {
            let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(1))
            else {
                break;
            };
            if stream
                .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
                .is_ok()
            {
                stream.set_nonblocking(true).unwrap();
                streams.push(stream);
                opened.fetch_add(1, Ordering::Relaxed);
            }
        }
        streams.retain_mut(|stream| {
            let mut probe = [0u8; 64];
            let closed = matches!(std::io::Read::read(stream, &mut probe), Ok(0));
            !closed && stream.write_all(b"X").is_ok()
        });
        // The pause is the attack: one more byte per connection every
        // 200 ms, never enough to finish a request head.
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn slow_connections_cannot_keep_a_scraper_out() {
    let dir = tempfile::tempdir().unwrap();
    let (_outrider, address) = start(
        dir.path(),
        "web:\n  limits: {max_connections: 16, header_read_timeout: 60s}\n",
        &[],
    );
    let metrics = format!("http://{address}/metrics");
    common::wait_until(Duration::from_secs(10), "the first tick", || {
        status("GET", &metrics, &[]) == 200
    });
    let stop = AtomicBool::new(false);
    let opened = AtomicU64::new(0);
    let deadline = Instant::now() + Duration::from_secs(40);
    let scrapes = std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| slowloris(&address, 15, &opened, &stop, deadline));
        }
        // Slow connections three times over the slots before the scrapes
        // begin.
        common::wait_until(Duration::from_secs(10), "the slow connections", || {
            opened.load(Ordering::Relaxed) >= 45
        });
        let scrapes: Vec<(u16, Duration)> = (0..5)
            .map(|_| {
                let started = Instant::now();
                (status("GET", &metrics, &[]), started.elapsed())
            })
            .collect();
        stop.store(true, Ordering::Relaxed);
        scrapes
    });
    for (answer, took) in &scrapes {
        assert_eq!(*answer, 200, "{scrapes:?}");
        assert!(*took < Duration::from_secs(3), "{scrapes:?}");
    }
}

/// A connection from `source`, a loopback address other than 127.0.0.1.
fn connect_from(source: &str, address: &str) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
        socket.connect(address.parse().unwrap()).await.unwrap()
    });
    let stream = stream.into_std().unwrap();
    stream.set_nonblocking(false).unwrap();
    stream
}

#[test]
fn addresses_no_allowlist_holds_are_closed_before_they_take_a_slot() {
    let dir = tempfile::tempdir().unwrap();
    let (_outrider, address) = start(
        dir.path(),
        "web:\n  allow: {read: [127.0.0.1], write: [127.0.0.1], admin: [127.0.0.1]}\n  limits: {max_connections: 4, header_read_timeout: 60s}\n",
        &[],
    );
    let metrics = format!("http://{address}/metrics");
    common::wait_until(Duration::from_secs(10), "the first tick", || {
        status("GET", &metrics, &[]) == 200
    });
    // More connections from 127.0.0.2 than there are slots, each closed at
    // once without an answer, long before the header timeout.
    let strangers: Vec<TcpStream> = (0..8)
        .map(|_| connect_from("127.0.0.2", &address))
        .collect();
    for mut stranger in strangers {
        stranger
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buffer = [0u8; 16];
        let started = Instant::now();
        let read = std::io::Read::read(&mut stranger, &mut buffer);
        assert!(
            matches!(read, Ok(0)) || read.is_err() && started.elapsed() < Duration::from_secs(4),
            "{read:?} after {:?}",
            started.elapsed()
        );
    }
    assert_eq!(status("GET", &metrics, &[]), 200);
}
