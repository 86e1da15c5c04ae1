//! `agent.config_tls_sha256`: the config server is trusted by the SHA-256 of its certificate's
//! SubjectPublicKeyInfo alone, as a netboot server reached by IP has no name a CA could vouch
//! for. The handshake signature is still verified against that key, so only the holder of the
//! pinned private key can answer.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

/// Parses a pin: 64 hex characters (case-insensitive), as `openssl x509 -pubkey | openssl pkey
/// -pubin -outform der | sha256sum` prints it.
pub fn parse_pin(v: &str) -> Option<[u8; 32]> {
    let v = v.trim();
    if v.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(v, &mut out).ok()?;
    Some(out)
}

/// Hex SHA-256 of a DER certificate's SubjectPublicKeyInfo.
pub fn spki_sha256(cert_der: &[u8]) -> Result<String, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|e| format!("the server's certificate does not parse: {e}"))?;
    Ok(hex::encode(Sha256::digest(
        cert.tbs_certificate.subject_pki.raw,
    )))
}

/// Accepts exactly the pinned key; no chain, name or validity period is consulted.
#[derive(Debug)]
pub struct SpkiPin {
    pin: [u8; 32],
    algs: WebPkiSupportedAlgorithms,
}

impl SpkiPin {
    pub fn new(pin: [u8; 32]) -> Arc<SpkiPin> {
        Arc::new(SpkiPin {
            pin,
            algs: rustls::crypto::ring::default_provider().signature_verification_algorithms,
        })
    }
}

impl ServerCertVerifier for SpkiPin {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = spki_sha256(end_entity.as_ref()).map_err(rustls::Error::General)?;
        let want = hex::encode(self.pin);
        if got != want {
            return Err(rustls::Error::General(format!(
                "the server's public key has SHA-256 {got} but agent.config_tls_sha256 pins {want}: \
                 this is not the netboot server the kernel arguments name (or its key changed; \
                 update the pin)"
            )));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_only_as_64_hex_characters() {
        assert!(parse_pin(&"ab".repeat(32)).is_some());
        assert!(parse_pin(&"AB".repeat(32)).is_some());
        assert!(parse_pin(&"ab".repeat(31)).is_none());
        assert!(parse_pin(&"zz".repeat(32)).is_none());
    }

    #[test]
    fn the_hash_covers_the_key_not_the_certificate() {
        let key = rcgen::KeyPair::generate().unwrap();
        let a = rcgen::CertificateParams::new(vec!["a".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let b = rcgen::CertificateParams::new(vec!["b".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        assert_ne!(a.der(), b.der());
        let ha = spki_sha256(a.der()).unwrap();
        assert_eq!(ha, spki_sha256(b.der()).unwrap());
        assert_eq!(ha, hex::encode(Sha256::digest(key.public_key_der())));
    }
}
