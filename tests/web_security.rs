//! The HTTP surface under hostile or careless clients, over real sockets,
//! with real clients: curl and a rustls client. TLS with and without client
//! certificates, basic auth, allowlists by source address (127.0.0.1 against
//! 127.0.0.2), rate limits, body and header limits, slow and malformed
//! requests, and the web config as promtool reads it.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Process;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

/// A CA and the certificates it signed, written as PEM files.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    /// `<name>-ca.crt`, and for each leaf `<leaf>.crt` and `<leaf>.key`.
    fn new(dir: &Path) -> Pki {
        std::fs::create_dir_all(dir).unwrap();
        Pki {
            dir: dir.to_owned(),
        }
    }

    fn ca(&self, name: &str) -> Issuer<'static, KeyPair> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} test CA"));
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(self.dir.join(format!("{name}-ca.crt")), cert.pem()).unwrap();
        Issuer::new(params, key)
    }

    fn leaf(&self, issuer: &Issuer<'static, KeyPair>, name: &str, sans: &[&str]) {
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(sans).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, issuer).unwrap();
        std::fs::write(self.dir.join(format!("{name}.crt")), cert.pem()).unwrap();
        std::fs::write(self.dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }
}

/// Test certificates: a CA that signs the server and a good client, and a
/// second CA that signs a client outrider must not trust.
fn test_pki(dir: &Path) -> Pki {
    let pki = Pki::new(dir);
    let ca = pki.ca("good");
    pki.leaf(&ca, "server", &["127.0.0.1", "localhost"]);
    pki.leaf(&ca, "client", &["client.test"]);
    let other = pki.ca("other");
    pki.leaf(&other, "stranger", &["stranger.test"]);
    pki
}

/// outrider with a config file and extra flags, once it listens.
fn start(dir: &Path, config: &str, args: &[&str], envs: &[(&str, &str)]) -> (Process, String) {
    common::spawn_configured(dir, config, args, envs)
}

/// The answer of a curl call: its exit code, the HTTP status (0 when there
/// was none) and the headers and body.
struct Curl {
    exit: i32,
    status: u16,
    output: String,
}

