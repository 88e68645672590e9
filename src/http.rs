//! The HTTP surface, all of it:
//!
//! - `GET /`            a landing page linking the endpoints
//! - `GET <telemetry>`  the last tick's exposition (`/metrics` by default), in
//!   the text format or OpenMetrics (Accept), gzipped when Accept-Encoding allows;
//!   `?collect[]=cpu&collect[]=meminfo` keeps only those node_exporter
//!   collectors' families (400 for a collector that is unknown or off)
//! - `GET /-/healthy`   200 while the process serves
//! - `GET /-/ready`     200 once the first tick is published, 503 before it
//!   and whenever the last tick is older than 3 collect intervals (5 s at
//!   least): stalled collection must not look healthy
//! - `GET /api/v1/rules`, `GET /api/v1/alerts`  the rules and their alerts, in
//!   the JSON shape of Prometheus' endpoints of those names
//!
//! - `POST /-/reload`    reloads config and rules and answers with the outcome:
//!   200 (naming changed settings that take effect on a restart) or 500 with
//!   the reason it was refused; needs `Authorization: Bearer
//!   <web.reload_token>`, and is off without a token
//! - the push endpoints, listed in `crate::push::endpoint`, which answers
//!   them: the JSON batch API, the Pushgateway's API and OTLP/HTTP metrics
//!
//! HEAD is answered like GET without a body; other methods get 405.
//!
//! Before routing, `web::Guard` checks every request (allowlists,
//! credentials, rates, concurrency, body size), classed by the `Route` the
//! router then dispatches on; the connection itself is bounded by
//! `web.limits` (connections, header read time and size) and may be TLS.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tracing::{debug, info, warn};

use crate::exposition::{Format, accepts_gzip};
use crate::pipeline::{Published, Readiness, Tick};
use crate::push::endpoint::PushPath;
use crate::responses::{json_error, plain};
use crate::web::connections::{Slot, Slots, Tracked};
use crate::web::{Class, Guard};

/// In-flight requests get this long to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

pub struct Endpoints {
    pub telemetry_path: String,
    pub published: Arc<Published>,
    /// `POST /-/reload`, when a token is configured.
    pub reload: Option<ReloadEndpoint>,
    /// The push endpoints, when a push token is configured.
    pub push: Option<PushEndpoint>,
}

pub use crate::push::endpoint::PushEndpoint;

pub struct ReloadEndpoint {
    pub token: String,
    pub requests: tokio::sync::mpsc::Sender<crate::reload::Request>,
}

/// How long `POST /-/reload` waits for its outcome: a reload runs between
/// two ticks, so a tick stuck in a collector holds it up.
const RELOAD_WAIT: Duration = Duration::from_secs(30);

type Body = Full<Bytes>;

/// The same refusal with its text in the push endpoints' JSON error shape.
async fn as_json(refusal: Response<Body>) -> Response<Body> {
    use http_body_util::BodyExt;
    let (parts, body) = refusal.into_parts();
    let text = match body.collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes())
            .trim()
            .to_owned(),
        Err(never) => match never {},
    };
    let mut response = json_error(parts.status, &text);
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            // append: a refusal can carry one challenge per scheme.
            response.headers_mut().append(name.clone(), value.clone());
        }
    }
    response
}

/// What the router does with a request, decided once from its path. The
/// guard classes a request by its route and method, so a request is guarded
/// as what it will do: the Pushgateway's `/metrics/job@base64/...` form is a
/// push like `/metrics/job/...`, because the same parser routes both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// A push API's path, answered by `crate::push::endpoint`.
    Push(PushPath),
    /// `/-/reload`.
    Reload,
    /// Every other path, answered from the headers alone by `handle`.
    Page,
}

impl Route {
    pub fn of(path: &str) -> Route {
        if let Some(push) = PushPath::of(path) {
            Route::Push(push)
        } else if path == "/-/reload" {
            Route::Reload
        } else {
            Route::Page
        }
    }

    /// The guard class: write for a method that pushes, admin for a
    /// reload, read for the rest, which changes nothing (a push or reload
    /// path asked with another method gets 405).
    pub fn class(self, method: &Method) -> Class {
        match self {
            Route::Push(push) if push.accepts(method) => Class::Write,
            Route::Reload if method == Method::POST => Class::Admin,
            _ => Class::Read,
        }
    }

