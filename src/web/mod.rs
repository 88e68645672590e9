//! The guards in front of every endpoint. `http` routes; this module decides
//! whether a request gets that far.
//!
//! Each request falls in one class, by the route `http::Route` finds for
//! its path (the router dispatches on the same route) and its method:
//! - **admin**: `POST /-/reload`;
//! - **write**: `POST /api/v1/metrics/push`, and PUT, POST or DELETE under
//!   `/metrics/job/` or `/metrics/job@base64/` (the Pushgateway API);
//! - **read**: everything else (metrics, landing page, health, readiness,
//!   status APIs, and the 405 of a push or reload path asked with another
//!   method).
//!
//! In order, a request must come from an address the class's allowlist
//! holds (403); carry its credentials (401): for the read class a user and
//! password when `basic_auth_users` is set, for write and admin the bearer
//! token of their endpoint; find a token in the class's rate limiter (429
//! with Retry-After); find a free slot under `max_requests` (503), where
//! write and admin together leave a quarter of the slots to reads; and
//! declare a body no larger than the class allows (413). Credentials come
//! first so that clients without them cannot spend what the others need;
//! they are cheap to check (a token compare, a cached basic-auth verdict),
//! and bcrypt for an uncached one runs on its own small pool, refusing with
//! 503 past a short queue.
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
pub mod connections;
pub mod limits;
pub mod tls;
pub mod web_config;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
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

use auth::{Users, Verdict};

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
    /// The bearer token of each class (none for read), when its endpoint
    /// is on.
    tokens: [Option<String>; 3],
    /// Who may push with basic auth instead of the write token.
    push_users: Option<Arc<auth::Users>>,
    /// `max_requests`, for every class.
    in_flight: Option<Arc<Semaphore>>,
    /// What write and admin requests may hold of `max_requests`: all but a
    /// reserve for reads, so slow uploads cannot keep scrapes out.
    in_flight_changes: Option<Arc<Semaphore>>,
    /// Started at the first uncached basic-auth check.
    verifier: OnceLock<auth::Verifier>,
    pub limits: LimitsConfig,
    web: WebState,
}

/// Holds its slots under `max_requests` until the response is made.
pub struct Admitted {
    pub class: Class,
    _slots: (Option<OwnedSemaphorePermit>, Option<OwnedSemaphorePermit>),
}

/// The part of `max_requests` kept for the read class: a quarter, at least
/// one, when there are two slots or more.
pub fn read_reserve(max_requests: usize) -> usize {
    if max_requests >= 2 {
        (max_requests / 4).max(1)
    } else {
        0
    }
}

fn busy(text: &'static str) -> Response<Full<Bytes>> {
    let mut response = crate::responses::plain(StatusCode::SERVICE_UNAVAILABLE, text);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(1u32));
    response
}