fn curl(args: &[&str]) -> Curl {
    let output = Command::new(common::require("curl"))
        .args(["-sS", "--max-time", "10", "-i", "-H", "Expect:"])
        .args(args)
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    let status = text
        .lines()
        .find(|l| l.starts_with("HTTP/"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Curl {
        exit: output.status.code().unwrap_or(-1),
        status,
        output: text,
    }
}

/// A GET over rustls; Err when the handshake or the exchange fails.
fn tls_get(
    address: &str,
    ca: &Path,
    client: Option<(&Path, &Path)>,
    path: &str,
) -> Result<String, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_file_iter(cert)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_file(key).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let socket = TcpStream::connect(address).map_err(|e| e.to_string())?;
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut stream = rustls::StreamOwned::new(connection, socket);
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    match stream.read_to_end(&mut response) {
        Ok(_) => {}
        // Some servers close without close_notify; the bytes read count.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {}
        Err(e) => return Err(e.to_string()),
    }
    let text = String::from_utf8_lossy(&response).to_string();
    if text.is_empty() {
        return Err("no response".to_owned());
    }
    Ok(text)
}

fn with(pair: &(PathBuf, PathBuf)) -> Option<(&Path, &Path)> {
    Some((pair.0.as_path(), pair.1.as_path()))
}

fn status_of(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn write_web_config(dir: &Path, text: &str) -> PathBuf {
    let file = dir.join("web-config.yml");
    // Write then rename, as config management does, so a reader never
    // sees half a file.
    let tmp = dir.join(".web-config.yml.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    file
}

#[test]
fn tls_with_and_without_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let pki = test_pki(&dir.path().join("pki"));
    let tls = "tls_server_config:\n  cert_file: pki/server.crt\n  key_file: pki/server.key\n";
    let web = write_web_config(
        dir.path(),
        &format!(
            "{tls}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: pki/good-ca.crt\n"
        ),
    );
    let (_outrider, address) = start(
        dir.path(),
        "",
        &["--web.config.file", web.to_str().unwrap()],
        &[],
    );
    let ca = pki.path("good-ca.crt");
    let client = (pki.path("client.crt"), pki.path("client.key"));
    let stranger = (pki.path("stranger.crt"), pki.path("stranger.key"));

    let ok = tls_get(&address, &ca, with(&client), "/-/healthy").unwrap();
    assert_eq!(status_of(&ok), 200, "{ok}");
    assert!(
        tls_get(&address, &ca, None, "/-/healthy").is_err(),
        "no client certificate"
    );
    assert!(
        tls_get(&address, &ca, with(&stranger), "/-/healthy").is_err(),
        "a client certificate from a CA outrider does not trust"
    );
    // The client refuses a server whose CA it does not trust.
    let error = tls_get(&address, &pki.path("other-ca.crt"), with(&client), "/").unwrap_err();
    assert!(error.contains("certificate"), "{error}");
    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = curl(&[&format!("http://{address}/metrics")]);
    assert_ne!(plain.status, 200, "{}", plain.output);

    // curl, with and without its certificate.
    let url = format!("https://{address}/metrics");
    let ca_arg = ca.to_str().unwrap();
    let cert_args = [
        "--cacert",
        ca_arg,
        "--cert",
        client.0.to_str().unwrap(),
        "--key",
        client.1.to_str().unwrap(),
        &url,
    ];
    common::wait_until(Duration::from_secs(10), "the first tick", || {
        curl(&cert_args).status == 200
    });
    let with_cert = curl(&[
        "--cacert",
        ca_arg,
        "--cert",
        client.0.to_str().unwrap(),
        "--key",
        client.1.to_str().unwrap(),
        &url,
    ]);
    assert_eq!(with_cert.status, 200, "{}", with_cert.output);
    assert!(with_cert.output.contains("node_cpu_seconds_total"));
    let without = curl(&["--cacert", ca_arg, &url]);
    assert_ne!(without.exit, 0, "{}", without.output);
    assert_ne!(without.status, 200);
    let wrong_ca = curl(&["--cacert", pki.path("other-ca.crt").to_str().unwrap(), &url]);
    assert_eq!(
        wrong_ca.exit, 60,
        "curl's 'peer certificate cannot be authenticated': {}",
        wrong_ca.output
    );

    // The file is re-read on change: VerifyClientCertIfGiven lets a client
    // without a certificate in, and still refuses a stranger. Each version
    // of the file differs in length from the one before, so the change is
    // seen however coarse the file system's modification times are.
    write_web_config(
        dir.path(),
        &format!(
            "{tls}  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: pki/good-ca.crt\n"
        ),
    );
    common::wait_until(Duration::from_secs(10), "the new web config", || {
        tls_get(&address, &ca, None, "/-/healthy").is_ok()
    });
    assert!(tls_get(&address, &ca, with(&stranger), "/-/healthy").is_err());
    assert!(tls_get(&address, &ca, with(&client), "/-/healthy").is_ok());

    // RequireAnyClientCert asks for a certificate but checks no CA.
    write_web_config(
        dir.path(),
        &format!("{tls}  client_auth_type: RequireAnyClientCert\n"),
    );
    common::wait_until(Duration::from_secs(10), "RequireAnyClientCert", || {
        tls_get(&address, &ca, with(&stranger), "/-/healthy").is_ok()
    });
    assert!(tls_get(&address, &ca, None, "/-/healthy").is_err());

    // No client auth, TLS 1.3 only: a TLS 1.2 client is refused.
    write_web_config(dir.path(), &format!("{tls}  min_version: TLS13\n"));
    common::wait_until(Duration::from_secs(10), "TLS 1.3 only", || {
        tls_get(&address, &ca, None, "/-/healthy").is_ok()
            && curl(&["--cacert", ca_arg, "--tls-max", "1.2", &url]).exit != 0
    });
    let tls13 = curl(&["--cacert", ca_arg, "--tlsv1.3", &url]);
    assert_eq!(tls13.status, 200, "{}", tls13.output);

    // A broken file is refused and the one in force stays. Requests drive
    // the change check, so keep asking until the refusal is logged, then
    // check that the old config still answers.
    write_web_config(dir.path(), &format!("{tls}  client_auth_type: Sometimes\n"));
    common::wait_until(Duration::from_secs(10), "the refusal in the log", || {
        let _ = tls_get(&address, &ca, None, "/-/healthy");
        _outrider.log_text().contains("web config reload refused")
    });
    assert!(tls_get(&address, &ca, None, "/-/healthy").is_ok());
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[test]
fn basic_auth_right_wrong_and_missing_and_secrets_stay_out_of_logs() {
    const PASSWORD: &str = "correct-horse-battery";
    const WRONG: &str = "wrong-password-guess";
    const TOKEN: &str = "a-reload-token-kept-secret";
    let dir = tempfile::tempdir().unwrap();
    // Cost 4 keeps a debug build quick; the cache is what makes real costs
    // affordable.
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let web = write_web_config(
        dir.path(),
        &format!(
            "basic_auth_users:\n  prometheus: '{hash}'\nhttp_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n"
        ),
    );
    let (outrider, address) = start(
        dir.path(),
        "log: {level: debug}\n",
        &["--web.config.file", web.to_str().unwrap()],
        &[("OUTRIDER_RELOAD_TOKEN", TOKEN)],
    );
    let url = format!("http://{address}/metrics");
    let user = format!("prometheus:{PASSWORD}");
    common::wait_until(Duration::from_secs(10), "the first tick", || {
        curl(&["-u", &user, &url]).status == 200
    });
    let right = curl(&["-u", &user, &url]);
    assert_eq!(right.status, 200, "{}", right.output);
    assert!(right.output.contains("node_load1"));
    assert!(
        right
            .output
            .to_ascii_lowercase()
            .contains("x-content-type-options: nosniff")
    );

    let wrong = curl(&["-u", &format!("prometheus:{WRONG}"), &url]);
    assert_eq!(wrong.status, 401);
    assert!(
        wrong.output.contains("WWW-Authenticate: Basic")
            || wrong.output.contains("www-authenticate: Basic"),
        "{}",
        wrong.output
    );
    let unknown = curl(&["-u", &format!("nobody:{PASSWORD}"), &url]);
    assert_eq!(unknown.status, 401);
    let missing = curl(&[&url]);
    assert_eq!(missing.status, 401);
    assert_eq!(curl(&[&format!("http://{address}/-/healthy")]).status, 401);
    // Refusals carry the configured headers too.
    assert!(
        missing
            .output
            .to_ascii_lowercase()
            .contains("x-content-type-options: nosniff")
    );
    for refusal in [&wrong, &unknown, &missing] {
        assert!(!refusal.output.contains(PASSWORD) && !refusal.output.contains(WRONG));
    }

    // The answer for a user that does not exist takes as long as for a
    // wrong password of one that does: both run bcrypt once (then the
    // verdict is cached), so timing does not reveal users. The fastest of
    // several fresh guesses each, so a busy machine does not decide it.
    let fastest = |user: &str, prefix: &str| {
        (0..7)
            .map(|i| {
                let header = basic(user, &format!("{prefix}-{i}"));
                let start = Instant::now();
                let reply = common::get(&url, &[("Authorization", &header)]);
                assert_eq!(reply.status, 401);
                start.elapsed()
            })
            .min()
            .unwrap()
    };
    let known = fastest("prometheus", "known-guess");
    let unknown = fastest("ghost", "unknown-guess");
    let ratio = known.as_secs_f64() / unknown.as_secs_f64();
    assert!(
        (0.5..2.0).contains(&ratio),
        "known user {known:?}, unknown user {unknown:?}"
    );
    // The same guesses again hit the cache: no bcrypt, so faster.
    let cached = fastest("prometheus", "known-guess");
    assert!(cached < known, "cached {cached:?}, bcrypt {known:?}");

    // Reload is an admin endpoint: its bearer token, not basic auth.
    let reload = format!("http://{address}/-/reload");
    let wrong_token = common::request(
        "POST",
        &reload,
        &[("Authorization", "Bearer not-the-token-at-all")],
    );
    assert_eq!(wrong_token.status, 401);
    assert!(!wrong_token.text().contains(TOKEN));
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(
        common::request("POST", &reload, &[("Authorization", &bearer)]).status,
        200
    );

    let log = outrider.log_text();
    assert!(
        log.contains("basic auth refused"),
        "debug logging is on:\n{log}"
    );
    for secret in [PASSWORD, WRONG, TOKEN, hash.as_str()] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
}

#[test]
fn allowlists_by_source_address_per_class() {
    let dir = tempfile::tempdir().unwrap();
    let (_outrider, address) = start(
        dir.path(),
        "web:\n  allow:\n    read: [127.0.0.1/32]\n    write: [127.0.0.1]\n    admin: ['::1', 127.0.0.2]\n",
        &[],
        &[],
    );
    let metrics = format!("http://{address}/metrics");
    let from = |source: &str, extra: &[&str], url: &str| {
        let mut args = vec!["--interface", source];
        args.extend_from_slice(extra);
        args.push(url);
        curl(&args)
    };
    common::wait_until(Duration::from_secs(10), "the first tick", || {
        from("127.0.0.1", &[], &metrics).status == 200
    });
    assert_eq!(from("127.0.0.1", &[], &metrics).status, 200);
    let refused = from("127.0.0.2", &[], &metrics);
    assert_eq!(refused.status, 403, "{}", refused.output);
    // Write: refused before routing for 127.0.0.2; 127.0.0.1 gets through
    // the guards to routing, which has no push endpoint to offer yet.
    let push = format!("http://{address}/metrics/job/batch");
    let put = ["-X", "PUT", "--data-binary", "x 1\n"];
    assert_eq!(from("127.0.0.2", &put, &push).status, 403);
    let through = from("127.0.0.1", &put, &push).status;
    assert!(through == 404 || through == 405, "{through}");
    // Admin: not 127.0.0.1.
    let reload = format!("http://{address}/-/reload");
    assert_eq!(from("127.0.0.1", &["-X", "POST"], &reload).status, 403);
    // An address in no list at all is closed before any answer.
    let stranger = from("127.0.0.3", &[], &metrics);
    assert_eq!(stranger.status, 0, "{}", stranger.output);
    assert_ne!(stranger.exit, 0);
}

#[test]
fn rate_limits_answer_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let (_outrider, address) = start(
        dir.path(),
        "web:\n  limits:\n    write: {rate: 0.2, burst: 2}\n    read: {rate: 0.5, burst: 3}\n",
        &[],
        &[],
    );
    let push = format!("http://{address}/metrics/job/batch");
    let statuses: Vec<u16> = (0..3)
        .map(|_| curl(&["-X", "POST", "--data-binary", "x 1\n", &push]).status)
        .collect();
    assert_ne!(statuses[0], 429);
    assert_ne!(statuses[1], 429);
    let limited = curl(&["-X", "POST", "--data-binary", "x 1\n", &push]);
    assert_eq!(limited.status, 429, "{statuses:?} {}", limited.output);
    let retry_after: u64 = limited
        .output
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("retry-after: ")
                .map(|v| v.trim().to_owned())
        })
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=5).contains(&retry_after), "{retry_after}");
    // Classes have their own buckets: reads still go through, up to theirs.
    let healthy = format!("http://{address}/-/healthy");
    let reads: Vec<u16> = (0..4).map(|_| common::get(&healthy, &[]).status).collect();
    assert_eq!(reads, [200, 200, 200, 429]);
}