    fn is_push(self) -> bool {
        matches!(self, Route::Push(_))
    }
}

/// The pages a `Route::Page` request may ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Page {
    Landing,
    Metrics,
    Healthy,
    Ready,
    Rules,
    Alerts,
}

/// Every page in one table: `handle` routes by it and the landing page
/// links the entries with a title, in this order, so a linked page is
/// always one that is served. Each entry: the page, its path (`None` for the
/// configured telemetry path) and its link text on the landing page.
const PAGES: [(Page, Option<&str>, Option<&str>); 6] = [
    (Page::Landing, Some("/"), None),
    (Page::Metrics, None, Some("Metrics")),
    (Page::Healthy, Some("/-/healthy"), Some("Health")),
    (Page::Ready, Some("/-/ready"), Some("Readiness")),
    (Page::Rules, Some("/api/v1/rules"), None),
    (Page::Alerts, Some("/api/v1/alerts"), None),
];

impl Page {
    /// The page at `path`: a fixed path first, then the telemetry path.
    fn of(path: &str, telemetry_path: &str) -> Option<Page> {
        PAGES
            .iter()
            .find(|(_, fixed, _)| *fixed == Some(path))
            .or_else(|| {
                PAGES
                    .iter()
                    .find(|(_, fixed, _)| fixed.is_none() && path == telemetry_path)
            })
            .map(|(page, _, _)| *page)
    }
}

impl Endpoints {
    /// Answers one request: the push endpoints read their body; every
    /// other endpoint answers from the headers alone.
    pub async fn respond(
        &self,
        request: Request<hyper::body::Incoming>,
        route: Route,
        guard: &Guard,
    ) -> Response<Body> {
        match route {
            Route::Push(at) => {
                crate::push::endpoint::respond(self.push.as_ref(), at, request, guard).await
            }
            Route::Reload => self.reload(&request).await,
            Route::Page => self.handle(&request),
        }
    }

