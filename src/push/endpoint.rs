//! The push endpoints' HTTP side: which paths push, what each accepts, and
//! how a request becomes an [`Op`] and its answer. `crate::http` routes
//! here and knows no push format.
//!
//! - `POST /api/v1/metrics/push`  a JSON batch of metrics
//! - `PUT|POST|DELETE /metrics/job/<job>{/<label>/<value>}`  the
//!   Pushgateway's API: replace a group, replace its metrics of the pushed
//!   names, delete it; also `/metrics/job@base64/<job>...`, its form for
//!   any job name; the body is the text format or, by Content-Type, the
//!   delimited protobuf format the Go client sends
//! - `POST /v1/metrics`, `POST /api/v1/otlp/v1/metrics`  OTLP/HTTP metrics,
//!   protobuf or JSON (`super::otlp`)
//!
//! Every push needs `Authorization: Bearer <push.token>` or a user of
//! `push.basic_auth_users`; pushing is off (404) without either. Errors are JSON: `{"status":"error","error":…}`.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tracing::warn;

use super::otlp::Encoding;
use super::{GatewayFormat, Op, PushError, PushMethod, PushStore};
use crate::responses::{json_error, plain};
use crate::web::{Class, Guard, read_body_limited};

type Body = Full<Bytes>;

/// What a client told "too many series" should wait before trying again.
const SERIES_LIMIT_RETRY_AFTER: &str = "60";

const JSON_PUSH_PATH: &str = "/api/v1/metrics/push";

/// The push store behind the endpoints. Credentials (`push.token`,
/// `push.basic_auth_users`) are checked by `web::Guard` before a push is
/// routed here.
pub struct PushEndpoint {
    /// Set once the store is restored: the port opens before a long log
    /// is replayed, so liveness probes pass while pushes wait.
    pub store: Arc<std::sync::OnceLock<Arc<PushStore>>>,
}

/// The push API a path belongs to, decided from the path alone so the
/// guard classes a request as what it will do: the Pushgateway's
/// `/metrics/job@base64/...` form is a push like `/metrics/job/...`,
/// because the same parser routes both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushPath {
    /// `/api/v1/metrics/push`.
    Json,
    /// `/metrics/job/...` and `/metrics/job@base64/...`.
    Gateway,
    /// OTLP/HTTP metrics: `/v1/metrics` and `/api/v1/otlp/v1/metrics`.
    Otlp,
}

impl PushPath {
    pub fn of(path: &str) -> Option<PushPath> {
        if path == JSON_PUSH_PATH {
            Some(PushPath::Json)
        } else if super::otlp::PATHS.contains(&path) {
            Some(PushPath::Otlp)
        } else if super::pushgateway::grouping_key(path).is_some() {
            Some(PushPath::Gateway)
        } else {
            None
        }
    }

    /// The methods that push here; others are answered 405 and change
    /// nothing.
    pub fn accepts(self, method: &Method) -> bool {
        match self {
            PushPath::Json | PushPath::Otlp => method == Method::POST,
            PushPath::Gateway => [Method::PUT, Method::POST, Method::DELETE].contains(method),
        }
    }

    fn allow_header(self) -> &'static str {
        match self {
            PushPath::Json | PushPath::Otlp => "POST",
            PushPath::Gateway => "PUT, POST, DELETE",
        }
    }
}

