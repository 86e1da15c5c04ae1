//! An embedded-etcd STAND-IN (not etcd): a TLS server on 127.0.0.1 that, like etcd started by
//! k3s with client-cert-auth, completes the handshake only for a client certificate issued by
//! its etcd server CA, and answers `GET /health` with what the test set (etcd's body is
//! `{"health":"true","reason":""}`). It counts the requests it answered.

use std::io::Write;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The etcd CA and a client certificate and key it issued (PEM; the key SEC1, as k3s writes).
pub struct EtcdPki {
    pub ca_pem: String,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
    pub client_cert: String,
    pub client_key: String,
}

fn ca(cn: &str) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(rcgen::DnType::CommonName, cn);
    (p.self_signed(&key).unwrap(), key)
}

fn client(ca: &rcgen::Certificate, ca_key: &KeyPair) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "etcd-client");
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = p.signed_by(&key, ca, ca_key).unwrap();
    (cert.pem(), kateskit::pki::keyfmt::serialize_sec1(&key))
}

impl EtcdPki {
    pub fn new() -> EtcdPki {
        let (ca, ca_key) = ca("etcd-server-ca");
        let (client_cert, client_key) = client(&ca, &ca_key);
        EtcdPki {
            ca_pem: ca.pem(),
            ca,
            ca_key,
            client_cert,
            client_key,
        }
    }

    /// A client certificate and key from another CA: what the stand-in must refuse.
    pub fn foreign_client() -> (String, String) {
        let (other, other_key) = ca("not-the-etcd-ca");
        client(&other, &other_key)
    }
}

pub struct Etcd {
    pub port: u16,
    /// (HTTP status, body) of `/health`.
    pub health: Arc<Mutex<(u16, String)>>,
    /// Requests answered (each after a verified client certificate).
    pub answered: Arc<AtomicUsize>,
}

impl Etcd {
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    pub fn set_health(&self, status: u16, body: &str) {
        *self.health.lock().unwrap() = (status, body.into());
    }

    pub fn answered(&self) -> usize {
        self.answered.load(Ordering::SeqCst)
    }
}

/// Starts the stand-in with its serving certificate issued by `pki`'s CA; healthy at start.
pub fn start(pki: &EtcdPki) -> Etcd {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(pki.ca.der().to_vec()))
        .unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    p.subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf = p.signed_by(&leaf_key, &pki.ca, &pki.ca_key).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let cfg = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![CertificateDer::from(leaf.der().to_vec())], key)
            .unwrap(),
    );
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let etcd = Etcd {
        port,
        health: Arc::new(Mutex::new((200, r#"{"health":"true","reason":""}"#.into()))),
        answered: Arc::default(),
    };
    let (health, answered) = (etcd.health.clone(), etcd.answered.clone());
    std::thread::spawn(move || {
        for tcp in l.incoming().flatten() {
            let (cfg, health, answered) = (cfg.clone(), health.clone(), answered.clone());
            std::thread::spawn(move || {
                tcp.set_read_timeout(Some(Duration::from_secs(5))).ok();
                let conn = rustls::ServerConnection::new(cfg).unwrap();
                let mut s = rustls::StreamOwned::new(conn, tcp);
                // The handshake (and so the client certificate check) happens on first read.
                let Some((head, _)) = super::https::read_request(&mut s) else {
                    return;
                };
                let (status, body) = if head.starts_with("GET /health ") {
                    health.lock().unwrap().clone()
                } else {
                    (404, "404 page not found".into())
                };
                answered.fetch_add(1, Ordering::SeqCst);
                let head = format!("HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(body.as_bytes());
                s.conn.send_close_notify();
                let _ = s.flush();
            });
        }
    });
    etcd
}
