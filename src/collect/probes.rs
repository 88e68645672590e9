//! Probes of the services the app depends on, exported under
//! blackbox_exporter's names: `probe_success`, `probe_duration_seconds`,
//! `probe_dns_lookup_time_seconds`, and for HTTP probes
//! `probe_http_status_code`, `probe_http_duration_seconds{phase}`,
//! `probe_http_content_length`, `probe_http_version` and `probe_http_ssl`;
//! for TCP probes `probe_failed_due_to_regex`; for probes over TLS
//! `probe_tls_version_info{version}` and `probe_ssl_earliest_cert_expiry`. Every series carries the probe's name
//! as `probe`, where blackbox users get a target label from relabelling.
//!
//! Beyond blackbox, `outrider_probe_failure_info{probe,reason}` says why a
//! probe fails, which blackbox only logs: `timeout`, `refused`, `status`,
//! `expect`, `tls`, `dns` or `error` (anything else: a reset connection, a
//! malformed reply). It is 1 while the probe fails and absent while it
//! succeeds.
//!
//! Probes never run on the tick. Each probe has its own task on the tokio
//! runtime that runs it every `interval`, bounded by `timeout`, and keeps the
//! outcome of the last run; `collect()` only reads those, so a slow peer
//! never delays a tick. The tasks start on the first tick rather than when
//! the collector is built: `outrider check` and config validation build
//! collectors too, and must not send anything to the peers. As in blackbox,
//! there is no result before a probe's first run ends, so until then the
//! probe exports nothing.
//!
//! TLS is rustls with ring. Certificates are checked against the host's CA
//! certificates, or a `ca_file`; the certificates are read when the config
//! is, so a missing file is a config error, not a failing probe.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_LENGTH, HOST, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use hyper::{Method, Request, Uri, Version};
use hyper_util::rt::TokioIo;
use regex::Regex;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ProtocolVersion, RootCertStore};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsConnector;
use tracing::{debug, info, warn};

use super::{BuildError, CollectError, Collector};
use crate::metric::{Family, Sample};

const COLLECTOR: &str = "probes";

/// The longest line a TCP `expect` step reads before matching what it has
/// (blackbox's line scanner stops at 64 KiB too).
const MAX_LINE: u64 = 64 * 1024;

/// One item of the `probes:` list.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// The probe's name, unique in the list; exported as the label `probe`.
    pub name: String,
    /// How often the probe runs (humantime).
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// How long one run may take before it fails with reason `timeout`
    /// (humantime); at most `interval`, so runs never overlap.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// An HTTP request; set this or `tcp`, not both.
    #[serde(default)]
    pub http: Option<HttpProbeConfig>,
    /// A TCP connection with optional send and expect steps; set this or
    /// `http`, not both.
    #[serde(default)]
    pub tcp: Option<TcpProbeConfig>,
}

fn default_interval() -> Duration {
    Duration::from_secs(15)
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

/// What an HTTP probe sends and what counts as success.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpProbeConfig {
    /// The URL to request: `http://` or `https://host[:port]/path?query`.
    pub url: String,
    /// The request method.
    #[serde(default = "default_method")]
    pub method: String,
    /// Status codes that count as success; empty means any 2xx, as in
    /// blackbox. Redirects are not followed, so a 3xx fails unless listed.
    #[serde(default)]
    pub valid_status_codes: Vec<u16>,
    /// Request headers; `Host` and `User-Agent` given here replace the
    /// defaults (the URL's authority, `outrider/<version>`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The request body.
    #[serde(default)]
    pub body: Option<String>,
    /// TLS options of an `https://` URL.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

fn default_method() -> String {
    "GET".to_owned()
}

/// Where a TCP probe connects and what it says there.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TcpProbeConfig {
    /// `host:port` (`[::1]:6379` for an IPv6 address).
    pub address: String,
    /// Run in order once connected; without steps, connecting is success.
    #[serde(default)]
    pub steps: Vec<TcpStep>,
    /// Speaks TLS once connected (`tls: {}` for the defaults); plain TCP
    /// when unset.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

/// How a probe checks the peer's certificate, as blackbox's `tls_config`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// A PEM file of the CA certificates to trust instead of the host's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The name the certificate must be valid for, also sent as SNI;
    /// default: the host of the URL or address.
    #[serde(default)]
    pub server_name: Option<String>,
}

