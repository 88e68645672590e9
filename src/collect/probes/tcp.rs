//! One TCP probe run: resolve, connect (through TLS when asked) and
//! play the `send` / `expect` steps; also the resolving and connecting
//! that HTTP probes share.

use std::net::SocketAddr;
use std::time::Instant;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{config::*, outcome::*, tls::*};

/// The longest line a TCP `expect` step reads before matching what it has
/// (blackbox's line scanner stops at 64 KiB too).
pub(super) const MAX_LINE: u64 = 64 * 1024;

/// `host:port` or `[v6]:port`.
pub(super) fn split_host_port(address: &str) -> Option<(String, u16)> {
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

pub(super) async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, Failure> {
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
pub(super) async fn connect(addresses: &[SocketAddr]) -> Result<TcpStream, Failure> {
    let mut last = None;
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(Failure::io(&format!("connecting to {address}"), &e)),
        }
    }
    Err(last.expect("resolve returns at least one address"))
}

pub(super) async fn probe_tcp(target: &TcpTarget, progress: &mut Progress) -> Result<(), Failure> {
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

pub(super) async fn run_steps<S>(
    stream: S,
    steps: &[Step],
    progress: &mut Progress,
) -> Result<(), Failure>
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