    pub fn handle<B>(&self, request: &Request<B>) -> Response<Body> {
        if request.method() != Method::GET && request.method() != Method::HEAD {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let Some(page) = Page::of(request.uri().path(), &self.telemetry_path) else {
            return plain(StatusCode::NOT_FOUND, "not found\n");
        };
        match page {
            Page::Landing => self.landing_page(),
            Page::Healthy => plain(StatusCode::OK, "outrider is healthy.\n"),
            Page::Ready => match self.published.readiness(std::time::Instant::now()) {
                // Ready means every endpoint answers, pushes included.
                Readiness::Ready if self.push.as_ref().is_some_and(|p| p.store.get().is_none()) => {
                    plain(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "outrider is not ready yet: pushed metrics are being restored.\n",
                    )
                }
                Readiness::Ready => plain(StatusCode::OK, "outrider is ready.\n"),
                Readiness::NotYet => plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "outrider is not ready yet.\n",
                ),
                Readiness::Stale { age } => {
                    let mut response = Response::new(Full::new(Bytes::from(format!(
                        "outrider is not ready: the last collection finished {:.1}s ago; collection has stalled.\n",
                        age.as_secs_f64()
                    ))));
                    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/plain; charset=utf-8"),
                    );
                    response
                }
            },
            Page::Rules => self.api(|tick| tick.rules_json.clone()),
            Page::Alerts => self.api(|tick| tick.alerts_json.clone()),
            Page::Metrics => self.metrics(request),
        }
    }

    async fn reload<B>(&self, request: &Request<B>) -> Response<Body> {
        let Some(reload) = &self.reload else {
            return plain(
                StatusCode::NOT_FOUND,
                "reload over HTTP is off; set web.reload_token to turn it on\n",
            );
        };
        if request.method() != Method::POST {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "use POST\n");
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        if !bearer_matches(request, &reload.token) {
            let mut response = plain(
                StatusCode::UNAUTHORIZED,
                "a valid bearer token is required\n",
            );
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
        let (reply, outcome) = tokio::sync::oneshot::channel();
        let asked = reload
            .requests
            .send(crate::reload::Request { reply: Some(reply) });
        let text = |status: StatusCode, text: String| {
            let mut response = Response::new(Full::new(Bytes::from(text)));
            *response.status_mut() = status;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            response
        };
        let gone = || {
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                "collection has stopped; nothing can be reloaded\n".to_owned(),
            )
        };
        let waited = tokio::time::timeout(RELOAD_WAIT, async {
            asked.await.ok()?;
            outcome.await.ok()
        })
        .await;
        match waited {
            Ok(Some(Ok(applied))) if applied.needs_restart.is_empty() => text(
                StatusCode::OK,
                "configuration and rules reloaded\n".to_owned(),
            ),
            Ok(Some(Ok(applied))) => text(
                StatusCode::OK,
                format!(
                    "configuration and rules reloaded; these changed settings take effect on a restart: {}\n",
                    applied.needs_restart.join(", ")
                ),
            ),
            Ok(Some(Err(error))) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "reload refused; the previous configuration and rules keep running: {error}\n"
                ),
            ),
            Ok(None) => gone(),
            Err(_) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the reload did not finish within {}s (a tick is still running); it happens once the tick is done\n",
                    RELOAD_WAIT.as_secs()
                ),
            ),
        }
    }

    fn api(&self, document: impl Fn(&Tick) -> Bytes) -> Response<Body> {
        let Some(tick) = self.published.get() else {
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "the first evaluation has not finished yet\n",
            );
        };
        let mut response = Response::new(Full::new(document(&tick)));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }

    fn metrics<B>(&self, request: &Request<B>) -> Response<Body> {
        let Some(tick) = self.published.get() else {
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "the first collection has not finished yet\n",
            );
        };
        let header_str = |name| {
            request
                .headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
        };
        let format = Format::negotiate(header_str(header::ACCEPT));
        let gzip = accepts_gzip(header_str(header::ACCEPT_ENCODING));
        let selected = crate::exposition::collect_params(request.uri().query().unwrap_or(""));
        let body = if selected.is_empty() {
            tick.exposition.body(format, gzip)
        } else {
            match tick.exposition.select(format, &selected) {
                Ok(body) if gzip => crate::exposition::gzip_bytes(&body),
                Ok(body) => body,
                Err(e) => {
                    let mut refused = Response::new(Full::new(Bytes::from(format!("{e}\n"))));
                    *refused.status_mut() = StatusCode::BAD_REQUEST;
                    return refused;
                }
            }
        };
        let mut response = Response::new(Full::new(body));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        );
        if gzip {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        headers.insert(
            header::VARY,
            HeaderValue::from_static("Accept, Accept-Encoding"),
        );
        response
    }

    fn landing_page(&self) -> Response<Body> {
        let links: String = PAGES
            .iter()
            .filter_map(|(_, fixed, title)| {
                let path = html_escape(fixed.unwrap_or(&self.telemetry_path));
                title.map(|title| format!("<li><a href=\"{path}\">{title}</a></li>\n"))
            })
            .collect();
        let page = format!(
            "<!DOCTYPE html>\n<html><head><title>outrider</title></head><body>\n\
<h1>outrider</h1>\n<p>A monitoring sidecar, version {version}.</p>\n<ul>\n\
{links}</ul>\n</body></html>\n",
            version = crate::build::VERSION,
        );
        let mut response = Response::new(Full::new(Bytes::from(page)));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        response
    }
}