/// One step of a TCP probe: `{send: ...}` or `{expect: ...}`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TcpStep {
    /// Sends these bytes (`"PING\r\n"`; YAML's double quotes read escapes).
    #[serde(default)]
    pub send: Option<String>,
    /// Reads lines (without their `\r\n`) until one matches this regex. A
    /// peer that closes first, or answers only lines that do not match until
    /// the timeout, fails the probe with reason `expect`.
    #[serde(default)]
    pub expect: Option<String>,
}

/// Why a probe's run failed: the `reason` label of
/// `outrider_probe_failure_info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// No result within the probe's `timeout`.
    Timeout,
    /// The connection was refused: nothing listens there.
    Refused,
    /// An HTTP status outside `valid_status_codes`.
    Status,
    /// A TCP `expect` step did not match.
    Expect,
    /// The TLS handshake failed: an untrusted or mismatched certificate, or
    /// a peer that does not speak TLS.
    Tls,
    /// The host name did not resolve.
    Dns,
    /// Anything else: a reset connection, a malformed reply.
    Error,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Timeout => "timeout",
            Reason::Refused => "refused",
            Reason::Status => "status",
            Reason::Expect => "expect",
            Reason::Tls => "tls",
            Reason::Dns => "dns",
            Reason::Error => "error",
        }
    }

    /// The reason of a failed connect, read or write.
    pub fn of_io(error: &std::io::Error) -> Reason {
        match error.kind() {
            std::io::ErrorKind::ConnectionRefused => Reason::Refused,
            std::io::ErrorKind::TimedOut => Reason::Timeout,
            _ => Reason::Error,
        }
    }
}

/// A failed run: its reason and what happened, for the log.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    pub reason: Reason,
    pub detail: String,
}

impl Failure {
    fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Failure {
            reason,
            detail: detail.into(),
        }
    }

    fn io(what: &str, error: &std::io::Error) -> Self {
        Failure::new(Reason::of_io(error), format!("{what}: {error}"))
    }
}

/// What an HTTP run measured; zeros where it did not get that far, as
/// blackbox reports them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HttpFigures {
    /// 0 without a response.
    pub status_code: f64,
    /// 1.1 for HTTP/1.1; 0 without a response.
    pub version: f64,
    /// The `Content-Length` header; -1 when the response has none (as Go
    /// reports it, and so blackbox).
    pub content_length: f64,
    /// Seconds per phase, in `PHASES` order.
    pub phases: [f64; 5],
    /// Whether the request went over TLS.
    pub ssl: bool,
}

/// blackbox's phases of an HTTP probe; `tls` stays 0 without TLS.
/// `processing` runs from the connection (or the TLS handshake) to the
/// response headers, `transfer` from there to the end of the body.
pub const PHASES: [&str; 5] = ["resolve", "connect", "tls", "processing", "transfer"];
const RESOLVE: usize = 0;
const CONNECT: usize = 1;
const TLS: usize = 2;
const PROCESSING: usize = 3;
const TRANSFER: usize = 4;

/// The result of one run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Seconds the whole run took.
    pub duration: f64,
    /// Seconds the name lookup took (0 for an IP address).
    pub dns_lookup: f64,
    /// `None` when the run succeeded.
    pub failure: Option<Failure>,
    /// For HTTP probes.
    pub http: Option<HttpFigures>,
    /// For TCP probes: whether an `expect` step failed.
    pub failed_due_to_regex: Option<bool>,
    /// The TLS version agreed on (`TLS 1.3`), when the probe speaks TLS and
    /// got that far.
    pub tls_version: Option<&'static str>,
    /// When the first of the certificates the peer showed expires (unix
    /// seconds), once a TLS handshake succeeded.
    pub earliest_cert_expiry: Option<f64>,
}

