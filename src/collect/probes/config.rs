//! A probe's options (`probes:` items) and their checks: `Probe::new`
//! turns one into a target ready to run, or says what is wrong with it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::header::{HOST, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use hyper::{Method, Uri};
use regex::Regex;
use serde::Deserialize;

use super::COLLECTOR;
use super::{http::*, outcome::*, tcp::*, tls::*};
use crate::collect::BuildError;

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

pub(super) fn default_interval() -> Duration {
    Duration::from_secs(15)
}

pub(super) fn default_timeout() -> Duration {
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

pub(super) fn default_method() -> String {
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

#[derive(Debug)]
pub(super) struct HttpTarget {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) tls: Option<TlsTarget>,
    pub(super) method: Method,
    pub(super) path: Uri,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
    pub(super) valid_status_codes: Vec<u16>,
}

#[derive(Debug)]
pub(super) enum Step {
    Send(Bytes),
    Expect(Regex),
}

#[derive(Debug)]
pub(super) struct TcpTarget {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) tls: Option<TlsTarget>,
    pub(super) steps: Vec<Step>,
}

#[derive(Debug)]
pub(super) enum Target {
    Http(Box<HttpTarget>),
    Tcp(TcpTarget),
}

/// One probe, checked and ready to run.
#[derive(Debug)]
pub struct Probe {
    pub(super) name: String,
    pub(super) interval: Duration,
    pub(super) timeout: Duration,
    pub(super) target: Target,
}

impl Probe {
    /// Checks one config item; `index` places it in the list for errors.
    pub fn new(config: &ProbeConfig, index: usize) -> Result<Probe, BuildError> {
        Self::with_roots(config, index, &mut HostRoots::default())
    }

    pub(super) fn with_roots(
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

pub(super) fn http_target(
    config: &HttpProbeConfig,
    roots: &mut HostRoots,
) -> Result<HttpTarget, String> {
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

pub(super) fn tcp_target(
    config: &TcpProbeConfig,
    roots: &mut HostRoots,
) -> Result<TcpTarget, String> {
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