/// Answers one push request to `at`; `push` is `None` when pushing is off.
pub async fn respond(
    push: Option<&PushEndpoint>,
    at: PushPath,
    request: Request<hyper::body::Incoming>,
    guard: &Guard,
) -> Response<Body> {
    let Some(push) = push else {
        return json_error(
            StatusCode::NOT_FOUND,
            "pushing is off; set push.token (or OUTRIDER_PUSH_TOKEN) to turn it on",
        );
    };
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    if !at.accepts(&method) {
        let mut response = json_error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(at.allow_header()));
        return response;
    }
    let ttl = match request_ttl(&request) {
        Ok(ttl) => ttl,
        Err(message) => return json_error(StatusCode::BAD_REQUEST, &message),
    };
    let mut gzipped = false;
    if let Some(encoding) = request
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .filter(|e| !e.eq_ignore_ascii_case("identity"))
    {
        // OTLP exporters may gzip (the Collector's does by default).
        if at == PushPath::Otlp && encoding.eq_ignore_ascii_case("gzip") {
            gzipped = true;
        } else {
            return json_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                &format!("Content-Encoding {encoding} is not accepted; send the body uncompressed"),
            );
        }
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let otlp_encoding = match at {
        PushPath::Otlp => match Encoding::of(&content_type) {
            Ok(encoding) => Some(encoding),
            Err(message) => return json_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, &message),
        },
        _ => None,
    };
    let format = match (at, super::protobuf::is_protobuf(&content_type)) {
        (PushPath::Otlp, _) => GatewayFormat::Text,
        (_, Err(message)) => return json_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, &message),
        (PushPath::Gateway, Ok(true)) => GatewayFormat::Protobuf,
        (PushPath::Json, Ok(true)) => {
            return json_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "this endpoint takes JSON; push protobuf to /metrics/job/<job>",
            );
        }
        (_, Ok(false)) => GatewayFormat::Text,
    };
    let limit = guard.max_body_bytes(Class::Write);
    let body = match read_body_limited(request.into_body(), limit, guard.limits.body_read_timeout)
        .await
    {
        Ok(body) => body,
        Err(error) => {
            return json_error(
                error.status(),
                &format!("{error} (web.limits.write.max_body_bytes, web.limits.body_read_timeout)"),
            );
        }
    };
    let body = if gzipped {
        match gunzip_limited(&body, limit) {
            Ok(body) => body,
            Err((status, message)) => return json_error(status, &message),
        }
    } else {
        body
    };
    let Some(store) = push.store.get().map(Arc::clone) else {
        let mut response = json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "pushed metrics are still being restored after the start; try again shortly",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    let now = crate::model::clock::unix_now();
    let built = match at {
        PushPath::Json => Op::from_json(&body, &store.config, now, ttl),
        PushPath::Gateway => {
            let method = match method {
                Method::PUT => PushMethod::Put,
                Method::DELETE => PushMethod::Delete,
                _ => PushMethod::Post,
            };
            Op::from_pushgateway_as(method, &path, &body, format, now, ttl).map(|op| (op, 0))
        }
        PushPath::Otlp => {
            let encoding = otlp_encoding.unwrap_or(Encoding::Protobuf);
            Op::from_otlp(&body, encoding, now, ttl).map(|op| (op, 0))
        }
    };
    let (op, count) = match built {
        Ok(built) => built,
        Err(message) => return json_error(StatusCode::BAD_REQUEST, &message),
    };
    let submitting = Arc::clone(&store);
    let outcome = match tokio::task::spawn_blocking(move || submitting.submit(op)).await {
        // Accepted only once it is on disk.
        Ok(Ok((stale, position))) => Ok(store.durable(position).await.map(|()| stale)),
        Ok(Err(error)) => Ok(Err(error)),
        Err(error) => Err(error),
    };
    match outcome {
        Ok(Ok(stale)) if at == PushPath::Json => {
            let body =
                serde_json::json!({"status": "success", "accepted": count - stale, "stale": stale});
            let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Ok(Ok(_)) if otlp_encoding.is_some() => {
            // An empty ExportMetricsServiceResponse: no partial success.
            let encoding = otlp_encoding.unwrap_or(Encoding::Protobuf);
            let body = match encoding {
                Encoding::Protobuf => Bytes::new(),
                Encoding::Json => Bytes::from_static(b"{}"),
            };
            let mut response = Response::new(Full::new(body));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(encoding.content_type()),
            );
            response
        }
        Ok(Ok(_)) if method == Method::DELETE => plain(StatusCode::ACCEPTED, ""),
        Ok(Ok(_)) => plain(StatusCode::OK, ""),
        Ok(Err(PushError::Invalid(message))) => json_error(StatusCode::BAD_REQUEST, &message),
        Ok(Err(PushError::Limit(message))) => {
            let mut response = json_error(StatusCode::TOO_MANY_REQUESTS, &message);
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(SERIES_LIMIT_RETRY_AFTER),
            );
            response
        }
        Ok(Err(PushError::NoSpace(message))) => {
            warn!(error = %message, "push not stored: the disk is full");
            let mut response = json_error(
                storage_status(at, StatusCode::INSUFFICIENT_STORAGE),
                &message,
            );
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(SERIES_LIMIT_RETRY_AFTER),
            );
            response
        }
        Ok(Err(error)) => {
            warn!(error = %error, "push not stored");
            let status = storage_status(at, StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = json_error(status, &error.to_string());
            if status == StatusCode::SERVICE_UNAVAILABLE {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            response
        }
        Err(error) => {
            warn!(error = %error, "push task failed");
            json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the push could not be applied",
            )
        }
    }
}

/// A gzipped body, unpacked to at most `limit` bytes: the body limit holds
/// for what the body becomes, so a small bomb cannot grow past it.
fn gunzip_limited(body: &[u8], limit: u64) -> Result<Bytes, (StatusCode, String)> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| {
            let message = format!("the gzipped body does not unpack: {e}");
            (StatusCode::BAD_REQUEST, message)
        })?;
    if out.len() as u64 > limit {
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the body unpacks to more than {limit} bytes (web.limits.write.max_body_bytes)"
            ),
        ));
    }
    Ok(Bytes::from(out))
}

/// A push's time to live: the `ttl` query parameter or the `Outrider-Ttl`
/// header (for clients that cannot change the URL).
fn request_ttl<B>(request: &Request<B>) -> Result<Option<f64>, String> {
    let from_query = request
        .uri()
        .query()
        .and_then(|query| query.split('&').find_map(|pair| pair.strip_prefix("ttl=")));
    let from_header = request
        .headers()
        .get("outrider-ttl")
        .and_then(|v| v.to_str().ok());
    match from_query.or(from_header) {
        Some(text) => crate::push::json::parse_ttl(text)
            .map(Some)
            .map_err(|e| format!("ttl: {e}")),
        None => Ok(None),
    }
}

/// The status of a push the storage could not take. OTLP exporters retry
/// only 429, 502, 503 and 504 and drop the data on any other answer, so an
/// OTLP push the disk could not take gets 503; the Pushgateway's clients
/// see the precise status.
fn storage_status(at: PushPath, status: StatusCode) -> StatusCode {
    if at == PushPath::Otlp {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        status
    }
}