fn bearer_matches<B>(request: &Request<B>, token: &str) -> bool {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    crate::web::auth::bearer_matches(given, token)
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Serves until `shutdown` completes, then lets in-flight requests finish for
/// a few seconds. Every request passes `guard` before it is routed.
pub async fn serve(
    listener: TcpListener,
    endpoints: Arc<Endpoints>,
    guard: Arc<Guard>,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(guard.limits.header_read_timeout)
        // A request line and headers longer than this get 431. The read
        // buffer's limit alone lets a head that arrives in one read grow
        // past it (by up to the buffer's next increment); this counts the
        // parsed head exactly.
        .max_header_size(guard.limits.max_header_bytes)
        .max_buf_size(guard.limits.max_header_bytes);
    let slots = (guard.limits.max_connections > 0)
        .then(|| Slots::new(guard.limits.max_connections, guard.limits.body_read_timeout));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Out of fds and similar: back off rather than spin.
                    warn!(error = %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // An address no allowlist holds could only be refused: it is closed
        // before it takes a slot, so it cannot hold one by sending slowly.
        if !guard.admits_address(peer.ip()) {
            debug!(peer = %peer, "connection refused by the allowlists");
            drop(stream);
            continue;
        }
        // Over max_connections, the longest idle connection gives way;
        // when all are busy, this one waits and later clients wait in the
        // listen backlog, as behind Go's netutil.LimitListener.
        let slot = match &slots {
            None => None,
            Some(slots) => tokio::select! {
                slot = slots.acquire() => Some(slot),
                _ = &mut shutdown => break,
            },
        };
        let active = guard.active();
        let connection = Connection {
            endpoints: Arc::clone(&endpoints),
            guard: Arc::clone(&guard),
            builder: builder.clone(),
            watcher: graceful.watcher(),
            peer,
            slot: slot.clone(),
        };
        tokio::spawn(async move {
            let serving = async move {
                match &active.tls {
                    None => connection.serve(stream).await,
                    Some(acceptor) => {
                        // The handshake is bounded like the headers, or a
                        // client could hold a slot by never finishing it.
                        let timeout = connection.guard.limits.header_read_timeout;
                        match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                            Ok(Ok(stream)) => connection.serve(stream).await,
                            Ok(Err(error)) => {
                                debug!(peer = %peer, error = %error, "TLS handshake failed");
                            }
                            Err(_) => debug!(peer = %peer, "TLS handshake timed out"),
                        }
                    }
                }
            };
            match slot {
                None => serving.await,
                Some(slot) => tokio::select! {
                    () = serving => {}
                    () = slot.evicted() => {
                        debug!(peer = %peer, "idle connection closed to make room for a new one");
                    }
                },
            }
        });
    }
    drop(listener);
    info!("shutting down; waiting for in-flight requests");
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(SHUTDOWN_GRACE) => warn!("in-flight requests did not finish in time"),
    }
}

struct Connection {
    endpoints: Arc<Endpoints>,
    guard: Arc<Guard>,
    builder: hyper::server::conn::http1::Builder,
    watcher: hyper_util::server::graceful::Watcher,
    peer: std::net::SocketAddr,
    /// Its slot under max_connections: busy while a request is answered.
    slot: Option<Arc<Slot>>,
}

