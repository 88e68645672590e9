//! Where alerts go: the entries of `alerting.alertmanagers`, each a base URL
//! (`http://am:9093`) or, as in Prometheus's `alerting.alertmanagers`, an
//! `alertmanager_config` with its targets, scheme, path prefix, timeout, TLS
//! and credentials; and one POST to one of them.
//!
//! Of Prometheus's `alertmanager_config` this takes `static_configs`
//! (targets), `scheme`, `path_prefix`, `timeout`, `tls_config` (`ca_file`,
//! `cert_file`, `key_file`, `server_name`, `insecure_skip_verify`),
//! `authorization` (`type`, `credentials`, `credentials_file`) and
//! `basic_auth` (`username`, `password`, `password_file`); service discovery
//! and relabelling are not taken: a sidecar knows its Alertmanagers by name.
//! Files of credentials are read on every POST, as Prometheus reads them, so
//! a rotated Secret applies without a restart.
//!
//! Each POST opens its own connection: alerts are a few a minute at most,
//! and a fresh connection never meets one the Alertmanager has closed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue, USER_AGENT};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::{Deserialize, Deserializer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::model::error::describe_error;

/// The API path under an Alertmanager's base URL.
const ALERTS_PATH: &str = "/api/v2/alerts";
/// How much of an error reply goes into the log.
const MAX_ERROR_BODY: usize = 256;
/// The longest reply read from an Alertmanager (its replies are a few bytes).
const MAX_REPLY_BODY: usize = 64 * 1024;

/// One entry of `alerting.alertmanagers`.
#[derive(Clone, Debug, PartialEq)]
pub enum AlertmanagerEntry {
    /// A base URL, `http://host:port[/prefix]` or `https://…` (the host's
    /// CA certificates, no credentials).
    Url(String),
    /// Prometheus's `alertmanager_config`.
    Config(Box<AlertmanagerConfig>),
}

impl From<&str> for AlertmanagerEntry {
    fn from(url: &str) -> Self {
        AlertmanagerEntry::Url(url.to_owned())
    }
}

// By hand rather than `untagged`, so a typo inside an `alertmanager_config`
// is reported as the unknown field it is.
impl<'de> Deserialize<'de> for AlertmanagerEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = AlertmanagerEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a base URL or an alertmanager_config (static_configs, scheme, ...)")
            }
            fn visit_str<E: serde::de::Error>(self, url: &str) -> Result<Self::Value, E> {
                Ok(AlertmanagerEntry::Url(url.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                AlertmanagerConfig::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(|config| AlertmanagerEntry::Config(Box::new(config)))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Prometheus's `alertmanager_config`, the keys a sidecar needs.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// `[{targets: ["host:port", ...]}]`; every target gets every alert.
    pub static_configs: Vec<StaticConfig>,
    /// `http` (the default) or `https`.
    #[serde(default)]
    pub scheme: Scheme,
    /// A path before `/api/v2/alerts`, for an Alertmanager behind a proxy.
    #[serde(default)]
    pub path_prefix: String,
    /// How long one POST may take (humantime); `alerting.timeout` when unset.
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// How the Alertmanager's certificate is checked, and the client
    /// certificate shown to it.
    #[serde(default)]
    pub tls_config: TlsClientConfig,
    /// An `Authorization` header: `type` (default `Bearer`) and
    /// `credentials` or `credentials_file`.
    #[serde(default)]
    pub authorization: Option<Authorization>,
    /// HTTP basic auth: `username` and `password` or `password_file`.
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    /// `host:port` of each Alertmanager.
    pub targets: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    #[default]
    Http,
    Https,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsClientConfig {
    /// PEM CA certificates that sign the Alertmanager's certificate; the
    /// host's CA certificates when unset.
    pub ca_file: Option<PathBuf>,
    /// A client certificate (PEM), with `key_file`.
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    pub key_file: Option<PathBuf>,
    /// The name the certificate must carry; the target's host when unset.
    pub server_name: Option<String>,
    /// Accept any certificate. For tests only: anyone on the path can then
    /// read the alerts and the credentials.
    pub insecure_skip_verify: bool,
}

#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// The scheme in the header; `Bearer` by default.
    #[serde(rename = "type", default = "bearer")]
    pub kind: String,
    pub credentials: Option<String>,
    pub credentials_file: Option<PathBuf>,
}

fn bearer() -> String {
    "Bearer".to_owned()
}

#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    pub password: Option<String>,
    pub password_file: Option<PathBuf>,
}

// By hand, so no secret reaches a log line.
impl std::fmt::Debug for Authorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorization")
            .field("type", &self.kind)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "<secret>"),
            )
            .field("credentials_file", &self.credentials_file)
            .finish()
    }
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<secret>"))
            .field("password_file", &self.password_file)
            .finish()
    }
}

