//! What one run of a probe found: success, the failure's reason, the
//! figures blackbox exports, and the phases of an HTTP run.

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
    pub(super) fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Failure {
            reason,
            detail: detail.into(),
        }
    }

    pub(super) fn io(what: &str, error: &std::io::Error) -> Self {
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
pub(super) const RESOLVE: usize = 0;
pub(super) const CONNECT: usize = 1;
pub(super) const TLS: usize = 2;
pub(super) const PROCESSING: usize = 3;
pub(super) const TRANSFER: usize = 4;

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
pub(super) struct Progress {
    pub(super) dns_lookup: f64,
    pub(super) tls_version: Option<&'static str>,
    pub(super) earliest_cert_expiry: Option<f64>,
    /// The last line an `expect` step read did not match.
    pub(super) expect_mismatch: bool,
}
