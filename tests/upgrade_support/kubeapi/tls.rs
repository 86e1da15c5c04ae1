//! TLS and authentication as kube-apiserver does them: the serving certificate comes from the
//! cluster's server CA; a client certificate is requested but not required at the handshake,
//! and checked per request against the client CA (no valid one: 401, as with anonymous auth
//! off in k3s); only the `system:masters` group is authorised (others: 403).

use std::path::Path;
use std::sync::Arc;

use rcgen::{CertificateParams, KeyPair, SanType};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// Accepts any client certificate at the handshake (its possession is still proven by the
/// handshake signature); [`authenticate`] judges it per request, as the API server does.
#[derive(Debug)]
struct RequestClientCert {
    provider: Arc<CryptoProvider>,
    hints: Vec<DistinguishedName>,
}

impl ClientCertVerifier for RequestClientCert {
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(m, c, d, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(m, c, d, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn pem_der(pem: &str) -> Vec<u8> {
    pem::parse(pem).expect("CA certificate PEM").into_contents()
}

/// The server side: TLS config, and the client CA (DER) requests are judged against.
pub(super) struct Tls {
    pub config: Arc<rustls::ServerConfig>,
    pub client_ca_der: Vec<u8>,
    pub server_ca_pem: String,
}

/// A serving certificate for 127.0.0.1 from `cluster_dir`'s server CA, and its client CA.
pub(super) fn setup(cluster_dir: &Path) -> Tls {
    let tls = cluster_dir.join("secrets/tls");
    let read = |f: &str| {
        std::fs::read_to_string(tls.join(f)).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (make the cluster dir with `kateskit cluster init`)",
                tls.join(f).display()
            )
        })
    };
    let (server_ca_pem, client_ca_pem) = (read("server-ca.crt"), read("client-ca.crt"));
    let ca_key = kateskit::pki::keyfmt::key_pair(&read("server-ca.key")).expect("server CA key");
    let ca = CertificateParams::from_ca_cert_pem(&server_ca_pem)
        .unwrap()
        .self_signed(&ca_key)
        .unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let names = [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
    ];
    let mut p = CertificateParams::new(names.map(String::from).to_vec()).unwrap();
    p.subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    let leaf = p.signed_by(&leaf_key, &ca, &ca_key).unwrap();
    let client_ca_der = pem_der(&client_ca_pem);
    let (_, parsed) = x509_parser::parse_x509_certificate(&client_ca_der).expect("client CA");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = RequestClientCert {
        provider: provider.clone(),
        hints: vec![DistinguishedName::from(parsed.subject().as_raw().to_vec())],
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(vec![CertificateDer::from(leaf.der().to_vec())], key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Tls {
        config: Arc::new(config),
        client_ca_der,
        server_ca_pem,
    }
}

/// Who a request is, from its client certificate.
pub(super) enum Who {
    /// No certificate, or one the client CA did not issue or that is not valid now.
    Anonymous,
    /// A valid client certificate: its CN, and whether it is in `system:masters`.
    User { name: String, admin: bool },
}

pub(super) fn authenticate(client_ca_der: &[u8], peer: Option<&[CertificateDer<'_>]>) -> Who {
    let Some(leaf) = peer.and_then(|c| c.first()) else {
        return Who::Anonymous;
    };
    let (_, ca) = x509_parser::parse_x509_certificate(client_ca_der).expect("client CA");
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf.as_ref()) else {
        return Who::Anonymous;
    };
    let issued = cert.issuer().as_raw() == ca.subject().as_raw()
        && cert.verify_signature(Some(ca.public_key())).is_ok();
    let client_use = match cert.extended_key_usage() {
        Ok(Some(eku)) => eku.value.client_auth || eku.value.any,
        Ok(None) => true,
        Err(_) => false,
    };
    if !issued || !cert.validity().is_valid() || !client_use {
        return Who::Anonymous;
    }
    let name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .unwrap_or("")
        .to_string();
    let admin = cert
        .subject()
        .iter_organization()
        .any(|o| o.as_str() == Ok("system:masters"));
    Who::User { name, admin }
}
