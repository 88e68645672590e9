//! Limits on what a client can make outrider do: request rates per endpoint
//! class (429 with Retry-After), body sizes (413), concurrent connections
//! and requests (503, like node_exporter's `--web.max-requests`), and how
//! long a client may take to send headers and bodies.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::StatusCode;
use serde::Deserialize;

/// `web.limits`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(from = "RawLimits")]
pub struct LimitsConfig {
    /// Metrics, landing page, health, readiness, status APIs.
    pub read: ClassLimits,
    /// Push endpoints.
    pub write: ClassLimits,
    /// `POST /-/reload`.
    pub admin: ClassLimits,
    /// Open connections at most. Past it, a new connection takes the slot
    /// of the one idle longest (no request in progress), which is closed;
    /// when all are busy, further clients wait in the listen backlog.
    /// 0: no limit.
    pub max_connections: usize,
    /// Requests served at once at most; more get 503 with Retry-After, as
    /// node_exporter's `--web.max-requests` does. Write and admin requests
    /// together leave a quarter (at least one) to reads. 0: no limit.
    pub max_requests: usize,
    /// A client gets this long to send its request headers (and to finish a
    /// TLS handshake); then the connection is closed.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// A client gets this long to send a request body; then 408.
    #[serde(with = "humantime_serde")]
    pub body_read_timeout: Duration,
    /// Request line and headers together at most, in bytes (at least 8192),
    /// counted exactly; more gets 431, a long URI included.
    pub max_header_bytes: usize,
    /// Series one push group (one job and grouping labels) may hold; enforced
    /// by the push store.
    pub max_push_series_per_group: usize,
    /// Series all push groups together may hold; enforced by the push store.
    pub max_push_series_total: usize,
}

/// The limits of one endpoint class.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassLimits {
    /// Requests per second, over all clients; 0: no limit.
    pub rate: f64,
    /// Requests allowed in a burst above `rate`; at least 1 when `rate` is set.
    pub burst: u32,
    /// Largest request body, in bytes; more gets 413.
    pub max_body_bytes: u64,
}

/// `web.limits` as written: a class's key left out keeps that class's
/// default, not a default shared by all classes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLimits {
    read: RawClassLimits,
    write: RawClassLimits,
    admin: RawClassLimits,
    max_connections: usize,
    max_requests: usize,
    #[serde(with = "humantime_serde")]
    header_read_timeout: Duration,
    #[serde(with = "humantime_serde")]
    body_read_timeout: Duration,
    max_header_bytes: usize,
    max_push_series_per_group: usize,
    max_push_series_total: usize,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawClassLimits {
    rate: Option<f64>,
    burst: Option<u32>,
    max_body_bytes: Option<u64>,
}

impl RawClassLimits {
    fn over(self, default: ClassLimits) -> ClassLimits {
        ClassLimits {
            rate: self.rate.unwrap_or(default.rate),
            burst: self.burst.unwrap_or(default.burst),
            max_body_bytes: self.max_body_bytes.unwrap_or(default.max_body_bytes),
        }
    }
}

impl Default for RawLimits {
    fn default() -> Self {
        let d = LimitsConfig::default();
        RawLimits {
            read: RawClassLimits::default(),
            write: RawClassLimits::default(),
            admin: RawClassLimits::default(),
            max_connections: d.max_connections,
            max_requests: d.max_requests,
            header_read_timeout: d.header_read_timeout,
            body_read_timeout: d.body_read_timeout,
            max_header_bytes: d.max_header_bytes,
            max_push_series_per_group: d.max_push_series_per_group,
            max_push_series_total: d.max_push_series_total,
        }
    }
}

impl From<RawLimits> for LimitsConfig {
    fn from(raw: RawLimits) -> Self {
        LimitsConfig {
            read: raw.read.over(ClassLimits::read_default()),
            write: raw.write.over(ClassLimits::write_default()),
            admin: raw.admin.over(ClassLimits::admin_default()),
            max_connections: raw.max_connections,
            max_requests: raw.max_requests,
            header_read_timeout: raw.header_read_timeout,
            body_read_timeout: raw.body_read_timeout,
            max_header_bytes: raw.max_header_bytes,
            max_push_series_per_group: raw.max_push_series_per_group,
            max_push_series_total: raw.max_push_series_total,
        }
    }
}

impl ClassLimits {
    pub fn read_default() -> ClassLimits {
        ClassLimits {
            rate: 0.0,
            burst: 1,
            max_body_bytes: 64 << 10,
        }
    }

    pub fn write_default() -> ClassLimits {
        ClassLimits {
            rate: 100.0,
            burst: 200,
            max_body_bytes: 16 << 20,
        }
    }

    pub fn admin_default() -> ClassLimits {
        ClassLimits {
            rate: 1.0,
            burst: 10,
            max_body_bytes: 64 << 10,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            read: ClassLimits::read_default(),
            write: ClassLimits::write_default(),
            admin: ClassLimits::admin_default(),
            max_connections: 1024,
            max_requests: 40,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_header_bytes: 64 << 10,
            max_push_series_per_group: 10_000,
            max_push_series_total: 200_000,
        }
    }
}