/// What a run has learnt so far; a run cut short by its timeout keeps it.
#[derive(Default)]
struct Progress {
    dns_lookup: f64,
    tls_version: Option<&'static str>,
    earliest_cert_expiry: Option<f64>,
    /// The last line an `expect` step read did not match.
    expect_mismatch: bool,
}

struct TlsTarget {
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

impl std::fmt::Debug for TlsTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTarget")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct HttpTarget {
    host: String,
    port: u16,
    tls: Option<TlsTarget>,
    method: Method,
    path: Uri,
    headers: HeaderMap,
    body: Bytes,
    valid_status_codes: Vec<u16>,
}

#[derive(Debug)]
enum Step {
    Send(Bytes),
    Expect(Regex),
}

#[derive(Debug)]
struct TcpTarget {
    host: String,
    port: u16,
    tls: Option<TlsTarget>,
    steps: Vec<Step>,
}

#[derive(Debug)]
enum Target {
    Http(Box<HttpTarget>),
    Tcp(TcpTarget),
}

/// One probe, checked and ready to run.
#[derive(Debug)]
pub struct Probe {
    name: String,
    interval: Duration,
    timeout: Duration,
    target: Target,
}

impl Probe {
    /// Checks one config item; `index` places it in the list for errors.
    pub fn new(config: &ProbeConfig, index: usize) -> Result<Probe, BuildError> {
        Self::with_roots(config, index, &mut HostRoots::default())
    }

    fn with_roots(
        config: &ProbeConfig,
        index: usize,
        roots: &mut HostRoots,
    ) -> Result<Probe, BuildError> {
        let refuse = |reason: String| BuildError {
            collector: COLLECTOR,
            reason: if config.name.is_empty() {
                format!("probes[{index}]: {reason}")
            } else {
                format!("probes[{index}] {:?}: {reason}", config.name)
            },
        };
        if config.name.is_empty() {
            return Err(refuse("name must be set".into()));
        }
        if config.interval.is_zero() || config.timeout.is_zero() {
            return Err(refuse(
                "interval and timeout must be more than 0s (for example 15s and 5s)".into(),
            ));
        }
        if config.timeout > config.interval {
            return Err(refuse(format!(
                "timeout {} is longer than interval {}; runs must not overlap",
                humantime::format_duration(config.timeout),
                humantime::format_duration(config.interval)
            )));
        }
        let target = match (&config.http, &config.tcp) {
            (Some(http), None) => Target::Http(Box::new(http_target(http, roots).map_err(refuse)?)),
            (None, Some(tcp)) => Target::Tcp(tcp_target(tcp, roots).map_err(refuse)?),
            _ => return Err(refuse("set exactly one of http and tcp".into())),
        };
        Ok(Probe {
            name: config.name.clone(),
            interval: config.interval,
            timeout: config.timeout,
            target,
        })
    }

    /// Runs the probe once, bounded by its timeout.
    pub async fn run(&self) -> Outcome {
        let started = Instant::now();
        let mut outcome = Outcome::default();
        let mut progress = Progress::default();
        let attempt = match &self.target {
            Target::Http(target) => {
                let mut figures = HttpFigures {
                    ssl: target.tls.is_some(),
                    ..HttpFigures::default()
                };
                let attempt = tokio::time::timeout(
                    self.timeout,
                    probe_http(target, &mut figures, &mut progress),
                )
                .await;
                outcome.http = Some(figures);
                attempt
            }
            Target::Tcp(target) => {
                tokio::time::timeout(self.timeout, probe_tcp(target, &mut progress)).await
            }
        };
        outcome.dns_lookup = progress.dns_lookup;
        outcome.tls_version = progress.tls_version;
        outcome.earliest_cert_expiry = progress.earliest_cert_expiry;
        outcome.failure = match attempt {
            Ok(Ok(())) => None,
            Ok(Err(failure)) => Some(failure),
            // Lines came but none matched: the peer answered, wrongly.
            Err(_) if progress.expect_mismatch => Some(Failure::new(
                Reason::Expect,
                format!(
                    "no line matched within {}",
                    humantime::format_duration(self.timeout)
                ),
            )),
            Err(_) => Some(Failure::new(
                Reason::Timeout,
                format!(
                    "no result within {}",
                    humantime::format_duration(self.timeout)
                ),
            )),
        };
        if let Target::Tcp(_) = self.target {
            outcome.failed_due_to_regex = Some(
                outcome
                    .failure
                    .as_ref()
                    .is_some_and(|f| f.reason == Reason::Expect),
            );
        }
        outcome.duration = started.elapsed().as_secs_f64();
        outcome
    }
}

