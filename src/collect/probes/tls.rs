//! TLS for probes: the CA certificates to trust, the client of one
//! probe, the handshake, and the expiry of the certificates shown.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ProtocolVersion, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::{config::*, outcome::*};

pub(super) struct TlsTarget {
    pub(super) connector: TlsConnector,
    pub(super) server_name: ServerName<'static>,
}

impl std::fmt::Debug for TlsTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTarget")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// The host's CA certificates, read once for all the probes that use them.
#[derive(Default)]
pub(super) struct HostRoots(Option<Arc<RootCertStore>>);

impl HostRoots {
    pub(super) fn get(&mut self) -> Result<Arc<RootCertStore>, String> {
        if let Some(roots) = &self.0 {
            return Ok(Arc::clone(roots));
        }
        let loaded = rustls_native_certs::load_native_certs();
        let mut store = RootCertStore::empty();
        let (added, _) = store.add_parsable_certificates(loaded.certs);
        if added == 0 {
            let why = loaded
                .errors
                .first()
                .map_or(String::new(), |e| format!(" ({e})"));
            return Err(format!(
                "tls: no CA certificates found on this host{why}; install them (Debian: ca-certificates) or set tls.ca_file"
            ));
        }
        let store = Arc::new(store);
        self.0 = Some(Arc::clone(&store));
        Ok(store)
    }
}

/// A TLS client for one probe; errors start with `tls` for the caller to
/// place.
pub(super) fn tls_target(
    config: &TlsConfig,
    host: &str,
    roots: &mut HostRoots,
) -> Result<TlsTarget, String> {
    let roots = match &config.ca_file {
        Some(path) => {
            let shown = path.display();
            let mut store = RootCertStore::empty();
            let certificates = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("tls.ca_file {shown}: {e}"))?;
            for certificate in certificates {
                let certificate = certificate.map_err(|e| format!("tls.ca_file {shown}: {e}"))?;
                store
                    .add(certificate)
                    .map_err(|e| format!("tls.ca_file {shown}: {e}"))?;
            }
            if store.is_empty() {
                return Err(format!("tls.ca_file {shown}: no PEM certificate in it"));
            }
            Arc::new(store)
        }
        None => roots.get()?,
    };
    let client =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("tls: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    let name = config.server_name.as_deref().unwrap_or(host);
    let server_name = ServerName::try_from(name.to_owned())
        .map_err(|_| format!("tls.server_name {name:?} is not a host name or IP address"))?;
    Ok(TlsTarget {
        connector: TlsConnector::from(Arc::new(client)),
        server_name,
    })
}

pub(super) async fn tls_handshake(
    tls: &TlsTarget,
    stream: TcpStream,
    progress: &mut Progress,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Failure> {
    let stream = tls
        .connector
        .connect(tls.server_name.clone(), stream)
        .await
        .map_err(|e| {
            Failure::new(
                Reason::Tls,
                format!("TLS handshake: {}", crate::model::error::describe_error(&e)),
            )
        })?;
    let session = stream.get_ref().1;
    progress.tls_version = Some(match session.protocol_version() {
        Some(ProtocolVersion::TLSv1_2) => "TLS 1.2",
        Some(ProtocolVersion::TLSv1_3) => "TLS 1.3",
        _ => "unknown",
    });
    progress.earliest_cert_expiry = session
        .peer_certificates()
        .and_then(|chain| earliest_expiry(chain.iter().map(|c| c.as_ref())));
    Ok(stream)
}

/// The earliest `notAfter` of a certificate chain (unix seconds), as
/// blackbox's `probe_ssl_earliest_cert_expiry`; certificates that do not
/// parse are skipped (rustls has verified the chain already).
pub fn earliest_expiry<'a>(chain: impl IntoIterator<Item = &'a [u8]>) -> Option<f64> {
    chain
        .into_iter()
        .filter_map(|der| x509_parser::parse_x509_certificate(der).ok())
        .map(|(_, certificate)| certificate.validity().not_after.timestamp())
        .min()
        .map(|seconds| seconds as f64)
}