impl LimitsConfig {
    pub fn validate(&self) -> Result<(), String> {
        for (name, class) in [
            ("read", &self.read),
            ("write", &self.write),
            ("admin", &self.admin),
        ] {
            if !class.rate.is_finite() || class.rate < 0.0 {
                return Err(format!(
                    "web.limits.{name}.rate must be 0 (no limit) or a positive number of requests per second"
                ));
            }
            if class.rate > 0.0 && class.burst == 0 {
                return Err(format!(
                    "web.limits.{name}.burst must be at least 1 when a rate is set"
                ));
            }
        }
        if self.header_read_timeout.is_zero() || self.body_read_timeout.is_zero() {
            return Err(
                "web.limits.header_read_timeout and body_read_timeout must be more than 0s (for example 10s)"
                    .to_owned(),
            );
        }
        // hyper panics on a read buffer under 8 KiB.
        if self.max_header_bytes < 8192 {
            return Err(format!(
                "web.limits.max_header_bytes is {}; it must be at least 8192",
                self.max_header_bytes
            ));
        }
        if self.max_push_series_total < self.max_push_series_per_group {
            return Err(
                "web.limits.max_push_series_total must be at least max_push_series_per_group"
                    .to_owned(),
            );
        }
        Ok(())
    }
}

/// A token bucket shared by every client of one class.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    /// None when `rate` is 0 (no limit).
    pub fn new(limits: &ClassLimits, now: Instant) -> Option<RateLimiter> {
        (limits.rate > 0.0).then(|| RateLimiter {
            rate: limits.rate,
            burst: f64::from(limits.burst.max(1)),
            state: Mutex::new(Bucket {
                tokens: f64::from(limits.burst.max(1)),
                last: now,
            }),
        })
    }

    /// Takes a token, or says in how many whole seconds one will be there.
    pub fn take(&self, now: Instant) -> Result<(), u64> {
        let mut bucket = crate::model::sync::lock(&self.state);
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / self.rate;
            Err((wait.ceil() as u64).max(1))
        }
    }
}

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the request body is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the request body did not arrive within {0:?}")]
    Timeout(Duration),
    #[error("reading the request body: {0}")]
    Read(String),
}

impl BodyError {
    /// The status to answer with: 413, 408 or 400.
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            BodyError::Read(_) => StatusCode::BAD_REQUEST,
        }
    }
}

/// Reads a whole request body, refusing it once it passes `limit` bytes or
/// takes longer than `timeout`. Handlers that take a body (push) read it
/// through this, with their class's `max_body_bytes` and
/// `body_read_timeout`, so a chunked body with no Content-Length is bounded
/// too.
pub async fn read_body_limited<B>(
    body: B,
    limit: u64,
    timeout: Duration,
) -> Result<Bytes, BodyError>
where
    B: hyper::body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let limited = Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
    match tokio::time::timeout(timeout, limited.collect()).await {
        Err(_) => Err(BodyError::Timeout(timeout)),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) => {
            if error.is::<http_body_util::LengthLimitError>() {
                Err(BodyError::TooLarge { limit })
            } else {
                Err(BodyError::Read(error.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};

    #[test]
    fn the_bucket_refills_at_the_rate() {
        let start = Instant::now();
        let limits = ClassLimits {
            rate: 2.0,
            burst: 3,
            max_body_bytes: 0,
        };
        let limiter = RateLimiter::new(&limits, start).unwrap();
        for _ in 0..3 {
            assert_eq!(limiter.take(start), Ok(()));
        }
        assert_eq!(limiter.take(start), Err(1));
        // Half a second gives one token at 2/s.
        assert_eq!(limiter.take(start + Duration::from_millis(500)), Ok(()));
        assert!(limiter.take(start + Duration::from_millis(500)).is_err());
        // A long pause fills up to the burst, not beyond.
        let later = start + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(limiter.take(later), Ok(()));
        }
        assert!(limiter.take(later).is_err());
        let slow = ClassLimits {
            rate: 0.1,
            burst: 1,
            max_body_bytes: 0,
        };
        let limiter = RateLimiter::new(&slow, start).unwrap();
        assert_eq!(limiter.take(start), Ok(()));
        assert_eq!(limiter.take(start), Err(10), "Retry-After in whole seconds");
        assert!(RateLimiter::new(&ClassLimits::read_default(), start).is_none());
    }

    #[test]
    fn defaults_are_valid_and_bad_values_named() {
        LimitsConfig::default().validate().unwrap();
        let limits = LimitsConfig {
            max_header_bytes: 100,
            ..LimitsConfig::default()
        };
        assert!(limits.validate().unwrap_err().contains("max_header_bytes"));
        let mut limits = LimitsConfig::default();
        limits.write.rate = -1.0;
        assert!(
            limits
                .validate()
                .unwrap_err()
                .contains("web.limits.write.rate")
        );
        let mut limits = LimitsConfig::default();
        limits.admin.burst = 0;
        assert!(
            limits
                .validate()
                .unwrap_err()
                .contains("web.limits.admin.burst")
        );
    }

    #[tokio::test]
    async fn bodies_are_bounded_in_size_and_time() {
        let small = Full::new(Bytes::from_static(b"0123456789"));
        let read = read_body_limited(small, 10, Duration::from_secs(1)).await;
        assert_eq!(read.unwrap(), Bytes::from_static(b"0123456789"));

        let large = Full::new(Bytes::from(vec![b'x'; 11]));
        let error = read_body_limited(large, 10, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(error.status(), StatusCode::PAYLOAD_TOO_LARGE);

        // A body that sends one chunk and then stalls, as a slow client does.
        let (sender, receiver) = tokio::sync::mpsc::channel::<
            Result<hyper::body::Frame<Bytes>, std::convert::Infallible>,
        >(1);
        sender
            .send(Ok(hyper::body::Frame::data(Bytes::from_static(b"a"))))
            .await
            .unwrap();
        let stalled = StreamBody::new(tokio_stream_from(receiver));
        let error = read_body_limited(stalled, 10, Duration::from_millis(100))
            .await
            .unwrap_err();
        assert_eq!(error.status(), StatusCode::REQUEST_TIMEOUT);
        drop(sender);
    }

    fn tokio_stream_from<T>(
        mut receiver: tokio::sync::mpsc::Receiver<T>,
    ) -> impl futures_util::Stream<Item = T> {
        futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
    }
}