fn http_target(config: &HttpProbeConfig, roots: &mut HostRoots) -> Result<HttpTarget, String> {
    let url = &config.url;
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("http.url {url:?} is not a URL: {e}"))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => {
            return Err(format!(
                "http.url {url:?} must start with http:// or https://"
            ));
        }
    };
    if !https && config.tls.is_some() {
        return Err(format!(
            "http.tls is for https:// URLs, and {url:?} is not one"
        ));
    }
    let authority = uri
        .authority()
        .ok_or_else(|| format!("http.url {url:?} has no host"))?;
    // Credentials in the URL would be sent in the Host header, in clear.
    if authority.as_str().contains('@') {
        // The URL is left out of the message: it holds a secret.
        return Err(
            "http.url carries credentials (user:password@); send them in http.headers (Authorization) instead"
                .to_owned(),
        );
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    if host.is_empty() {
        return Err(format!("http.url {url:?} has no host"));
    }
    let method = Method::from_bytes(config.method.as_bytes())
        .map_err(|_| format!("http.method {:?} is not an HTTP method", config.method))?;
    let path: Uri = uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .parse()
        .map_err(|e| format!("http.url {url:?}: {e}"))?;
    let mut headers = HeaderMap::new();
    for (name, value) in &config.headers {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("http.headers: {name:?} is not a header name"))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("http.headers.{name}: {value:?} is not a header value"))?;
        headers.append(header, value);
    }
    if !headers.contains_key(HOST) {
        let value = HeaderValue::from_str(authority.as_str())
            .map_err(|_| format!("http.url {url:?}: the host is not a header value"))?;
        headers.insert(HOST, value);
    }
    if !headers.contains_key(USER_AGENT) {
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("outrider/", env!("CARGO_PKG_VERSION"))),
        );
    }
    if let Some(code) = config
        .valid_status_codes
        .iter()
        .find(|c| !(100..=599).contains(*c))
    {
        return Err(format!(
            "http.valid_status_codes: {code} is not an HTTP status code"
        ));
    }
    let tls = if https {
        let options = config.tls.clone().unwrap_or_default();
        Some(tls_target(&options, &host, roots).map_err(|e| format!("http.{e}"))?)
    } else {
        None
    };
    Ok(HttpTarget {
        host,
        port: authority.port_u16().unwrap_or(if https { 443 } else { 80 }),
        tls,
        method,
        path,
        headers,
        body: Bytes::from(config.body.clone().unwrap_or_default()),
        valid_status_codes: config.valid_status_codes.clone(),
    })
}

fn tcp_target(config: &TcpProbeConfig, roots: &mut HostRoots) -> Result<TcpTarget, String> {
    let address = &config.address;
    let (host, port) = split_host_port(address)
        .ok_or_else(|| format!("tcp.address {address:?} is not host:port"))?;
    let mut steps = Vec::with_capacity(config.steps.len());
    for (i, step) in config.steps.iter().enumerate() {
        steps.push(match (&step.send, &step.expect) {
            (Some(text), None) => Step::Send(Bytes::from(text.clone())),
            (None, Some(pattern)) => {
                Step::Expect(Regex::new(pattern).map_err(|e| {
                    format!("tcp.steps[{i}].expect: invalid regex {pattern:?}: {e}")
                })?)
            }
            _ => {
                return Err(format!(
                    "tcp.steps[{i}]: set exactly one of send and expect"
                ));
            }
        });
    }
    let tls = match &config.tls {
        Some(options) => Some(tls_target(options, &host, roots).map_err(|e| format!("tcp.{e}"))?),
        None => None,
    };
    Ok(TcpTarget {
        host,
        port,
        tls,
        steps,
    })
}

/// The host's CA certificates, read once for all the probes that use them.
#[derive(Default)]
struct HostRoots(Option<Arc<RootCertStore>>);

