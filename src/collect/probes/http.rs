//! One HTTP probe run: connect (through TLS when asked), send the
//! request, time each phase and check the answer.

use std::time::Instant;

use http_body_util::{BodyExt, Full};
use hyper::header::CONTENT_LENGTH;
use hyper::{Request, Version};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{config::*, outcome::*, tcp::*, tls::*};

/// Times the phases of a run: each lap is the time since the last.
pub(super) struct Laps(Instant);

impl Laps {
    pub(super) fn lap(&mut self) -> f64 {
        let now = Instant::now();
        let seconds = (now - self.0).as_secs_f64();
        self.0 = now;
        seconds
    }
}

pub(super) async fn probe_http(
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
pub(super) async fn exchange<S>(
    stream: S,
    target: &HttpTarget,
    figures: &mut HttpFigures,
    laps: &mut Laps,
) -> Result<(), Failure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let http_error =
        |e: hyper::Error| Failure::new(http_reason(&e), crate::model::error::describe_error(&e));
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

pub(super) fn http_reason(error: &hyper::Error) -> Reason {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return Reason::of_io(io);
        }
        source = cause.source();
    }
    Reason::Error
}
