//! Probes against real listeners on 127.0.0.1, and their options' checks.

use super::*;
use super::{config::*, outcome::*, tcp::*, tls::*};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::header::HOST;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::collect::Collector;

fn parse(yaml: &str) -> Result<Vec<ProbeConfig>, String> {
    serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())
}

fn refused(yaml: &str) -> String {
    match ProbesCollector::new(&parse(yaml).unwrap()) {
        Ok(_) => panic!("accepted: {yaml}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn defaults_are_blackbox_ones() {
    let probes = parse(
        "- name: web\n  http: {url: 'http://127.0.0.1:8080/health'}\n- name: redis\n  interval: 30s\n  timeout: 2s\n  tcp:\n    address: localhost:6379\n    steps:\n      - send: \"PING\\r\\n\"\n      - expect: '^\\+PONG$'\n",
    )
    .unwrap();
    assert_eq!(probes[0].interval, Duration::from_secs(15));
    assert_eq!(probes[0].timeout, Duration::from_secs(5));
    let http = probes[0].http.as_ref().unwrap();
    assert_eq!(http.method, "GET");
    assert!(http.valid_status_codes.is_empty());
    let tcp = probes[1].tcp.as_ref().unwrap();
    assert_eq!(
        tcp.steps,
        vec![
            TcpStep {
                send: Some("PING\r\n".into()),
                expect: None
            },
            TcpStep {
                send: None,
                expect: Some("^\\+PONG$".into())
            }
        ]
    );
    let collector = ProbesCollector::new(&probes).unwrap();
    let Target::Http(target) = &collector.probes[0].probe.target else {
        panic!("http target");
    };
    assert_eq!((target.host.as_str(), target.port), ("127.0.0.1", 8080));
    assert_eq!(target.path, "/health");
    assert_eq!(target.headers[HOST], "127.0.0.1:8080");
    let Target::Tcp(target) = &collector.probes[1].probe.target else {
        panic!("tcp target");
    };
    assert_eq!((target.host.as_str(), target.port), ("localhost", 6379));
}

#[test]
fn unknown_keys_are_refused() {
    let error = parse("- name: a\n  http: {url: 'http://x/', methd: POST}\n").unwrap_err();
    assert!(error.contains("unknown field `methd`"), "{error}");
    let error = parse("- name: a\n  tcp: {address: 'x:1', steps: [{sned: x}]}\n").unwrap_err();
    assert!(error.contains("sned"), "{error}");
}

#[test]
fn invalid_probes_say_what_to_fix() {
    let cases = [
        (
            "- {name: a, tcp: {address: 'x:1'}}\n- {name: a, tcp: {address: 'y:1'}}",
            "already taken",
        ),
        ("- {name: '', tcp: {address: 'x:1'}}", "name must be set"),
        ("- {name: a}", "exactly one of http and tcp"),
        (
            "- {name: a, tcp: {address: 'x:1'}, http: {url: 'http://x/'}}",
            "exactly one of http and tcp",
        ),
        (
            "- {name: a, http: {url: 'ftp://x/'}}",
            "must start with http:// or https://",
        ),
        (
            "- {name: a, http: {url: 'http://user:secret@x/'}}",
            "http.url carries credentials (user:password@)",
        ),
        (
            "- {name: a, http: {url: 'http://x/', tls: {}}}",
            "http.tls is for https:// URLs",
        ),
        (
            "- {name: a, http: {url: 'https://x/', tls: {ca_file: /nonexistent/ca.pem}}}",
            "http.tls.ca_file /nonexistent/ca.pem",
        ),
        (
            "- {name: a, tcp: {address: 'x:1', tls: {ca_file: /dev/null}}}",
            "tcp.tls.ca_file /dev/null: no PEM certificate in it",
        ),
        (
            "- {name: a, tcp: {address: 'x:1', tls: {server_name: 'a b'}}}",
            "tcp.tls.server_name \"a b\" is not a host name",
        ),
        ("- {name: a, http: {url: 'not a url'}}", "is not a URL"),
        (
            "- {name: a, http: {url: 'http://x/', method: 'G T'}}",
            "not an HTTP method",
        ),
        (
            "- {name: a, http: {url: 'http://x/', headers: {'a b': c}}}",
            "not a header name",
        ),
        (
            "- {name: a, http: {url: 'http://x/', valid_status_codes: [2000]}}",
            "2000 is not an HTTP status code",
        ),
        ("- {name: a, tcp: {address: 'x'}}", "is not host:port"),
        ("- {name: a, tcp: {address: 'x:port'}}", "is not host:port"),
        ("- {name: a, tcp: {address: '::1:80'}}", "is not host:port"),
        (
            "- {name: a, tcp: {address: 'x:1', steps: [expect: '(']}}",
            "tcp.steps[0].expect: invalid regex",
        ),
        (
            "- {name: a, tcp: {address: 'x:1', steps: [{send: a, expect: b}]}}",
            "tcp.steps[0]: set exactly one of send and expect",
        ),
        (
            "- {name: a, timeout: 0s, tcp: {address: 'x:1'}}",
            "more than 0s",
        ),
        (
            "- {name: a, interval: 1s, timeout: 2s, tcp: {address: 'x:1'}}",
            "timeout 2s is longer than interval 1s",
        ),
    ];
    for (yaml, expected) in cases {
        let error = refused(yaml);
        assert!(error.contains(expected), "{yaml}: {error}");
        assert!(error.starts_with("collector probes: probes["), "{error}");
    }
    // A password in a URL is not repeated in the message.
    let error = refused("- {name: a, http: {url: 'http://user:secret@x/'}}");
    assert!(!error.contains("secret"), "{error}");
    // The place and name of the faulty probe are in the message.
    let error = refused("- {name: ok, tcp: {address: 'x:1'}}\n- {name: db, tcp: {address: x}}");
    assert!(error.contains("probes[1] \"db\""), "{error}");
}

#[test]
fn ipv6_addresses_keep_their_brackets_out() {
    assert_eq!(split_host_port("[::1]:6379"), Some(("::1".into(), 6379)));
    assert_eq!(split_host_port("redis:6379"), Some(("redis".into(), 6379)));
    assert_eq!(split_host_port(":6379"), None);
    let probes = parse("- {name: a, http: {url: 'http://[::1]:81/x?y=1'}}").unwrap();
    let collector = ProbesCollector::new(&probes).unwrap();
    let Target::Http(target) = &collector.probes[0].probe.target else {
        panic!("http target");
    };
    assert_eq!((target.host.as_str(), target.port), ("::1", 81));
    assert_eq!(target.path, "/x?y=1");
}

#[test]
fn io_errors_give_their_reasons() {
    use std::io::{Error, ErrorKind};
    assert_eq!(
        Reason::of_io(&Error::from(ErrorKind::ConnectionRefused)),
        Reason::Refused
    );
    assert_eq!(
        Reason::of_io(&Error::from(ErrorKind::TimedOut)),
        Reason::Timeout
    );
    assert_eq!(
        Reason::of_io(&Error::from(ErrorKind::ConnectionReset)),
        Reason::Error
    );
}

fn probe(yaml: &str) -> Probe {
    Probe::new(&parse(yaml).unwrap()[0], 0).unwrap()
}

/// A peer on 127.0.0.1 that answers each connection with `reply` (after
/// reading what the client sends first) and then keeps it open.
async fn peer(reply: &'static [u8]) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buffer = [0u8; 1024];
            let _ = stream.read(&mut buffer).await;
            let _ = stream.write_all(reply).await;
            held.push(stream);
        }
    });
    (address, task)
}