/// A secret given in the config or in a file read when it is needed.
#[derive(Clone)]
enum Secret {
    Inline(String),
    File(PathBuf),
}

impl Secret {
    fn pick(
        inline: &Option<String>,
        file: &Option<PathBuf>,
        names: [&str; 2],
    ) -> Result<Secret, String> {
        match (inline, file) {
            (Some(value), None) => Ok(Secret::Inline(value.clone())),
            (None, Some(path)) => Ok(Secret::File(path.clone())),
            (Some(_), Some(_)) => Err(format!("set {} or {}, not both", names[0], names[1])),
            (None, None) => Err(format!("set {} or {}", names[0], names[1])),
        }
    }

    /// The value; a file's content without surrounding whitespace, as
    /// Prometheus reads it.
    fn read(&self) -> Result<String, DeliveryError> {
        match self {
            Secret::Inline(value) => Ok(value.clone()),
            Secret::File(path) => std::fs::read_to_string(path)
                .map(|text| text.trim().to_owned())
                .map_err(|source| DeliveryError::Credentials {
                    path: path.clone(),
                    source,
                }),
        }
    }
}

#[derive(Clone)]
enum Auth {
    Scheme { kind: String, credentials: Secret },
    Basic { username: String, password: Secret },
}

impl Auth {
    fn header(&self) -> Result<HeaderValue, DeliveryError> {
        let text = match self {
            Auth::Scheme { kind, credentials } => format!("{kind} {}", credentials.read()?),
            Auth::Basic { username, password } => {
                let pair = format!("{username}:{}", password.read()?);
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                )
            }
        };
        let mut value = HeaderValue::from_str(&text).map_err(|_| DeliveryError::BadCredentials)?;
        value.set_sensitive(true);
        Ok(value)
    }
}

#[derive(Clone)]
struct Tls {
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

/// One Alertmanager, resolved from the config: where to connect, how, and
/// with which credentials.
#[derive(Clone)]
pub struct Endpoint {
    /// The base URL, as the `alertmanager` label shows it.
    pub label: String,
    /// The full URL of the alerts API.
    pub uri: Uri,
    host: String,
    port: u16,
    tls: Option<Tls>,
    auth: Option<Auth>,
    /// How long one POST may take.
    pub timeout: Duration,
}

/// The Alertmanagers of `alerting.alertmanagers`, in order; an error names
/// the entry and the field.
pub fn endpoints(
    entries: &[AlertmanagerEntry],
    default_timeout: Duration,
) -> Result<Vec<Endpoint>, String> {
    let mut all: Vec<Endpoint> = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let place = format!("alerting.alertmanagers[{i}]");
        let found = entry_endpoints(entry, default_timeout).map_err(|e| format!("{place}: {e}"))?;
        for endpoint in found {
            if all.iter().any(|e| e.label == endpoint.label) {
                return Err(format!("{place}: {:?} is listed twice", endpoint.label));
            }
            all.push(endpoint);
        }
    }
    Ok(all)
}