#[test]
fn bodies_over_the_limit_get_413() {
    let dir = tempfile::tempdir().unwrap();
    let (_outrider, address) = start(
        dir.path(),
        "web:\n  limits:\n    write: {max_body_bytes: 1000}\n",
        &[],
        &[],
    );
    let body = dir.path().join("body");
    std::fs::write(&body, vec![b'x'; 1001]).unwrap();
    let data = format!("@{}", body.display());
    let push = format!("http://{address}/metrics/job/batch");
    let big = curl(&["-X", "PUT", "--data-binary", &data, &push]);
    assert_eq!(big.status, 413, "{}", big.output);
    let small = curl(&["-X", "PUT", "--data-binary", "x 1\n", &push]);
    assert_ne!(small.status, 413);
    // The read class takes 64 KiB by default.
    std::fs::write(&body, vec![b'x'; 70_000]).unwrap();
    let read = curl(&["--data-binary", &data, &format!("http://{address}/metrics")]);
    assert_eq!(read.status, 413, "{}", read.output);
}

/// Reads until the server closes or `within` passes; returns what arrived
/// and when the stream ended.
fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (String, Option<Duration>) {
    let start = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    while start.elapsed() < within {
        match stream.read(&mut buffer) {
            Ok(0) => {
                return (
                    String::from_utf8_lossy(&received).into(),
                    Some(start.elapsed()),
                );
            }
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                return (
                    String::from_utf8_lossy(&received).into(),
                    Some(start.elapsed()),
                );
            }
        }
    }
    (String::from_utf8_lossy(&received).into(), None)
}