impl HostRoots {
    fn get(&mut self) -> Result<Arc<RootCertStore>, String> {
        if let Some(roots) = &self.0 {
            return Ok(Arc::clone(roots));
        }
        let loaded = rustls_native_certs::load_native_certs();
        let mut store = RootCertStore::empty();
        let (added, _) = store.add_parsable_certificates(loaded.certs);
        if added == 0 {
            let why = loaded
                .errors
                .first()
                .map_or(String::new(), |e| format!(" ({e})"));
            return Err(format!(
                "tls: no CA certificates found on this host{why}; install them (Debian: ca-certificates) or set tls.ca_file"
            ));
        }
        let store = Arc::new(store);
        self.0 = Some(Arc::clone(&store));
        Ok(store)
    }
}

/// A TLS client for one probe; errors start with `tls` for the caller to
/// place.
fn tls_target(config: &TlsConfig, host: &str, roots: &mut HostRoots) -> Result<TlsTarget, String> {
    let roots = match &config.ca_file {
        Some(path) => {
            let shown = path.display();
            let mut store = RootCertStore::empty();
            let certificates = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("tls.ca_file {shown}: {e}"))?;
            for certificate in certificates {
                let certificate = certificate.map_err(|e| format!("tls.ca_file {shown}: {e}"))?;
                store
                    .add(certificate)
                    .map_err(|e| format!("tls.ca_file {shown}: {e}"))?;
            }
            if store.is_empty() {
                return Err(format!("tls.ca_file {shown}: no PEM certificate in it"));
            }
            Arc::new(store)
        }
        None => roots.get()?,
    };
    let client =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("tls: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    let name = config.server_name.as_deref().unwrap_or(host);
    let server_name = ServerName::try_from(name.to_owned())
        .map_err(|_| format!("tls.server_name {name:?} is not a host name or IP address"))?;
    Ok(TlsTarget {
        connector: TlsConnector::from(Arc::new(client)),
        server_name,
    })
}

/// `host:port` or `[v6]:port`.
fn split_host_port(address: &str) -> Option<(String, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.strip_suffix(']')?,
        None if host.contains(':') => return None,
        None => host,
    };
    if host.is_empty() {
        return None;
    }
    Some((host.to_owned(), port.parse().ok()?))
}

async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, Failure> {
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| Failure::new(Reason::Dns, format!("resolving {host}: {e}")))?
        .collect();
    if addresses.is_empty() {
        return Err(Failure::new(
            Reason::Dns,
            format!("resolving {host}: no addresses"),
        ));
    }
    Ok(addresses)
}

/// Connects to the first address that accepts; the last refusal otherwise.
async fn connect(addresses: &[SocketAddr]) -> Result<TcpStream, Failure> {
    let mut last = None;
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(Failure::io(&format!("connecting to {address}"), &e)),
        }
    }
    Err(last.expect("resolve returns at least one address"))
}

/// Times the phases of a run: each lap is the time since the last.
struct Laps(Instant);

impl Laps {
    fn lap(&mut self) -> f64 {
        let now = Instant::now();
        let seconds = (now - self.0).as_secs_f64();
        self.0 = now;
        seconds
    }
}

async fn probe_http(
    target: &HttpTarget,
    figures: &mut HttpFigures,
    progress: &mut Progress,
) -> Result<(), Failure> {
    let mut laps = Laps(Instant::now());
    let addresses = resolve(&target.host, target.port).await?;
    figures.phases[RESOLVE] = laps.lap();
    progress.dns_lookup = figures.phases[RESOLVE];
    let stream = connect(&addresses).await?;
    figures.phases[CONNECT] = laps.lap();
    match &target.tls {
        None => exchange(stream, target, figures, &mut laps).await,
        Some(tls) => {
            let stream = tls_handshake(tls, stream, progress).await?;
            figures.phases[TLS] = laps.lap();
            exchange(stream, target, figures, &mut laps).await
        }
    }
}

