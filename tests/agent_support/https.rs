//! A small HTTP(S) server on 127.0.0.1 for config_url and phone_home tests: TLS with a private
//! CA (made here, trusted by nobody else), fixed answers or an endless body, and a record of
//! every request and of how many body bytes it wrote.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// What a path answers.
#[derive(Clone)]
pub enum Reply {
    Fixed(u16, Vec<u8>),
    /// 302 to this URL.
    Redirect(String),
    /// 200 with no Content-Length, then bytes until the client goes away (at most 30 s).
    Endless,
    /// Whatever the test has put there by the time the request comes.
    Switch(Arc<Mutex<(u16, Vec<u8>)>>),
}

/// A running server.
pub struct Server {
    pub port: u16,
    /// PEM of the CA that issued the server's certificate (TLS servers only).
    pub ca_pem: String,
    /// Hex SHA-256 of the server certificate's SubjectPublicKeyInfo (`agent.config_tls_sha256`).
    pub spki_sha256: String,
    /// `METHOD PATH\nBODY` of every request read.
    pub requests: Arc<Mutex<Vec<String>>>,
    /// Body bytes written by `Endless` answers, and whether each has ended.
    pub endless_written: Arc<AtomicU64>,
    pub endless_done: Arc<AtomicU64>,
    tls: bool,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}{path}", self.port)
    }

    /// Waits (bounded) until `n` endless answers have ended.
    pub fn wait_endless_done(&self, n: u64, limit: Duration) -> bool {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if self.endless_done.load(Ordering::SeqCst) >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

/// A private CA and a server config whose leaf (for 127.0.0.1) it issued.
fn tls_config() -> (Arc<rustls::ServerConfig>, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "private config CA");
    let ca = p.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    p.subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let leaf = p.signed_by(&leaf_key, &ca, &ca_key).unwrap();
    let spki = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(leaf_key.public_key_der()))
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![CertificateDer::from(leaf.der().to_vec())], key)
    .unwrap();
    (Arc::new(cfg), ca.pem(), spki)
}

/// Starts a server answering `routes` (404 elsewhere); TLS when `tls`.
pub fn serve(tls: bool, routes: Vec<(&'static str, Reply)>) -> Server {
    let (cfg, ca_pem, spki_sha256) = tls_config();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let server = Server {
        port,
        ca_pem,
        spki_sha256,
        requests: Arc::default(),
        endless_written: Arc::default(),
        endless_done: Arc::default(),
        tls,
    };
    let (requests, written, done) = (
        server.requests.clone(),
        server.endless_written.clone(),
        server.endless_done.clone(),
    );
    std::thread::spawn(move || {
        for tcp in l.incoming().flatten() {
            let (cfg, routes) = (cfg.clone(), routes.clone());
            let (requests, written, done) = (requests.clone(), written.clone(), done.clone());
            std::thread::spawn(move || {
                tcp.set_read_timeout(Some(Duration::from_secs(5))).ok();
                tcp.set_write_timeout(Some(Duration::from_secs(5))).ok();
                if tls {
                    let conn = rustls::ServerConnection::new(cfg).unwrap();
                    let s = rustls::StreamOwned::new(conn, tcp);
                    handle(s, &routes, &requests, &written, &done);
                } else {
                    handle(tcp, &routes, &requests, &written, &done);
                }
            });
        }
    });
    server
}

/// Reads one HTTP/1.1 request: its head (request line and headers) and a body of
/// `Content-Length` bytes; None when the peer closes or errs first, or the head takes over
/// 10 s to arrive.
pub fn read_request<S: Read>(s: &mut S) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let t0 = std::time::Instant::now();
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if t0.elapsed() > std::time::Duration::from_secs(10) {
            return None;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let want = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    while buf.len() < end + want {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    buf.truncate(end + want);
    Some((head, buf.split_off(end)))
}

fn handle<S: Read + Write>(
    mut s: S,
    routes: &[(&'static str, Reply)],
    requests: &Mutex<Vec<String>>,
    written: &AtomicU64,
    done: &AtomicU64,
) {
    let Some((head, body)) = read_request(&mut s) else {
        return;
    };
    let line: Vec<&str> = head.split_whitespace().take(2).collect();
    let body = String::from_utf8_lossy(&body).to_string();
    requests
        .lock()
        .unwrap()
        .push(format!("{} {}\n{body}", line[0], line[1]));
    let reply = routes
        .iter()
        .find(|r| r.0 == line[1])
        .map(|r| r.1.clone())
        .unwrap_or(Reply::Fixed(404, b"not found".to_vec()));
    let reply = match reply {
        Reply::Switch(now) => {
            let (status, body) = now.lock().unwrap().clone();
            Reply::Fixed(status, body)
        }
        other => other,
    };
    match reply {
        Reply::Switch(_) => unreachable!("resolved above"),
        Reply::Fixed(status, body) => {
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
            let _ = s.flush();
        }
        Reply::Redirect(to) => {
            let head = format!(
                "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.flush();
        }
        Reply::Endless => {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
            let block = vec![b'x'; 64 << 10];
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(30) {
                if s.write_all(&block).and_then(|_| s.flush()).is_err() {
                    break;
                }
                written.fetch_add(block.len() as u64, Ordering::SeqCst);
            }
            done.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A listener that records whether anything connected to it (it never accepts).
pub struct Untouched {
    listener: TcpListener,
    pub port: u16,
}

impl Untouched {
    pub fn new() -> Untouched {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        Untouched { listener, port }
    }

    /// True when a connection is waiting in the backlog.
    pub fn was_connected(&self) -> bool {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_millis(200) {
            if let Ok((s, _)) = self.listener.accept() {
                drop::<TcpStream>(s);
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}