/// The Alertmanagers of one entry; errors that come from one of them are
/// logged by the caller with the entry.
pub fn entry_endpoints(
    entry: &AlertmanagerEntry,
    default_timeout: Duration,
) -> Result<Vec<Endpoint>, String> {
    match entry {
        AlertmanagerEntry::Url(url) => {
            let endpoint = from_url(url, default_timeout).map_err(|e| format!("{url:?}: {e}"))?;
            Ok(vec![endpoint])
        }
        AlertmanagerEntry::Config(config) => from_config(config, default_timeout),
    }
}

fn from_url(url: &str, timeout: Duration) -> Result<Endpoint, String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("not a URL ({e}); expected http://host:port"))?;
    let scheme = match uri.scheme_str() {
        Some("http") => Scheme::Http,
        Some("https") => Scheme::Https,
        Some(other) => {
            return Err(format!(
                "unsupported scheme {other:?}; use http:// or https://"
            ));
        }
        None => return Err("no scheme; expected http://host:port".to_owned()),
    };
    if uri.query().is_some() {
        return Err("a query string is not allowed in a base URL".to_owned());
    }
    let authority = uri.authority().map_or("", |a| a.as_str());
    if authority.contains('@') {
        return Err(
            "credentials in the URL are not supported; use an alertmanager_config with basic_auth"
                .to_owned(),
        );
    }
    build(
        url.to_owned(),
        scheme,
        authority,
        uri.path(),
        timeout,
        &TlsClientConfig::default(),
        None,
    )
}

fn from_config(
    config: &AlertmanagerConfig,
    default_timeout: Duration,
) -> Result<Vec<Endpoint>, String> {
    let auth = match (&config.authorization, &config.basic_auth) {
        (Some(_), Some(_)) => return Err("set authorization or basic_auth, not both".to_owned()),
        (Some(a), None) => {
            if a.kind.eq_ignore_ascii_case("basic") {
                return Err("authorization.type Basic: use basic_auth instead".to_owned());
            }
            let credentials = Secret::pick(
                &a.credentials,
                &a.credentials_file,
                [
                    "authorization.credentials",
                    "authorization.credentials_file",
                ],
            )?;
            Some(Auth::Scheme {
                kind: a.kind.clone(),
                credentials,
            })
        }
        (None, Some(b)) => Some(Auth::Basic {
            username: b.username.clone(),
            password: Secret::pick(
                &b.password,
                &b.password_file,
                ["basic_auth.password", "basic_auth.password_file"],
            )?,
        }),
        (None, None) => None,
    };
    if auth.is_some() && config.scheme == Scheme::Http {
        tracing::warn!("alertmanager credentials are sent over plain http; set scheme: https");
    }
    let timeout = config.timeout.unwrap_or(default_timeout);
    if timeout.is_zero() {
        return Err("timeout must be longer than 0s".to_owned());
    }
    let targets: Vec<&String> = config
        .static_configs
        .iter()
        .flat_map(|s| &s.targets)
        .collect();
    if targets.is_empty() {
        return Err("static_configs: no targets".to_owned());
    }
    let scheme_text = match config.scheme {
        Scheme::Http => "http",
        Scheme::Https => "https",
    };
    let prefix = config.path_prefix.trim_end_matches('/');
    if !prefix.is_empty() && !prefix.starts_with('/') {
        return Err(format!(
            "path_prefix {:?} must start with /",
            config.path_prefix
        ));
    }
    targets
        .into_iter()
        .enumerate()
        .map(|(j, target)| {
            if target.contains('/') || target.contains('@') || target.is_empty() {
                return Err(format!(
                    "static_configs targets[{j}] {target:?} is not host:port"
                ));
            }
            build(
                format!("{scheme_text}://{target}{prefix}"),
                config.scheme,
                target,
                prefix,
                timeout,
                &config.tls_config,
                auth.clone(),
            )
            .map_err(|e| format!("{target:?}: {e}"))
        })
        .collect()
}