fn reason(outcome: &Outcome) -> Option<Reason> {
    outcome.failure.as_ref().map(|f| f.reason)
}

#[tokio::test]
async fn runs_classify_their_failures() {
    // Nothing listens on a port just freed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let outcome = probe(&format!(
        "- {{name: a, timeout: 2s, tcp: {{address: '{closed}'}}}}"
    ))
    .run()
    .await;
    assert_eq!(reason(&outcome), Some(Reason::Refused), "{outcome:?}");
    assert_eq!(outcome.failed_due_to_regex, Some(false));

    // .invalid never resolves (RFC 2606).
    let outcome = probe("- {name: a, timeout: 2s, tcp: {address: 'no-such-host.invalid:80'}}")
        .run()
        .await;
    assert_eq!(reason(&outcome), Some(Reason::Dns), "{outcome:?}");

    let (address, _peer) = peer(b"+PONG\r\n").await;
    let ok = probe(&format!(
        "- {{name: a, timeout: 2s, tcp: {{address: '{address}', steps: [send: \"PING\\r\\n\", expect: '^\\+PONG$']}}}}"
    ))
    .run()
    .await;
    assert_eq!(reason(&ok), None, "{ok:?}");
    assert_eq!(ok.failed_due_to_regex, Some(false));

    // A reply that does not match, and the peer stays silent after it.
    let wrong = probe(&format!(
        "- {{name: a, timeout: 300ms, tcp: {{address: '{address}', steps: [send: \"PING\\r\\n\", expect: '^\\+PANG']}}}}"
    ))
    .run()
    .await;
    assert_eq!(reason(&wrong), Some(Reason::Expect), "{wrong:?}");
    assert_eq!(wrong.failed_due_to_regex, Some(true));

    // Silence without any line is a timeout.
    let (address, _peer) = peer(b"").await;
    let silent = probe(&format!(
        "- {{name: a, timeout: 300ms, tcp: {{address: '{address}', steps: [expect: '.']}}}}"
    ))
    .run()
    .await;
    assert_eq!(reason(&silent), Some(Reason::Timeout), "{silent:?}");
    assert!(silent.duration >= 0.3, "{silent:?}");

    let (address, _peer) = peer(
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nConnection: close\r\n\r\ndown",
    )
    .await;
    let outcome = probe(&format!(
        "- {{name: a, timeout: 2s, http: {{url: 'http://{address}/'}}}}"
    ))
    .run()
    .await;
    assert_eq!(reason(&outcome), Some(Reason::Status), "{outcome:?}");
    let http = outcome.http.unwrap();
    assert_eq!(
        (http.status_code, http.version, http.content_length),
        (503.0, 1.1, 4.0)
    );
    let listed = probe(&format!(
        "- {{name: a, timeout: 2s, http: {{url: 'http://{address}/', valid_status_codes: [503]}}}}"
    ))
    .run()
    .await;
    assert_eq!(reason(&listed), None, "{listed:?}");

    // A reply that is not HTTP.
    let (address, _peer) = peer(b"SSH-2.0-OpenSSH\r\n").await;
    let outcome = probe(&format!(
        "- {{name: a, timeout: 2s, http: {{url: 'http://{address}/'}}}}"
    ))
    .run()
    .await;
    assert_eq!(reason(&outcome), Some(Reason::Error), "{outcome:?}");

    // A peer that does not speak TLS fails the handshake.
    let ca = dir_with_ca();
    let outcome = probe(&format!(
        "- {{name: a, timeout: 2s, http: {{url: 'https://{address}/', tls: {{ca_file: '{}'}}}}}}",
        ca.1.display()
    ))
    .run()
    .await;
    assert_eq!(reason(&outcome), Some(Reason::Tls), "{outcome:?}");
    let http = outcome.http.unwrap();
    assert!(http.ssl && http.phases[CONNECT] > 0.0, "{http:?}");
    assert_eq!(outcome.tls_version, None);
}