/// One request and its response, over a connection made for it.
async fn exchange<S>(
    stream: S,
    target: &HttpTarget,
    figures: &mut HttpFigures,
    laps: &mut Laps,
) -> Result<(), Failure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let http_error = |e: hyper::Error| Failure::new(http_reason(&e), super::describe_error(&e));
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(http_error)?;
    let mut request = Request::builder()
        .method(target.method.clone())
        .uri(target.path.clone())
        .body(Full::new(target.body.clone()))
        .map_err(|e| Failure::new(Reason::Error, format!("building the request: {e}")))?;
    *request.headers_mut() = target.headers.clone();
    let exchange = async {
        let response = sender.send_request(request).await.map_err(http_error)?;
        figures.phases[PROCESSING] = laps.lap();
        figures.status_code = f64::from(response.status().as_u16());
        figures.version = match response.version() {
            Version::HTTP_09 => 0.9,
            Version::HTTP_10 => 1.0,
            Version::HTTP_11 => 1.1,
            Version::HTTP_2 => 2.0,
            Version::HTTP_3 => 3.0,
            _ => 0.0,
        };
        figures.content_length = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(-1.0, |n| n as f64);
        let status = response.status().as_u16();
        // Reads the body to the end but keeps none of it: only its timing
        // counts.
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            frame.map_err(http_error)?;
        }
        figures.phases[TRANSFER] = laps.lap();
        let valid = if target.valid_status_codes.is_empty() {
            (200..=299).contains(&status)
        } else {
            target.valid_status_codes.contains(&status)
        };
        if valid {
            Ok(())
        } else {
            Err(Failure::new(
                Reason::Status,
                format!("status {status} is not a valid status code"),
            ))
        }
    };
    // The connection is driven here rather than in a task of its own, so a
    // run that times out drops it, and a hung peer keeps no task alive.
    let mut connection = std::pin::pin!(connection);
    let mut exchange = std::pin::pin!(exchange);
    tokio::select! {
        result = &mut exchange => result,
        ended = &mut connection => match ended {
            Err(e) => Err(http_error(e)),
            Ok(()) => exchange.await,
        },
    }
}

async fn tls_handshake(
    tls: &TlsTarget,
    stream: TcpStream,
    progress: &mut Progress,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Failure> {
    let stream = tls
        .connector
        .connect(tls.server_name.clone(), stream)
        .await
        .map_err(|e| {
            Failure::new(
                Reason::Tls,
                format!("TLS handshake: {}", super::describe_error(&e)),
            )
        })?;
    let session = stream.get_ref().1;
    progress.tls_version = Some(match session.protocol_version() {
        Some(ProtocolVersion::TLSv1_2) => "TLS 1.2",
        Some(ProtocolVersion::TLSv1_3) => "TLS 1.3",
        _ => "unknown",
    });
    progress.earliest_cert_expiry = session
        .peer_certificates()
        .and_then(|chain| earliest_expiry(chain.iter().map(|c| c.as_ref())));
    Ok(stream)
}

/// The earliest `notAfter` of a certificate chain (unix seconds), as
/// blackbox's `probe_ssl_earliest_cert_expiry`; certificates that do not
/// parse are skipped (rustls has verified the chain already).
pub fn earliest_expiry<'a>(chain: impl IntoIterator<Item = &'a [u8]>) -> Option<f64> {
    chain
        .into_iter()
        .filter_map(|der| x509_parser::parse_x509_certificate(der).ok())
        .map(|(_, certificate)| certificate.validity().not_after.timestamp())
        .min()
        .map(|seconds| seconds as f64)
}

fn http_reason(error: &hyper::Error) -> Reason {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return Reason::of_io(io);
        }
        source = cause.source();
    }
    Reason::Error
}

async fn probe_tcp(target: &TcpTarget, progress: &mut Progress) -> Result<(), Failure> {
    let started = Instant::now();
    let addresses = resolve(&target.host, target.port).await?;
    progress.dns_lookup = started.elapsed().as_secs_f64();
    let stream = connect(&addresses).await?;
    match &target.tls {
        None => run_steps(stream, &target.steps, progress).await,
        Some(tls) => {
            let stream = tls_handshake(tls, stream, progress).await?;
            run_steps(stream, &target.steps, progress).await
        }
    }
}