fn build(
    label: String,
    scheme: Scheme,
    authority: &str,
    prefix: &str,
    timeout: Duration,
    tls: &TlsClientConfig,
    auth: Option<Auth>,
) -> Result<Endpoint, String> {
    let (scheme_text, default_port) = match scheme {
        Scheme::Http => ("http", 80),
        Scheme::Https => ("https", 443),
    };
    let prefix = prefix.trim_end_matches('/');
    let uri: Uri = format!("{scheme_text}://{authority}{prefix}{ALERTS_PATH}")
        .parse()
        .map_err(|e| format!("not a URL ({e})"))?;
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or("no host; expected host:port")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(default_port);
    let tls = match scheme {
        Scheme::Https => Some(tls_client(tls, &host)?),
        Scheme::Http => None,
    };
    Ok(Endpoint {
        label,
        uri,
        host,
        port,
        tls,
        auth,
        timeout,
    })
}

fn read_pem(field: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("tls_config.{field} {}: {e}", path.display()))
}

fn tls_client(config: &TlsClientConfig, host: &str) -> Result<Tls, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?;
    let builder = if config.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
    } else {
        builder.with_root_certificates(roots(config.ca_file.as_deref())?)
    };
    let client = match (&config.cert_file, &config.key_file) {
        (Some(cert_file), Some(key_file)) => {
            let pem = read_pem("cert_file", cert_file)?;
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<_, _>>()
                .map_err(|e| format!("tls_config.cert_file {}: {e}", cert_file.display()))?;
            if chain.is_empty() {
                return Err(format!(
                    "tls_config.cert_file {}: no PEM certificate in it",
                    cert_file.display()
                ));
            }
            // The parse error is not shown: it could quote the key.
            let key =
                PrivateKeyDer::from_pem_slice(&read_pem("key_file", key_file)?).map_err(|_| {
                    format!(
                        "tls_config.key_file {}: no PEM private key in it",
                        key_file.display()
                    )
                })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("tls_config.cert_file: {e}"))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err("tls_config: set cert_file and key_file together".to_owned()),
    };
    let name = config.server_name.as_deref().unwrap_or(host);
    let server_name = ServerName::try_from(name.to_owned())
        .map_err(|_| format!("tls_config.server_name {name:?} is not a host name or IP address"))?;
    Ok(Tls {
        connector: TlsConnector::from(Arc::new(client)),
        server_name,
    })
}

/// The CA certificates of `ca_file`, or the host's.
fn roots(ca_file: Option<&Path>) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let pem = read_pem("ca_file", path)?;
            for certificate in CertificateDer::pem_slice_iter(&pem) {
                let certificate = certificate
                    .map_err(|e| format!("tls_config.ca_file {}: {e}", path.display()))?;
                store
                    .add(certificate)
                    .map_err(|e| format!("tls_config.ca_file {}: {e}", path.display()))?;
            }
            if store.is_empty() {
                return Err(format!(
                    "tls_config.ca_file {}: no PEM certificate in it",
                    path.display()
                ));
            }
        }
        None => {
            let loaded = rustls_native_certs::load_native_certs();
            let (added, _) = store.add_parsable_certificates(loaded.certs);
            if added == 0 {
                return Err(
                    "no CA certificates found on this host; install them (Debian: ca-certificates) or set tls_config.ca_file"
                        .to_owned(),
                );
            }
        }
    }
    Ok(store)
}

/// `insecure_skip_verify`: any certificate passes, signatures are still
/// checked so the handshake itself is sound.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Why a POST failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("connecting: {0}")]
    Connect(std::io::Error),
    #[error("TLS handshake: {0}")]
    Tls(std::io::Error),
    #[error("{}", describe_error(.0))]
    Http(hyper::Error),
    #[error("reading credentials from {}: {source}", path.display())]
    Credentials {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the credentials cannot be sent in an HTTP header")]
    BadCredentials,
    #[error("answered {status}: {body}")]
    Status { status: StatusCode, body: String },
    #[error("the answer is longer than {0} bytes")]
    TooLarge(usize),
    #[error("{0:?} is not a valid request path")]
    BadPath(String),
}