#[test]
fn slow_malformed_and_oversized_requests() {
    let dir = tempfile::tempdir().unwrap();
    let (_outrider, address) = start(
        dir.path(),
        "web:\n  limits: {header_read_timeout: 1s, max_header_bytes: 16384}\n",
        &[],
        &[],
    );
    let address: SocketAddr = address.parse().unwrap();
    let connect = || TcpStream::connect(address).unwrap();

    // Slow loris: headers trickle in a byte every 200 ms, which would take
    // 8 s; the connection is closed once the 1 s for headers is up.
    let mut slow = connect();
    slow.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
    let trickle_start = Instant::now();
    let mut closed = false;
    for byte in b"X-Slow: 0123456789012345678901234567890123456789".iter() {
        // The pause is the behaviour under test: a client that does send,
        // but too slowly to finish its headers within the limit.
        std::thread::sleep(Duration::from_millis(200));
        if slow.write_all(&[*byte]).is_err() {
            closed = true;
            break;
        }
        let mut probe = [0u8; 1];
        slow.set_read_timeout(Some(Duration::from_millis(1)))
            .unwrap();
        if let Ok(0) = slow.read(&mut probe) {
            closed = true;
            break;
        }
    }
    let took = trickle_start.elapsed();
    assert!(
        closed,
        "a trickling client kept its connection for {took:?}"
    );
    assert!(took < Duration::from_secs(4), "{took:?}");

    // A client that sends nothing at all is closed too.
    let mut idle = connect();
    let (_, ended) = read_until_closed(&mut idle, Duration::from_secs(5));
    assert!(
        ended.is_some_and(|t| t < Duration::from_secs(4)),
        "{ended:?}"
    );

    // Malformed request lines get 400, not a panic or a hang.
    for garbage in [
        &b"THIS IS NOT HTTP\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header Without Colon\r\n\r\n",
        b"\x00\x01\x02\x03\xff\xfe\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
    ] {
        let mut stream = connect();
        stream.write_all(garbage).unwrap();
        let (answer, ended) = read_until_closed(&mut stream, Duration::from_secs(5));
        assert!(ended.is_some(), "{garbage:?} left the connection open");
        let status = status_of(&answer);
        assert!(
            status == 400 || status == 505 || answer.is_empty(),
            "{garbage:?}: {answer}"
        );
    }

    // A huge header line gets 431.
    let mut stream = connect();
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Huge: {}\r\n\r\n",
        "a".repeat(100_000)
    );
    let _ = stream.write_all(huge.as_bytes());
    let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(5));
    assert_eq!(status_of(&answer), 431, "{answer:.200}");
    // curl agrees.
    let header = format!("X-Huge: {}", "b".repeat(20_000));
    let big = curl(&["-H", &header, &format!("http://{address}/metrics")]);
    assert_eq!(
        big.status,
        431,
        "{}",
        &big.output[..big.output.len().min(300)]
    );

    // After all that, it still serves.
    assert_eq!(
        common::get(&format!("http://{address}/-/healthy"), &[]).status,
        200
    );
}