/// A self-signed certificate in a PEM file, for `ca_file`.
fn dir_with_ca() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, certified.cert.pem()).unwrap();
    (dir, path)
}

#[test]
fn the_earliest_expiry_of_a_chain() {
    let certificate = |year: i32| {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.not_after = rcgen::date_time_ymd(year, 5, 17);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    };
    let (late, early) = (certificate(2040), certificate(2031));
    // 2031-05-17T00:00:00Z
    assert_eq!(
        earliest_expiry([late.as_slice(), early.as_slice()]),
        Some(1936742400.0)
    );
    assert_eq!(earliest_expiry([b"not DER".as_slice()]), None);
    assert_eq!(earliest_expiry([]), None);
}

#[test]
fn https_defaults_to_port_443_and_the_url_host_as_name() {
    let (_dir, ca) = dir_with_ca();
    let probes = parse(&format!(
        "- {{name: a, http: {{url: 'https://api.example/x', tls: {{ca_file: '{}'}}}}}}\n- {{name: b, tcp: {{address: '10.0.0.1:6380', tls: {{ca_file: '{}', server_name: redis.internal}}}}}}",
        ca.display(),
        ca.display()
    ))
    .unwrap();
    let collector = ProbesCollector::new(&probes).unwrap();
    let Target::Http(target) = &collector.probes[0].probe.target else {
        panic!("http target");
    };
    assert_eq!(target.port, 443);
    let name = &target.tls.as_ref().unwrap().server_name;
    assert_eq!(name.to_str(), "api.example");
    let Target::Tcp(target) = &collector.probes[1].probe.target else {
        panic!("tcp target");
    };
    let name = &target.tls.as_ref().unwrap().server_name;
    assert_eq!(name.to_str(), "redis.internal");
}

