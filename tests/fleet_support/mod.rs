//! The netboot control plane on 127.0.0.1 for tests: the api router over a fleet made from a
//! test cluster, served by axum on a plain port, and a TLS front (a self-signed certificate for
//! 127.0.0.1, trusted by its key pin only) that forwards each request to it, as the serve
//! command's HTTPS listener would.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kateskit::netboot::fleet::{Fleet, Unknown};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::Value;

/// A running api: plain HTTP on `port`, HTTPS (pinned) on `tls_port`.
pub struct Api {
    pub state: tempfile::TempDir,
    pub fleet: Arc<Fleet>,
    pub port: u16,
    pub tls_port: u16,
    /// `agent.config_tls_sha256` for the TLS front.
    pub spki_sha256: String,
}

impl Api {
    pub fn start(cluster_dir: &Path, unknown: Unknown) -> Api {
        let state = tempfile::tempdir().unwrap();
        let spec = kateskit::spec::load(&cluster_dir.join("cluster.toml"))
            .unwrap()
            .spec;
        let secrets = kateskit::pki::load(cluster_dir).unwrap();
        let (cfg, spki_sha256) = tls_config();
        let front = TcpListener::bind("127.0.0.1:0").unwrap();
        let tls_port = front.local_addr().unwrap().port();
        let public = format!("https://127.0.0.1:{tls_port}");
        let fleet = Arc::new(Fleet::open(spec, secrets, state.path(), unknown, &public).unwrap());
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        l.set_nonblocking(true).unwrap();
        let app = kateskit::netboot::api::router(fleet.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let l = tokio::net::TcpListener::from_std(l).unwrap();
                axum::serve(l, app.into_make_service_with_connect_info::<SocketAddr>())
                    .await
                    .unwrap();
            });
        });
        std::thread::spawn(move || {
            for tcp in front.incoming().flatten() {
                let cfg = cfg.clone();
                std::thread::spawn(move || forward(cfg, tcp, port));
            }
        });
        Api {
            state,
            fleet,
            port,
            tls_port,
            spki_sha256,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn tls_url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.tls_port)
    }

    pub fn state_dir(&self) -> PathBuf {
        self.state.path().to_path_buf()
    }
}

/// A self-signed certificate for 127.0.0.1 and the SHA-256 of its key.
fn tls_config() -> (Arc<rustls::ServerConfig>, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    p.subject_alt_names
        .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let cert = p.self_signed(&key).unwrap();
    let spki = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(key.public_key_der()))
    };
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![CertificateDer::from(cert.der().to_vec())], der)
    .unwrap();
    (Arc::new(cfg), spki)
}

/// One request per connection: read it over TLS, send it to the plain port with
/// `Connection: close`, copy the answer back.
fn forward(cfg: Arc<rustls::ServerConfig>, tcp: TcpStream, port: u16) {
    tcp.set_read_timeout(Some(Duration::from_secs(10))).ok();
    tcp.set_write_timeout(Some(Duration::from_secs(10))).ok();
    let conn = rustls::ServerConnection::new(cfg).unwrap();
    let mut s = rustls::StreamOwned::new(conn, tcp);
    let Some((head, body)) = crate::agent_support::https::read_request(&mut s) else {
        return;
    };
    let head = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:") && !l.is_empty())
        .collect::<Vec<_>>()
        .join("\r\n");
    let Ok(mut up) = TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    up.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let _ = up.write_all(format!("{head}\r\nConnection: close\r\n\r\n").as_bytes());
    let _ = up.write_all(&body);
    let mut answer = Vec::new();
    let _ = up.read_to_end(&mut answer);
    let _ = s.write_all(&answer);
    let _ = s.flush();
    s.conn.send_close_notify();
    let _ = s.flush();
}

/// A plain client for the api's own port.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// `kateskit netboot ARGS...`.
pub fn netboot(args: &[&str]) -> std::process::Output {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("kateskit"))
        .arg("netboot")
        .args(args)
        .output()
        .unwrap()
}

/// MACs of the rack example: an agent, a server, and one cluster.toml does not know.
pub const A1: &str = "52:54:00:0b:00:01";
pub const S1: &str = "52:54:00:0a:00:01";
pub const STRANGER: &str = "52:54:00:0c:00:07";

pub fn get(api: &Api, path: &str) -> (u16, Vec<u8>) {
    let r = client().get(api.url(path)).send().unwrap();
    (r.status().as_u16(), r.bytes().unwrap().to_vec())
}

pub fn nodes(api: &Api) -> Vec<Value> {
    let (s, b) = get(api, "/v1/nodes");
    assert_eq!(s, 200);
    serde_json::from_slice(&b).unwrap()
}

pub fn row(api: &Api, mac: &str) -> Value {
    nodes(api)
        .into_iter()
        .find(|r| r["mac"] == mac)
        .unwrap_or_else(|| panic!("no row for {mac}"))
}

pub fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

pub fn tokens(c: &crate::agent_support::Cluster) -> (String, String) {
    let s = kateskit::pki::load(c.dir.path()).unwrap();
    (
        s.agent_token.secret().expose().to_string(),
        s.server_token.secret().expose().to_string(),
    )
}
