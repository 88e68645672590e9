//! The guards in front of every endpoint. `http` routes; this module decides
//! whether a request gets that far.
//!
//! Each request falls in one class, by path and method:
//! - **admin**: `/-/reload`, and any other `/-/` path asked with a method
//!   other than GET or HEAD;
//! - **write**: `POST /api/v1/metrics/push`, and PUT, POST or DELETE under
//!   `/metrics/job/` (the Pushgateway API);
//! - **read**: everything else (metrics, landing page, health, readiness,
//!   status APIs).
//!
//! In order, a request must come from an address the class's allowlist
//! holds (403), find a token in the class's rate limiter (429 with
//! Retry-After), find a free slot under `max_requests` (503), declare a body
//! no larger than the class allows (413), and, for the read class when
//! `basic_auth_users` is set, carry a user and password (401). Write and
//! admin requests carry their own bearer token instead, checked by their
//! handler: a request has one `Authorization` header.
//!
//! The exporter-toolkit web config (`--web.config.file`) is checked for
//! changes at most once a second, when a connection or request arrives: its
//! file and the certificate files it names are stat'ed, and a change loads
//! them again. Doing it on arrival, rather than with a watcher, covers
//! certificates in any folder (a Kubernetes secret swaps a symlink, which a
//! folder watch on the file's folder can miss) and means the first
//! connection after a rotation already gets the new certificate.

pub mod allowlist;
pub mod auth;
pub mod limits;
pub mod tls;
pub mod web_config;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{debug, info, warn};

pub use allowlist::{AllowConfig, Allowlist};
pub use limits::{BodyError, LimitsConfig, RateLimiter, read_body_limited};
pub use web_config::{WebConfigError, WebConfigFile};

use auth::Users;

/// How often, at most, the web config's files are stat'ed for changes.
const CHANGE_CHECK_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Read,
    Write,
    Admin,
}

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Class::Read => "read",
            Class::Write => "write",
            Class::Admin => "admin",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What the web config file sets up: TLS, users and response headers.
pub struct Active {
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    users: Option<Arc<Users>>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Active {
    fn plain() -> Active {
        Active {
            tls: None,
            users: None,
            headers: Vec::new(),
        }
    }

    /// Reads a web config file and everything it names.
    pub fn load(path: &Path) -> Result<Active, WebConfigError> {
        let file = WebConfigFile::read(path)?;
        let error = |message: String| WebConfigError {
            path: path.to_owned(),
            message,
        };
        let headers = file.headers().map_err(error)?;
        let users = Users::new(&file.basic_auth_users).map_err(error)?;
        let tls = if file.tls_server_config.is_enabled() {
            let config = tls::server_config(&file.tls_server_config).map_err(error)?;
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
        } else {
            None
        };
        Ok(Active {
            tls,
            users: users.map(Arc::new),
            headers,
        })
    }

    /// Adds the configured headers to a response.
    pub fn decorate<B>(&self, response: &mut Response<B>) {
        for (name, value) in &self.headers {
            response.headers_mut().insert(name.clone(), value.clone());
        }
    }
}

/// The files a web config depends on, to see when one changes.
fn watched_files(path: &Path) -> Vec<PathBuf> {
    let mut files = vec![path.to_owned()];
    if let Ok(file) = WebConfigFile::read(path) {
        files.extend(file.tls_server_config.files());
    }
    files
}

type Stamp = Option<(SystemTime, u64, u64)>;

fn stamp(path: &Path) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len(), metadata.ino()))
}

struct ChangeCheck {
    last: Instant,
    files: Vec<PathBuf>,
    stamps: Vec<Stamp>,
}

/// The web config in force, reloaded when its files change.
struct WebState {
    path: Option<PathBuf>,
    current: RwLock<Arc<Active>>,
    check: Mutex<ChangeCheck>,
}

impl WebState {
    fn new(path: Option<&Path>) -> Result<WebState, WebConfigError> {
        let (active, files) = match path {
            Some(path) => (Active::load(path)?, watched_files(path)),
            None => (Active::plain(), Vec::new()),
        };
        let stamps = files.iter().map(|f| stamp(f)).collect();
        Ok(WebState {
            path: path.map(Path::to_owned),
            current: RwLock::new(Arc::new(active)),
            check: Mutex::new(ChangeCheck {
                last: Instant::now(),
                files,
                stamps,
            }),
        })
    }