fn take(semaphore: Option<&Arc<Semaphore>>) -> Result<Option<OwnedSemaphorePermit>, ()> {
    match semaphore {
        None => Ok(None),
        Some(semaphore) => Arc::clone(semaphore)
            .try_acquire_owned()
            .map(Some)
            .map_err(|_| ()),
    }
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
        let max_requests = limits.max_requests;
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
            tokens: [None, None, None],
            push_users: None,
            in_flight: (max_requests > 0).then(|| Arc::new(Semaphore::new(max_requests))),
            in_flight_changes: (max_requests > 0)
                .then(|| Arc::new(Semaphore::new(max_requests - read_reserve(max_requests)))),
            verifier: OnceLock::new(),
            limits: limits.clone(),
            web: WebState::new(web_config_file).map_err(|e| e.to_string())?,
        })
    }

    /// The bearer tokens of the push and reload endpoints, checked before
    /// the rate limits and slots those classes share.
    pub fn with_tokens(mut self, push: Option<&str>, reload: Option<&str>) -> Guard {
        self.tokens[Class::Write.index()] = push.map(str::to_owned);
        self.tokens[Class::Admin.index()] = reload.map(str::to_owned);
        self
    }

    /// The users of `push.basic_auth_users`, who may push beside the
    /// token.
    pub fn with_push_users(mut self, users: Option<auth::Users>) -> Guard {
        self.push_users = users.map(Arc::new);
        self
    }

    /// Whether any class's allowlist holds `peer`: a connection from
    /// anywhere else could only be refused.
    pub fn admits_address(&self, peer: IpAddr) -> bool {
        self.allow.iter().any(|list| list.allows(peer))
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
            return Err(crate::responses::plain(
                StatusCode::FORBIDDEN,
                "this address may not use this endpoint\n",
            ));
        }
        // Credentials before anything shared: a client without them must
        // not spend the rate limits or slots of the clients with them.
        self.authenticate(request, class, peer, active).await?;
        if let Err(wait) = self.rates[i]
            .as_ref()
            .map_or(Ok(()), |limiter| limiter.take(Instant::now()))
        {
            let mut response = crate::responses::plain(
                StatusCode::TOO_MANY_REQUESTS,
                "too many requests; retry later\n",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait));
            return Err(response);
        }
        let change = match class {
            Class::Read => None,
            Class::Write | Class::Admin => take(self.in_flight_changes.as_ref())
                .map_err(|()| busy("too many changes in flight; retry later\n"))?,
        };
        let slot = take(self.in_flight.as_ref())
            .map_err(|()| busy("too many requests in flight; retry later\n"))?;
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|length| length > self.max_body[i]) {
            return Err(crate::responses::plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the request body is too large\n",
            ));
        }
        Ok(Admitted {
            class,
            _slots: (change, slot),
        })
    }

    /// Basic auth for reads when `basic_auth_users` is set; the class's
    /// bearer token for writes and admin when their endpoint is on (when
    /// it is off, routing answers 404).
    async fn authenticate<B>(
        &self,
        request: &Request<B>,
        class: Class,
        peer: IpAddr,
        active: &Active,
    ) -> Result<(), Response<Full<Bytes>>> {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes);
        match class {
            Class::Read => {
                let Some(users) = &active.users else {
                    return Ok(());
                };
                let verifier = self.verifier.get_or_init(auth::Verifier::start);
                match users.check(given, verifier).await {
                    Verdict::Allowed => Ok(()),
                    Verdict::Refused => {
                        debug!(peer = %peer, "basic auth refused");
                        let mut response =
                            crate::responses::plain(StatusCode::UNAUTHORIZED, "unauthorized\n");
                        response.headers_mut().insert(
                            header::WWW_AUTHENTICATE,
                            HeaderValue::from_static("Basic realm=\"outrider\""),
                        );
                        Err(response)
                    }
                    Verdict::Busy => {
                        debug!(peer = %peer, "basic auth busy");
                        Err(busy("too many password checks in progress; retry later\n"))
                    }
                }
            }
            Class::Write | Class::Admin => {
                let token = self.tokens[class.index()].as_deref();
                let users = match class {
                    Class::Write => self.push_users.as_deref(),
                    _ => None,
                };
                if token.is_none() && users.is_none() {
                    return Ok(());
                }
                if token.is_some_and(|token| auth::bearer_matches(given, token)) {
                    return Ok(());
                }
                let is_basic =
                    given.is_some_and(|g| g.len() > 6 && g[..6].eq_ignore_ascii_case(b"basic "));
                if let Some(users) = users.filter(|_| is_basic) {
                    let verifier = self.verifier.get_or_init(auth::Verifier::start);
                    match users.check(given, verifier).await {
                        Verdict::Allowed => return Ok(()),
                        Verdict::Busy => {
                            debug!(peer = %peer, "basic auth busy");
                            return Err(busy(
                                "too many password checks in progress; retry later\n",
                            ));
                        }
                        Verdict::Refused => {}
                    }
                }
                debug!(peer = %peer, class = class.name(), "credentials refused");
                let text = match (token, users) {
                    (Some(_), Some(_)) => "a valid bearer token or basic auth user is required\n",
                    (None, Some(_)) => "a valid basic auth user is required\n",
                    _ => "a valid bearer token is required\n",
                };
                let mut response = crate::responses::plain(StatusCode::UNAUTHORIZED, text);
                let headers = response.headers_mut();
                if token.is_some() {
                    headers.append(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                }
                if users.is_some() {
                    headers.append(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"outrider push\""),
                    );
                }
                Err(response)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "a-token-of-16-or-more";

    fn request(method: &str, path: &str, length: Option<u64>) -> Request<()> {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
        if let Some(length) = length {
            builder = builder.header(header::CONTENT_LENGTH, length);
        }
        builder.body(()).unwrap()
    }

    async fn status(guard: &Guard, request: &Request<()>, class: Class, peer: &str) -> StatusCode {
        let active = guard.active();
        match guard
            .admit(request, class, peer.parse().unwrap(), &active)
            .await
        {
            Ok(_) => StatusCode::OK,
            Err(refusal) => refusal.status(),
        }
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
        let guard = Guard::new(&allow, &limits, None)
            .unwrap()
            .with_tokens(Some(TOKEN), None);
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
        // Without the token: 401, and nothing shared is spent.
        let mut anonymous = request("PUT", "/metrics/job/x", Some(10));
        anonymous.headers_mut().remove(header::AUTHORIZATION);
        for _ in 0..5 {
            let answer = guard
                .admit(&anonymous, Class::Write, local, &active)
                .await
                .err()
                .unwrap();
            assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(answer.headers()[header::WWW_AUTHENTICATE], "Bearer");
        }
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
        // the allowlist and the token.
        let limited = guard
            .admit(&push, Class::Write, local, &active)
            .await
            .err()
            .unwrap();
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limited.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn connections_are_refused_from_addresses_no_allowlist_holds() {
        let lists = |read: &[&str], write: &[&str]| AllowConfig {
            read: read.iter().map(|s| s.to_string()).collect(),
            write: write.iter().map(|s| s.to_string()).collect(),
            admin: vec!["10.0.0.1".into()],
        };
        let limits = LimitsConfig::default();
        let guard = Guard::new(&lists(&["127.0.0.1"], &["10.0.0.0/8"]), &limits, None).unwrap();
        assert!(guard.admits_address("127.0.0.1".parse().unwrap()));
        assert!(guard.admits_address("10.9.9.9".parse().unwrap()));
        assert!(!guard.admits_address("127.0.0.2".parse().unwrap()));
        // An open list lets everyone connect.
        let guard = Guard::new(&lists(&[], &["10.0.0.0/8"]), &limits, None).unwrap();
        assert!(guard.admits_address("127.0.0.2".parse().unwrap()));
    }

    #[tokio::test]
    async fn writes_and_admin_leave_a_reserve_of_slots_for_reads() {
        assert_eq!(
            [0, 1, 2, 4, 7, 8, 40].map(read_reserve),
            [0, 0, 1, 1, 1, 2, 10]
        );
        let mut limits = LimitsConfig {
            max_requests: 4,
            ..LimitsConfig::default()
        };
        limits.write.rate = 0.0;
        limits.admin.rate = 0.0;
        let guard = Guard::new(&AllowConfig::default(), &limits, None)
            .unwrap()
            .with_tokens(Some(TOKEN), Some(TOKEN));
        let active = guard.active();
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let push = request("PUT", "/metrics/job/x", None);
        let reload = request("POST", "/-/reload", None);
        let mut held = Vec::new();
        for _ in 0..2 {
            held.push(
                guard
                    .admit(&push, Class::Write, peer, &active)
                    .await
                    .unwrap(),
            );
        }
        held.push(
            guard
                .admit(&reload, Class::Admin, peer, &active)
                .await
                .unwrap(),
        );
        // Writes and admin together hold 3 of 4: the last is for reads.
        assert_eq!(
            status(&guard, &push, Class::Write, "127.0.0.1").await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status(&guard, &reload, Class::Admin, "127.0.0.1").await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        let read = request("GET", "/metrics", None);
        let reading = guard
            .admit(&read, Class::Read, peer, &active)
            .await
            .unwrap();
        assert_eq!(
            status(&guard, &read, Class::Read, "127.0.0.1").await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        drop(reading);
        drop(held.pop());
        assert_eq!(
            status(&guard, &push, Class::Write, "127.0.0.1").await,
            StatusCode::OK
        );
    }
}
