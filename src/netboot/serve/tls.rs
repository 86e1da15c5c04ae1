//! The HTTPS listener's certificate and the listener itself. The certificate is self-signed
//! and made once into the state directory (`tls.crt`, `tls.key` 0600), so the pin in the
//! kernel arguments of machines already booting stays valid across restarts; its SAN is the
//! listen IP. Nodes trust it by the SHA-256 of its key's SPKI, never by a CA.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::{Extension, Router};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::Digest;
use tokio::net::TcpListener;

use super::ServeError;

const CERT: &str = "tls.crt";
const KEY: &str = "tls.key";

/// The server's TLS identity and its pin.
pub struct Identity {
    pub config: Arc<rustls::ServerConfig>,
    /// Hex SHA-256 of the key's SubjectPublicKeyInfo (`kateskit.config_tls_sha256`).
    pub spki_sha256: String,
}

/// Loads the certificate from `state`, or makes one for `ip` when there is none. A stored
/// certificate for another IP is replaced (nodes could not reach it under that name anyway).
pub fn identity(state: &Path, ip: IpAddr) -> Result<Identity, ServeError> {
    let (cp, kp) = (state.join(CERT), state.join(KEY));
    let stored = match (std::fs::read_to_string(&cp), std::fs::read_to_string(&kp)) {
        (Ok(c), Ok(k)) => Some((c, k)),
        _ => None,
    };
    let (cert_pem, key_pem) = match stored.filter(|(c, _)| names_ip(c, ip)) {
        Some(pair) => pair,
        None => {
            let key = rcgen::KeyPair::generate().map_err(tls_err)?;
            let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
            p.subject_alt_names.push(rcgen::SanType::IpAddress(ip));
            p.distinguished_name
                .push(rcgen::DnType::CommonName, "kateskit netboot");
            let cert = p.self_signed(&key).map_err(tls_err)?;
            let (c, k) = (cert.pem(), key.serialize_pem());
            crate::fsutil::write_atomic(&kp, k.as_bytes(), 0o600)?;
            crate::fsutil::write_atomic(&cp, c.as_bytes(), 0o644)?;
            (c, k)
        }
    };
    let key = rcgen::KeyPair::from_pem(&key_pem).map_err(|e| {
        ServeError::Tls(format!(
            "{}: {e} (delete {} and {} to make a new certificate)",
            kp.display(),
            kp.display(),
            cp.display()
        ))
    })?;
    let der = pem::parse(&cert_pem)
        .map_err(|e| ServeError::Tls(format!("{}: {e}", cp.display())))?
        .into_contents();
    let spki_sha256 = hex::encode(sha2::Sha256::digest(key.public_key_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(der)],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .map_err(tls_err)?;
    Ok(Identity {
        config: Arc::new(config),
        spki_sha256,
    })
}

fn tls_err(e: impl std::fmt::Display) -> ServeError {
    ServeError::Tls(e.to_string())
}

/// Whether the PEM certificate names `ip` among its SANs.
fn names_ip(cert_pem: &str, ip: IpAddr) -> bool {
    let Ok(p) = pem::parse(cert_pem) else {
        return false;
    };
    let Ok((_, c)) = x509_parser::parse_x509_certificate(p.contents()) else {
        return false;
    };
    let want = match ip {
        IpAddr::V4(v) => v.octets().to_vec(),
        IpAddr::V6(v) => v.octets().to_vec(),
    };
    c.subject_alternative_name()
        .ok()
        .flatten()
        .is_some_and(|san| {
            san.value.general_names.iter().any(|n| {
                matches!(n, x509_parser::extensions::GeneralName::IPAddress(b) if *b == want.as_slice())
            })
        })
}

/// Serves `router` over TLS on `listener` until the task is dropped; handlers see the
/// client's address as axum's `ConnectInfo`.
pub async fn serve(listener: TcpListener, config: Arc<rustls::ServerConfig>, router: Router) {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("netboot https accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let app = router
            .clone()
            .layer(Extension(ConnectInfo::<SocketAddr>(peer)));
        tokio::spawn(async move {
            // A client that never finishes the handshake does not hold a task for long.
            let tls =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(t)) => t,
                    _ => return,
                };
            let svc = hyper_util::service::TowerToHyperService::new(app);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                .await;
        });
    }
}