#[test]
fn families_follow_blackbox_and_name_the_failure() {
    let ok = Outcome {
        duration: 0.5,
        dns_lookup: 0.0,
        failure: None,
        http: Some(HttpFigures {
            status_code: 200.0,
            version: 1.1,
            content_length: 2.0,
            phases: [0.0, 0.1, 0.05, 0.3, 0.1],
            ssl: true,
        }),
        failed_due_to_regex: None,
        tls_version: Some("TLS 1.3"),
        earliest_cert_expiry: Some(1936742400.0),
    };
    let down = Outcome {
        duration: 0.2,
        failure: Some(Failure::new(Reason::Refused, "connecting")),
        failed_due_to_regex: Some(false),
        ..Outcome::default()
    };
    let exported = families([("web", &ok), ("redis", &down)]);
    let series = |name: &str| -> Vec<(Vec<(String, String)>, f64)> {
        exported
            .iter()
            .find(|f| f.name == name)
            .map(|f| {
                f.samples
                    .iter()
                    .map(|s| {
                        (
                            s.labels
                                .iter()
                                .map(|(n, v)| (n.to_string(), v.clone()))
                                .collect(),
                            s.value,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let probe = |name: &str| vec![("probe".to_owned(), name.to_owned())];
    assert_eq!(
        series("probe_success"),
        vec![(probe("web"), 1.0), (probe("redis"), 0.0)]
    );
    assert_eq!(
        series("probe_http_status_code"),
        vec![(probe("web"), 200.0)]
    );
    assert_eq!(series("probe_http_duration_seconds").len(), 5);
    assert_eq!(
        series("probe_http_duration_seconds")[2],
        (
            vec![
                ("probe".to_owned(), "web".to_owned()),
                ("phase".to_owned(), "tls".to_owned())
            ],
            0.05
        )
    );
    assert_eq!(series("probe_http_ssl"), vec![(probe("web"), 1.0)]);
    assert_eq!(
        series("probe_ssl_earliest_cert_expiry"),
        vec![(probe("web"), 1936742400.0)]
    );
    assert_eq!(
        series("probe_tls_version_info"),
        vec![(
            vec![
                ("probe".to_owned(), "web".to_owned()),
                ("version".to_owned(), "TLS 1.3".to_owned())
            ],
            1.0
        )]
    );
    assert_eq!(
        series("probe_failed_due_to_regex"),
        vec![(probe("redis"), 0.0)]
    );
    assert_eq!(
        series("outrider_probe_failure_info"),
        vec![(
            vec![
                ("probe".to_owned(), "redis".to_owned()),
                ("reason".to_owned(), "refused".to_owned())
            ],
            1.0
        )]
    );
    // Before any outcome, nothing at all.
    assert!(families([]).is_empty());
}

#[tokio::test]
async fn nothing_before_the_first_run_and_no_runs_after_the_collector_goes() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    let _peer = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(stream);
        }
    });
    let count = || accepted.load(std::sync::atomic::Ordering::SeqCst);
    let probes = parse(&format!(
        "- {{name: a, interval: 50ms, timeout: 50ms, tcp: {{address: '{address}'}}}}"
    ))
    .unwrap();
    let mut collector = ProbesCollector::new(&probes).unwrap();
    // This runtime has one thread: the probe's task has not run yet.
    let mut out = Vec::new();
    collector.collect(&mut out).unwrap();
    assert!(out.is_empty(), "{out:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    collector.collect(&mut out).unwrap();
    let success = out.iter().find(|f| f.name == "probe_success").unwrap();
    assert_eq!(success.samples[0].value, 1.0);
    assert!(count() >= 2, "runs every 50ms: {}", count());
    drop(collector);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after_drop = count();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        count(),
        after_drop,
        "the probe's task ended with the collector"
    );
}

#[test]
fn built_outside_a_runtime_it_starts_nothing_and_says_so_on_collect() {
    let probes = parse("- {name: a, tcp: {address: '127.0.0.1:1'}}").unwrap();
    let mut collector = ProbesCollector::new(&probes).unwrap();
    let error = collector.collect(&mut Vec::new()).unwrap_err();
    assert!(error.to_string().contains("no tokio runtime"), "{error}");
}