impl Endpoint {
    /// One POST of a JSON body to the alerts API; Ok on a 2xx answer.
    pub async fn post(&self, body: Vec<u8>) -> Result<(), DeliveryError> {
        let path = self
            .uri
            .path_and_query()
            .map_or(ALERTS_PATH, |p| p.as_str())
            .to_owned();
        tokio::time::timeout(
            self.timeout,
            self.exchange(Method::POST, &path, Bytes::from(body), MAX_REPLY_BODY),
        )
        .await
        .unwrap_or(Err(DeliveryError::Timeout(self.timeout)))
        .map(|_| ())
    }

    /// One GET of `path_and_query` under the entry's base URL and path
    /// prefix, with the same TLS and credentials as a POST (the warm start
    /// reads Prometheus's query API through it); the body of a 2xx answer,
    /// refused beyond `max_bytes`.
    pub async fn get(
        &self,
        path_and_query: &str,
        max_bytes: usize,
    ) -> Result<Bytes, DeliveryError> {
        let prefix = self
            .uri
            .path()
            .strip_suffix(ALERTS_PATH)
            .unwrap_or_default();
        let path = format!("{prefix}{path_and_query}");
        tokio::time::timeout(
            self.timeout,
            self.exchange(Method::GET, &path, Bytes::new(), max_bytes),
        )
        .await
        .unwrap_or(Err(DeliveryError::Timeout(self.timeout)))
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
        max_bytes: usize,
    ) -> Result<Bytes, DeliveryError> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(DeliveryError::Connect)?;
        // Best effort: a batch is one write either way.
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            Some(tls) => {
                let stream = tls
                    .connector
                    .connect(tls.server_name.clone(), tcp)
                    .await
                    .map_err(DeliveryError::Tls)?;
                self.request(stream, method, path, body, max_bytes).await
            }
            None => self.request(tcp, method, path, body, max_bytes).await,
        }
    }

    async fn request<S>(
        &self,
        stream: S,
        method: Method,
        path: &str,
        body: Bytes,
        max_bytes: usize,
    ) -> Result<Bytes, DeliveryError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let authority = self.uri.authority().map_or("", |a| a.as_str());
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, authority)
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, concat!("outrider/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(body))
            .map_err(|_| DeliveryError::BadPath(path.to_owned()))?;
        if let Some(auth) = &self.auth {
            request.headers_mut().insert(AUTHORIZATION, auth.header()?);
        }
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(DeliveryError::Http)?;
        // The connection ends once the answer is read and `sender` dropped.
        tokio::spawn(connection);
        let response = sender
            .send_request(request)
            .await
            .map_err(DeliveryError::Http)?;
        let status = response.status();
        let body = http_body_util::Limited::new(response.into_body(), max_bytes)
            .collect()
            .await
            .map_err(|e| match e.downcast::<hyper::Error>() {
                Ok(e) => DeliveryError::Http(*e),
                Err(_) => DeliveryError::TooLarge(max_bytes),
            })?
            .to_bytes();
        if status.is_success() {
            return Ok(body);
        }
        let mut text = String::from_utf8_lossy(&body[..body.len().min(MAX_ERROR_BODY)])
            .trim()
            .to_owned();
        if body.len() > MAX_ERROR_BODY {
            text.push('…');
        }
        Err(DeliveryError::Status { status, body: text })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Vec<AlertmanagerEntry> {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    fn resolve(yaml: &str) -> Result<Vec<Endpoint>, String> {
        endpoints(&parse(yaml), Duration::from_secs(10))
    }

    #[test]
    fn urls_and_prometheus_configs_mix() {
        let found = resolve(
            "- http://127.0.0.1:9093\n- static_configs: [{targets: ['a:9093', 'b:9094']}]\n  path_prefix: /am/\n  timeout: 2s\n",
        )
        .unwrap();
        let labels: Vec<&str> = found.iter().map(|e| e.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "http://127.0.0.1:9093",
                "http://a:9093/am",
                "http://b:9094/am"
            ]
        );
        assert_eq!(found[1].uri, "http://a:9093/am/api/v2/alerts");
        assert_eq!(found[2].port, 9094);
        assert_eq!(found[0].timeout, Duration::from_secs(10));
        assert_eq!(found[1].timeout, Duration::from_secs(2));
    }

    #[test]
    fn a_typo_in_a_config_names_the_field() {
        let error = serde_yaml_ng::from_str::<Vec<AlertmanagerEntry>>(
            "- static_configs: [{targets: ['a:9093']}]\n  tls_cofig: {}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("unknown field `tls_cofig`"), "{error}");
        let error = serde_yaml_ng::from_str::<Vec<AlertmanagerEntry>>("- 5\n")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("base URL or an alertmanager_config"),
            "{error}"
        );
    }

    #[test]
    fn bad_entries_say_what_to_fix() {
        let bad = |yaml: &str| {
            resolve(yaml)
                .err()
                .unwrap_or_else(|| panic!("accepted: {yaml}"))
        };
        for (yaml, expected) in [
            ("- am:9093", "no scheme"),
            ("- ftp://am/", "unsupported scheme"),
            ("- http://u:p@am:9093", "credentials in the URL"),
            ("- http://am:9093/?x=1", "query"),
            ("- http://am:9093\n- http://am:9093", "listed twice"),
            ("- static_configs: []", "no targets"),
            (
                "- static_configs: [{targets: ['am:9093/x']}]",
                "not host:port",
            ),
            (
                "- static_configs: [{targets: [a:1]}]\n  authorization: {credentials: x, credentials_file: /f}",
                "not both",
            ),
            (
                "- static_configs: [{targets: [a:1]}]\n  basic_auth: {username: u}",
                "basic_auth.password or basic_auth.password_file",
            ),
            (
                "- static_configs: [{targets: [a:1]}]\n  basic_auth: {username: u, password: p}\n  authorization: {credentials: x}",
                "authorization or basic_auth",
            ),
            (
                "- scheme: https\n  static_configs: [{targets: [a:1]}]\n  tls_config: {ca_file: /nonexistent/ca.pem}",
                "/nonexistent/ca.pem",
            ),
            (
                "- scheme: https\n  static_configs: [{targets: [a:1]}]\n  tls_config: {insecure_skip_verify: true, cert_file: /c}",
                "cert_file and key_file together",
            ),
            (
                "- static_configs: [{targets: [a:1]}]\n  timeout: 0s",
                "timeout",
            ),
        ] {
            let error = bad(yaml);
            assert!(
                error.starts_with("alerting.alertmanagers["),
                "{yaml}: {error}"
            );
            assert!(error.contains(expected), "{yaml}: {error}");
        }
    }

    #[test]
    fn secrets_stay_out_of_debug_and_files_are_read_when_used() {
        let entries = parse(
            "- static_configs: [{targets: [a:1]}]\n  basic_auth: {username: u, password: hunter2-secret}\n",
        );
        assert!(!format!("{entries:?}").contains("hunter2-secret"));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        let entries = parse(&format!(
            "- static_configs: [{{targets: [a:1]}}]\n  authorization: {{credentials_file: {}}}\n",
            file.display()
        ));
        let endpoint = &endpoints(&entries, Duration::from_secs(1)).unwrap()[0];
        let auth = endpoint.auth.as_ref().unwrap();
        // Missing at start is not an error; missing when sending is.
        assert!(matches!(
            auth.header(),
            Err(DeliveryError::Credentials { .. })
        ));
        std::fs::write(&file, "tok-1\n").unwrap();
        assert_eq!(auth.header().unwrap(), "Bearer tok-1");
        std::fs::write(&file, "tok-2").unwrap();
        assert_eq!(auth.header().unwrap(), "Bearer tok-2");
        let basic = Auth::Basic {
            username: "am".to_owned(),
            password: Secret::Inline("pw".to_owned()),
        };
        assert_eq!(basic.header().unwrap(), "Basic YW06cHc=");
    }
}