    fn current(&self) -> Arc<Active> {
        if let Some(path) = &self.path {
            self.reload_if_changed(path);
        }
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn reload_if_changed(&self, path: &Path) {
        // One caller checks; the others go on with what is in force.
        let Ok(mut check) = self.check.try_lock() else {
            return;
        };
        let now = Instant::now();
        if now.duration_since(check.last) < CHANGE_CHECK_INTERVAL {
            return;
        }
        check.last = now;
        let stamps: Vec<Stamp> = check.files.iter().map(|f| stamp(f)).collect();
        if stamps == check.stamps {
            return;
        }
        // Whatever the outcome, this version of the files has been seen: a
        // broken file is reported once, not every second.
        check.files = watched_files(path);
        check.stamps = check.files.iter().map(|f| stamp(f)).collect();
        match Active::load(path) {
            Ok(active) => {
                let had_tls = self
                    .current
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .tls
                    .is_some();
                if active.tls.is_some() != had_tls {
                    warn!(path = %path.display(), "web config reload refused: turning TLS on or off needs a restart");
                    return;
                }
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(active);
                info!(path = %path.display(), "web config reloaded");
            }
            Err(error) => {
                warn!(error = %error, "web config reload refused; the previous one stays in force");
            }
        }
    }
}

/// What a request needs to pass before it is routed.
pub struct Guard {
    allow: [Allowlist; 3],
    rates: [Option<RateLimiter>; 3],
    max_body: [u64; 3],
    in_flight: Option<Arc<Semaphore>>,
    pub limits: LimitsConfig,
    web: WebState,
}

/// Holds a slot under `max_requests` until the response is made.
pub struct Admitted {
    pub class: Class,
    _slot: Option<OwnedSemaphorePermit>,
}

impl Guard {
    /// Builds the guards; reads the web config file and its certificates,
    /// so a mistake in them stops the start.
    pub fn new(
        allow: &AllowConfig,
        limits: &LimitsConfig,
        web_config_file: Option<&Path>,
    ) -> Result<Guard, String> {
        let lists = [
            Allowlist::parse(&allow.read, "web.allow.read")?,
            Allowlist::parse(&allow.write, "web.allow.write")?,
            Allowlist::parse(&allow.admin, "web.allow.admin")?,
        ];
        limits.validate()?;
        let now = Instant::now();
        Ok(Guard {
            allow: lists,
            rates: [
                RateLimiter::new(&limits.read, now),
                RateLimiter::new(&limits.write, now),
                RateLimiter::new(&limits.admin, now),
            ],
            max_body: [
                limits.read.max_body_bytes,
                limits.write.max_body_bytes,
                limits.admin.max_body_bytes,
            ],
            in_flight: (limits.max_requests > 0)
                .then(|| Arc::new(Semaphore::new(limits.max_requests))),
            limits: limits.clone(),
            web: WebState::new(web_config_file).map_err(|e| e.to_string())?,
        })
    }

    /// The web config in force, for a new connection or request.
    pub fn active(&self) -> Arc<Active> {
        self.web.current()
    }

    /// The class's largest body, for handlers that read one.
    pub fn max_body_bytes(&self, class: Class) -> u64 {
        self.max_body[class.index()]
    }

    /// Lets a request through to routing, or answers it.
    pub async fn admit<B>(
        &self,
        request: &Request<B>,
        class: Class,
        peer: IpAddr,
        active: &Active,
    ) -> Result<Admitted, Response<Full<Bytes>>> {
        let i = class.index();
        if !self.allow[i].allows(peer) {
            debug!(peer = %peer, class = class.name(), "refused by the allowlist");
            return Err(crate::http::plain(
                StatusCode::FORBIDDEN,
                "this address may not use this endpoint\n",
            ));
        }
        if let Err(wait) = self.rates[i]
            .as_ref()
            .map_or(Ok(()), |limiter| limiter.take(Instant::now()))
        {
            let mut response = crate::http::plain(
                StatusCode::TOO_MANY_REQUESTS,
                "too many requests; retry later\n",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait));
            return Err(response);
        }
        let slot = match &self.in_flight {
            None => None,
            Some(semaphore) => match Arc::clone(semaphore).try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    let mut response = crate::http::plain(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "too many requests in flight; retry later\n",
                    );
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(1u32));
                    return Err(response);
                }
            },
        };
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|length| length > self.max_body[i]) {
            return Err(crate::http::plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the request body is too large\n",
            ));
        }
        let users = active.users.as_ref().filter(|_| class == Class::Read);
        if let Some(users) = users {
            let given = request
                .headers()
                .get(header::AUTHORIZATION)
                .map(HeaderValue::as_bytes);
            if !users.check(given).await {
                debug!(peer = %peer, "basic auth refused");
                let mut response = crate::http::plain(StatusCode::UNAUTHORIZED, "unauthorized\n");
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"outrider\""),
                );
                return Err(response);
            }
        }
        Ok(Admitted { class, _slot: slot })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, path: &str, length: Option<u64>) -> Request<()> {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(length) = length {
            builder = builder.header(header::CONTENT_LENGTH, length);
        }
        builder.body(()).unwrap()
    }

    #[tokio::test]
    async fn guards_answer_in_order() {
        let allow = AllowConfig {
            write: vec!["127.0.0.1".into()],
            ..AllowConfig::default()
        };
        let mut limits = LimitsConfig::default();
        limits.write.rate = 1.0;
        limits.write.burst = 2;
        limits.write.max_body_bytes = 100;
        limits.max_requests = 1;
        let guard = Guard::new(&allow, &limits, None).unwrap();
        let active = guard.active();
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        let push = request("PUT", "/metrics/job/x", Some(10));

        let refused = guard
            .admit(&push, Class::Write, other, &active)
            .await
            .err()
            .unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        // The read class is open to both.
        let read = request("GET", "/metrics", None);
        let admitted = guard
            .admit(&read, Class::Read, other, &active)
            .await
            .unwrap();
        assert_eq!(admitted.class, Class::Read);
        // One slot, held by `admitted`.
        let busy = guard
            .admit(&push, Class::Write, local, &active)
            .await
            .err()
            .unwrap();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        drop(admitted);
        let too_big = request("PUT", "/metrics/job/x", Some(101));
        let answer = guard
            .admit(&too_big, Class::Write, local, &active)
            .await
            .err()
            .unwrap();
        assert_eq!(answer.status(), StatusCode::PAYLOAD_TOO_LARGE);
        // The burst of 2 was spent by the two requests above that got past
        // the allowlist.
        let limited = guard
            .admit(&push, Class::Write, local, &active)
            .await
            .err()
            .unwrap();
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limited.headers()[header::RETRY_AFTER], "1");
    }
}