#[test]
fn idle_connections_give_way_and_busy_ones_make_newcomers_wait() {
    const TOKEN: &str = "a-push-token-for-slow-uploads";
    let dir = tempfile::tempdir().unwrap();
    let (_outrider, address) = start(
        dir.path(),
        "web:\n  limits: {max_connections: 2, header_read_timeout: 30s}\n",
        &[],
        &[("OUTRIDER_PUSH_TOKEN", TOKEN)],
    );
    let healthy = b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    // Two connections that send nothing hold both slots; a third client
    // takes the place of the one idle longest, which is closed.
    let mut first = TcpStream::connect(&address).unwrap();
    let second = TcpStream::connect(&address).unwrap();
    let mut third = TcpStream::connect(&address).unwrap();
    third.write_all(healthy).unwrap();
    let (answer, _) = read_until_closed(&mut third, Duration::from_secs(5));
    assert_eq!(status_of(&answer), 200, "{answer}");
    let (_, ended) = read_until_closed(&mut first, Duration::from_secs(5));
    assert!(ended.is_some(), "the longest idle connection was kept");
    drop(second);

    // Two uploads the server is reading (it asked for their bodies with
    // 100 Continue) are busy: a newcomer waits until one ends.
    let upload = |n: usize| {
        let mut stream = TcpStream::connect(&address).unwrap();
        let head = format!(
            "PUT /metrics/job/slow{n} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).unwrap();
        let mut continued = String::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        while !continued.contains("100 Continue") && Instant::now() < deadline {
            let mut buffer = [0u8; 256];
            if let Ok(n) = stream.read(&mut buffer) {
                continued.push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        }
        assert!(continued.contains("100 Continue"), "{continued:?}");
        stream
    };
    let busy = upload(1);
    let _also_busy = upload(2);
    let mut newcomer = TcpStream::connect(&address).unwrap();
    newcomer.write_all(healthy).unwrap();
    let (answer, _) = read_until_closed(&mut newcomer, Duration::from_millis(700));
    assert!(answer.is_empty(), "served past max_connections: {answer}");
    drop(busy);
    let (answer, _) = read_until_closed(&mut newcomer, Duration::from_secs(5));
    assert_eq!(status_of(&answer), 200, "{answer}");
}

#[test]
fn bad_web_configs_stop_the_start_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let run = |web: &str| {
        let file = write_web_config(dir.path(), web);
        let output = Command::new(common::outrider_binary())
            .args(["--web.listen-address", "127.0.0.1:0", "--web.config.file"])
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        String::from_utf8_lossy(&output.stderr).to_string()
    };
    let error = run("tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n");
    assert!(
        error.contains("cert_file") && error.contains("missing.crt"),
        "{error}"
    );
    let error = run("tls_server_confg: {}\n");
    assert!(
        error.contains("unknown field `tls_server_confg`"),
        "{error}"
    );
    let error = run("basic_auth_users:\n  alice: plain-text-password\n");
    assert!(
        error.contains("alice") && error.contains("bcrypt"),
        "{error}"
    );
    assert!(!error.contains("plain-text-password"), "{error}");
    let pki = test_pki(&dir.path().join("pki"));
    let error = run(&format!(
        "tls_server_config:\n  cert_file: pki/server.crt\n  key_file: pki/server.key\n  client_ca_file: {}\n",
        pki.path("good-ca.crt").display()
    ));
    assert!(error.contains("client_auth_type"), "{error}");
    let error = run(
        "tls_server_config:\n  cert_file: pki/server.crt\n  key_file: pki/server.key\n  min_version: TLS11\n",
    );
    assert!(error.contains("TLS12 or TLS13"), "{error}");
    // A key file that is unreadable, not missing.
    std::fs::write(dir.path().join("pki/garbage.key"), "not a key").unwrap();
    let error =
        run("tls_server_config:\n  cert_file: pki/server.crt\n  key_file: pki/garbage.key\n");
    assert!(error.contains("key_file"), "{error}");
    assert!(!error.contains("not a key"), "{error}");
}

/// The example's commented `tls_server_config:` block, uncommented, as a
/// user turns TLS on.
fn with_tls_uncommented(example: &str) -> String {
    let mut out = String::new();
    let mut in_block = false;
    for line in example.lines() {
        if line == "# tls_server_config:" {
            in_block = true;
        } else if !line.starts_with("#   ") {
            in_block = false;
        }
        out.push_str(if in_block { &line[2..] } else { line });
        out.push('\n');
    }
    assert!(out.contains("\ntls_server_config:\n"), "{out}");
    out
}

/// The example web configs in config/ are valid for promtool and work in
/// outrider as documented once TLS is turned on; the certificates they name
/// are made here. (`tests/cli.rs` checks them as shipped.)
#[test]
fn example_web_configs_pass_promtool_and_serve() {
    let promtool = common::require("promtool");
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config");
    for name in ["web-config.yml", "web-config-mtls.yml"] {
        let dir = tempfile::tempdir().unwrap();
        let pki = test_pki(&dir.path().join("pki"));
        let copy = dir.path().join(name);
        let example = std::fs::read_to_string(examples.join(name)).unwrap();
        std::fs::write(&copy, with_tls_uncommented(&example)).unwrap();
        let output = Command::new(&promtool)
            .args(["check", "web-config"])
            .arg(&copy)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "promtool check web-config {name}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let check = Command::new(common::outrider_binary())
            .arg("check")
            .arg(&copy)
            .output()
            .unwrap();
        assert!(check.status.success(), "outrider check {name}: {check:?}");
        assert!(String::from_utf8_lossy(&check.stdout).contains("web config is valid"));
        let (mut outrider, address) = start(
            dir.path(),
            "",
            &["--web.config.file", copy.to_str().unwrap()],
            &[],
        );
        let ca = pki.path("good-ca.crt");
        if name == "web-config.yml" {
            let url = format!("https://{address}/-/healthy");
            let ca = ca.to_str().unwrap();
            let answer = curl(&["--cacert", ca, "-u", "prometheus:change-me", &url]);
            assert_eq!(answer.status, 200, "{}", answer.output);
            assert!(answer.output.contains("strict-transport-security"));
            assert_eq!(curl(&["--cacert", ca, &url]).status, 401);
        } else {
            let client = (pki.path("client.crt"), pki.path("client.key"));
            let answer = tls_get(&address, &ca, with(&client), "/-/healthy").unwrap();
            assert_eq!(status_of(&answer), 200, "{answer}");
            assert!(tls_get(&address, &ca, None, "/-/healthy").is_err());
        }
        let status = outrider.signal_and_wait("TERM", Duration::from_secs(10));
        assert!(status.success(), "{name}: {}", outrider.log_text());
    }
}