async fn run_steps<S>(stream: S, steps: &[Step], progress: &mut Progress) -> Result<(), Failure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (reader, mut writer) = tokio::io::split(stream);
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    for step in steps {
        match step {
            Step::Send(bytes) => writer
                .write_all(bytes)
                .await
                .map_err(|e| Failure::io("sending", &e))?,
            Step::Expect(regex) => loop {
                line.clear();
                let read = (&mut reader)
                    .take(MAX_LINE)
                    .read_until(b'\n', &mut line)
                    .await
                    .map_err(|e| Failure::io("reading", &e))?;
                if read == 0 {
                    return Err(Failure::new(
                        Reason::Expect,
                        format!("the peer closed the connection before a line matched {regex}"),
                    ));
                }
                let text = String::from_utf8_lossy(&line);
                if regex.is_match(text.trim_end_matches(['\r', '\n'])) {
                    progress.expect_mismatch = false;
                    break;
                }
                progress.expect_mismatch = true;
            },
        }
    }
    Ok(())
}

use crate::model::sync::lock;

struct Running {
    probe: Arc<Probe>,
    last: Arc<Mutex<Option<Outcome>>>,
}

/// The `probes:` list: one task per probe, started on the first tick.
pub struct ProbesCollector {
    probes: Vec<Running>,
    /// Dropping the collector closes it, and the probes' tasks end.
    stop: watch::Sender<()>,
    started: bool,
}

impl ProbesCollector {
    /// Checks every probe: unique names, exactly one of http and tcp,
    /// parsable URLs and addresses, valid regexes, timeouts within
    /// intervals.
    pub fn new(configs: &[ProbeConfig]) -> Result<Self, BuildError> {
        let mut names = HashSet::new();
        let mut roots = HostRoots::default();
        let mut probes = Vec::with_capacity(configs.len());
        for (index, config) in configs.iter().enumerate() {
            if !names.insert(config.name.as_str()) {
                return Err(BuildError {
                    collector: COLLECTOR,
                    reason: format!(
                        "probes[{index}]: the name {:?} is already taken; names must be unique",
                        config.name
                    ),
                });
            }
            probes.push(Running {
                probe: Arc::new(Probe::with_roots(config, index, &mut roots)?),
                last: Arc::default(),
            });
        }
        let (stop, _) = watch::channel(());
        Ok(ProbesCollector {
            probes,
            stop,
            started: false,
        })
    }
}

impl Collector for ProbesCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        if !self.started {
            let runtime =
                tokio::runtime::Handle::try_current().map_err(|_| CollectError::Peer {
                    peer: "probes".to_owned(),
                    reason: "no tokio runtime to run the probes on".to_owned(),
                })?;
            for running in &self.probes {
                runtime.spawn(run_probe(
                    Arc::clone(&running.probe),
                    Arc::clone(&running.last),
                    self.stop.subscribe(),
                ));
            }
            self.started = true;
        }
        let outcomes: Vec<(&str, Option<Outcome>)> = self
            .probes
            .iter()
            .map(|r| (r.probe.name.as_str(), lock(&r.last).clone()))
            .collect();
        out.extend(families(
            outcomes
                .iter()
                .filter_map(|(name, outcome)| Some((*name, outcome.as_ref()?))),
        ));
        Ok(())
    }
}

/// A probe's task: runs it every interval, keeps the outcome, and logs when
/// it starts failing (or fails for another reason) and when it recovers.
async fn run_probe(
    probe: Arc<Probe>,
    last: Arc<Mutex<Option<Outcome>>>,
    mut stop: watch::Receiver<()>,
) {
    let mut ticker = tokio::time::interval(probe.interval);
    // A run is bounded by the interval, so the ticker only falls behind when
    // the runtime does; runs then keep their spacing instead of bunching.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing: Option<Reason> = None;
    loop {
        let outcome = tokio::select! {
            _ = stop.changed() => return,
            _ = ticker.tick() => tokio::select! {
                _ = stop.changed() => return,
                outcome = probe.run() => outcome,
            },
        };
        match (&outcome.failure, failing) {
            (Some(failure), previous) if previous != Some(failure.reason) => {
                warn!(collector = COLLECTOR, probe = %probe.name, reason = failure.reason.as_str(), error = %failure.detail, "probe failed");
            }
            (Some(failure), _) => {
                debug!(collector = COLLECTOR, probe = %probe.name, reason = failure.reason.as_str(), error = %failure.detail, "probe still failing");
            }
            (None, Some(_)) => info!(collector = COLLECTOR, probe = %probe.name, "probe recovered"),
            (None, None) => {}
        }
        failing = outcome.failure.as_ref().map(|f| f.reason);
        *lock(&last) = Some(outcome);
    }
}