impl Connection {
    async fn serve<I>(self, io: I)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            endpoints,
            guard,
            builder,
            watcher,
            peer,
            slot,
        } = self;
        let service = service_fn(move |request: Request<hyper::body::Incoming>| {
            let endpoints = Arc::clone(&endpoints);
            let guard = Arc::clone(&guard);
            let slot = slot.clone();
            if let Some(slot) = &slot {
                slot.busy(std::time::Instant::now());
            }
            async move {
                let active = guard.active();
                let route = Route::of(request.uri().path());
                let class = route.class(request.method());
                let mut response = match guard.admit(&request, class, peer.ip(), &active).await {
                    Ok(_admitted) => endpoints.respond(request, route, &guard).await,
                    // Pushers get every error in the same JSON shape.
                    Err(refusal) if route.is_push() => as_json(refusal).await,
                    Err(refusal) => refusal,
                };
                active.decorate(&mut response);
                // Idle again once the response is written, not before.
                Ok::<_, Infallible>(response.map(|body| Tracked::new(body, slot)))
            }
        });
        let connection = builder.serve_connection(TokioIo::new(io), service);
        if let Err(error) = watcher.watch(connection).await {
            debug!(peer = %peer, error = %error, "connection ended with an error");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::Exposition;
    use crate::metric::Family;

    fn endpoints(ready: bool) -> Endpoints {
        let published = Arc::new(Published::default());
        if ready {
            published.publish(Tick::of(Exposition::new(vec![
                Family::gauge("g", "G.").single(1.0),
            ])));
        }
        Endpoints {
            telemetry_path: "/metrics".into(),
            published,
            reload: None,
            push: None,
        }
    }

    fn get(endpoints: &Endpoints, path: &str) -> Response<Body> {
        endpoints.handle(&Request::get(path).body(()).unwrap())
    }

    #[test]
    fn classes_by_route_and_method() {
        let class = |method: Method, path| Route::of(path).class(&method);
        assert_eq!(class(Method::POST, "/-/reload"), Class::Admin);
        // Answered 405, changing nothing.
        assert_eq!(class(Method::GET, "/-/reload"), Class::Read);
        assert_eq!(class(Method::PUT, "/-/quit"), Class::Read);
        assert_eq!(class(Method::GET, "/-/healthy"), Class::Read);
        assert_eq!(class(Method::POST, "/api/v1/metrics/push"), Class::Write);
        assert_eq!(class(Method::GET, "/api/v1/metrics/push"), Class::Read);
        assert_eq!(
            class(Method::PUT, "/metrics/job/a/instance/b"),
            Class::Write
        );
        assert_eq!(class(Method::DELETE, "/metrics/job/a"), Class::Write);
        assert_eq!(class(Method::POST, "/metrics/job/a"), Class::Write);
        assert_eq!(class(Method::GET, "/metrics/job/a"), Class::Read);
        // The Pushgateway's base64 form of the job is a push too, and so
        // is a malformed one, which the push handler answers with 400.
        for path in [
            "/metrics/job@base64/YnlwYXNz",
            "/metrics/job@base64/Zm9vL2Jhcg/instance/x",
            "/metrics/job@base64/!!",
        ] {
            assert_eq!(Route::of(path), Route::Push(PushPath::Gateway), "{path}");
            assert_eq!(class(Method::PUT, path), Class::Write, "{path}");
            assert_eq!(class(Method::DELETE, path), Class::Write, "{path}");
        }
        assert_eq!(class(Method::GET, "/metrics/job@base64/YQ"), Class::Read);
        for path in ["/v1/metrics", "/api/v1/otlp/v1/metrics"] {
            assert_eq!(Route::of(path), Route::Push(PushPath::Otlp), "{path}");
            assert_eq!(class(Method::POST, path), Class::Write, "{path}");
            assert_eq!(class(Method::GET, path), Class::Read, "{path}");
        }
        assert_eq!(Route::of("/metrics/jobs/a"), Route::Page);
        assert_eq!(class(Method::POST, "/metrics"), Class::Read);
        assert_eq!(class(Method::GET, "/metrics"), Class::Read);
        assert_eq!(class(Method::GET, "/api/v1/alerts"), Class::Read);
    }

    #[test]
    fn routes_and_readiness() {
        let not_ready = endpoints(false);
        assert_eq!(get(&not_ready, "/-/healthy").status(), StatusCode::OK);
        assert_eq!(
            get(&not_ready, "/-/ready").status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            get(&not_ready, "/metrics").status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let ready = endpoints(true);
        assert_eq!(get(&ready, "/-/ready").status(), StatusCode::OK);
        assert_eq!(get(&ready, "/metrics").status(), StatusCode::OK);
        assert_eq!(get(&ready, "/").status(), StatusCode::OK);
        assert_eq!(get(&ready, "/nope").status(), StatusCode::NOT_FOUND);
        let post = ready.handle(&Request::post("/metrics").body(()).unwrap());
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(post.headers()[header::ALLOW], "GET, HEAD");
    }

    #[test]
    fn the_landing_page_links_the_page_table_and_every_link_is_served() {
        let mut ready = endpoints(true);
        ready.telemetry_path = "/prom".into();
        let landing = get(&ready, "/");
        let body = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(http_body_util::BodyExt::collect(landing.into_body()))
            .unwrap()
            .to_bytes();
        let body = String::from_utf8(body.to_vec()).unwrap();
        let links: Vec<&str> = body
            .split("<a href=\"")
            .skip(1)
            .map(|rest| rest.split("</a>").next().unwrap())
            .collect();
        assert_eq!(
            links,
            [
                "/prom\">Metrics",
                "/-/healthy\">Health",
                "/-/ready\">Readiness"
            ]
        );
        for link in links {
            let path = link.split('"').next().unwrap();
            assert_eq!(get(&ready, path).status(), StatusCode::OK, "{path}");
        }
        assert_eq!(get(&ready, "/metrics").status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn a_stale_tick_is_not_ready_but_still_served() {
        let stalled = endpoints(false);
        let long_ago = std::time::Instant::now()
            .checked_sub(Duration::from_secs(600))
            .expect("the clock is past ten minutes");
        stalled.published.publish_at(
            Tick::of(Exposition::new(vec![Family::gauge("g", "G.").single(1.0)])),
            long_ago,
        );
        let ready = get(&stalled, "/-/ready");
        assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(get(&stalled, "/metrics").status(), StatusCode::OK);
    }
}