/// The families of the probes' last outcomes, in the order given. Families
/// no probe has a value for are left out.
pub fn families<'a>(outcomes: impl IntoIterator<Item = (&'a str, &'a Outcome)>) -> Vec<Family> {
    let mut success = Family::gauge(
        "probe_success",
        "Displays whether or not the probe was a success",
    );
    let mut duration = Family::gauge(
        "probe_duration_seconds",
        "Returns how long the probe took to complete in seconds",
    );
    let mut dns_lookup = Family::gauge(
        "probe_dns_lookup_time_seconds",
        "Returns the time taken for probe dns lookup in seconds",
    );
    let mut status_code = Family::gauge("probe_http_status_code", "Response HTTP status code");
    let mut phases = Family::gauge(
        "probe_http_duration_seconds",
        "Duration of http request by phase, summed over all redirects",
    );
    let mut content_length = Family::gauge(
        "probe_http_content_length",
        "Length of http content response",
    );
    let mut version = Family::gauge(
        "probe_http_version",
        "Returns the version of HTTP of the probe response",
    );
    let mut ssl = Family::gauge(
        "probe_http_ssl",
        "Indicates if SSL was used for the final redirect",
    );
    let mut regex = Family::gauge(
        "probe_failed_due_to_regex",
        "Indicates if probe failed due to regex",
    );
    let mut tls_version = Family::gauge("probe_tls_version_info", "Contains the TLS version used");
    let mut cert_expiry = Family::gauge(
        "probe_ssl_earliest_cert_expiry",
        "Returns earliest SSL cert expiry in unixtime",
    );
    let mut failure_info = Family::gauge(
        "outrider_probe_failure_info",
        "Why the probe's last run failed (timeout, refused, status, expect, tls, dns or error); absent while it succeeds.",
    );
    for (name, outcome) in outcomes {
        let labels: Arc<crate::metric::Labels> = Arc::new(vec![("probe".into(), name.to_owned())]);
        let put = |family: &mut Family, value: f64| {
            family.samples.push(Sample {
                labels: Arc::clone(&labels),
                value,
            });
        };
        put(
            &mut success,
            if outcome.failure.is_none() { 1.0 } else { 0.0 },
        );
        put(&mut duration, outcome.duration);
        put(&mut dns_lookup, outcome.dns_lookup);
        if let Some(http) = &outcome.http {
            put(&mut status_code, http.status_code);
            put(&mut content_length, http.content_length);
            put(&mut version, http.version);
            put(&mut ssl, if http.ssl { 1.0 } else { 0.0 });
            for (phase, seconds) in PHASES.iter().zip(http.phases) {
                phases.push([("probe", name), ("phase", phase)], seconds);
            }
        }
        if let Some(failed) = outcome.failed_due_to_regex {
            put(&mut regex, if failed { 1.0 } else { 0.0 });
        }
        if let Some(expiry) = outcome.earliest_cert_expiry {
            put(&mut cert_expiry, expiry);
        }
        if let Some(version) = outcome.tls_version {
            tls_version.push([("probe", name), ("version", version)], 1.0);
        }
        if let Some(failure) = &outcome.failure {
            failure_info.push([("probe", name), ("reason", failure.reason.as_str())], 1.0);
        }
    }
    [
        success,
        duration,
        dns_lookup,
        status_code,
        phases,
        content_length,
        version,
        ssl,
        regex,
        tls_version,
        cert_expiry,
        failure_info,
    ]
    .into_iter()
    .filter(|f| !f.samples.is_empty())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
