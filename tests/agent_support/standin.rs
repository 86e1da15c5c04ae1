//! A k3s supervisor STAND-IN for join tests: a local HTTPS server on 127.0.0.1 that speaks the
//! documented unauthenticated `/ping` and `/cacerts`, Node objects and `/readyz`
//! ([`super::nodes`]), and namespaces and Secrets ([`super::kubeapi`]). It is not k3s.
//!
//! Its credential check is as strict as k3s's supervisor (pkg/server/auth, deps.go): Basic user
//! `server` with the server password has the server role, user `node` with the agent password
//! the agent role, a Bearer bootstrap token the bootstrap role; `/v1-k3s/readyz` wants the agent
//! or bootstrap role, `/v1-k3s/encrypt/status` the server role. Credentials that do not
//! authenticate get `reject_status` (401; k3s's doAuth answers 403 when its authenticator says
//! no without an error), valid credentials without the role get 403.

use std::io::Write;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// How the stand-in behaves.
#[derive(Clone)]
pub struct Opts {
    /// CA certificate and key that sign the stand-in's TLS certificate.
    pub tls_ca_cert: String,
    pub tls_ca_key: String,
    /// Body of `/cacerts`.
    pub cacerts: String,
    /// Password of Basic user `server` (server role).
    pub server_password: String,
    /// Password of Basic user `node` (agent role).
    pub agent_password: String,
    /// A bootstrap token accepted as `Authorization: Bearer` (bootstrap role).
    pub bootstrap_token: Option<String>,
    /// Status for credentials that do not authenticate.
    pub reject_status: u16,
    /// 1-based numbers of the `/ping` requests answered 503 (k3s still starting).
    pub fail_pings: Vec<usize>,
    pub node_ready: bool,
}

impl Opts {
    /// A stand-in serving `ca_cert` and signing its TLS certificate with it; the passwords are
    /// `server_password` / `agent_password`.
    pub fn new(ca_cert: &str, ca_key: &str, server_password: &str, agent_password: &str) -> Opts {
        Opts {
            tls_ca_cert: ca_cert.into(),
            tls_ca_key: ca_key.into(),
            cacerts: ca_cert.into(),
            server_password: server_password.into(),
            agent_password: agent_password.into(),
            bootstrap_token: None,
            reject_status: 401,
            fail_pings: Vec::new(),
            node_ready: true,
        }
    }
}

pub struct StandIn {
    pub ip: std::net::IpAddr,
    pub port: u16,
    /// The API objects it holds; tests pre-seed and inspect them.
    pub api: Arc<Mutex<super::kubeapi::Api>>,
    /// Its Node objects ([`super::nodes`]).
    pub nodes: Arc<Mutex<super::nodes::Nodes>>,
}

impl StandIn {
    pub fn url(&self) -> String {
        format!("https://{}:{}", self.ip, self.port)
    }
}

/// A fresh self-signed CA (certificate PEM, key PEM), unrelated to any cluster.
pub fn other_ca() -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "attacker-ca");
    (p.self_signed(&key).unwrap().pem(), key.serialize_pem())
}

/// A client certificate and key for kubeconfigs (the stand-in does not check it). The key is
/// SEC1 (`EC PRIVATE KEY`), as k3s writes the keys of its kubeconfigs.
pub fn client_identity() -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["system:node".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (cert.pem(), kateskit::pki::keyfmt::serialize_sec1(&key))
}

/// The admin kubeconfig k3s writes on a server (`/etc/rancher/k3s/k3s.yaml`, embedded data),
/// pointing at the stand-in and trusting `ca`.
pub fn server_kubeconfig(s: &StandIn, ca: &str) -> String {
    let (cert, key) = client_identity();
    let b64 = |x: &str| base64::engine::general_purpose::STANDARD.encode(x);
    format!(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {}\n  name: default\nusers:\n- name: default\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
        b64(ca),
        s.url(),
        b64(&cert),
        b64(&key)
    )
}

/// A stand-in whose TLS certificate is issued by the cluster's own server CA.
pub fn for_cluster(cluster_dir: &std::path::Path) -> (StandIn, String) {
    let tls = cluster_dir.join("secrets/tls");
    let ca = std::fs::read_to_string(tls.join("server-ca.crt")).unwrap();
    let key = std::fs::read_to_string(tls.join("server-ca.key")).unwrap();
    let s = start(Opts::new(&ca, &key, "unused", "unused"));
    (s, ca)
}

fn tls_config(o: &Opts, ip: std::net::IpAddr) -> Arc<rustls::ServerConfig> {
    let ca_key = kateskit::pki::keyfmt::key_pair(&o.tls_ca_key).unwrap();
    let ca = CertificateParams::from_ca_cert_pem(&o.tls_ca_cert)
        .unwrap()
        .self_signed(&ca_key)
        .unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    p.subject_alt_names.push(SanType::IpAddress(ip));
    let leaf = p.signed_by(&leaf_key, &ca, &ca_key).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![CertificateDer::from(leaf.der().to_vec())], key)
    .unwrap();
    Arc::new(cfg)
}

#[derive(PartialEq)]
enum Role {
    Server,
    Agent,
    Bootstrap,
}

/// The role the request's credentials authenticate as, if any.
fn authenticate(o: &Opts, req: &str) -> Option<Role> {
    let value = req.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("authorization").then(|| v.trim())
    })?;
    let (scheme, cred) = value.split_once(' ')?;
    match scheme {
        "Basic" => {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(cred.trim())
                .ok()?;
            let (user, pass) = std::str::from_utf8(&raw).ok()?.split_once(':')?;
            match user {
                "server" if pass == o.server_password => Some(Role::Server),
                "node" if pass == o.agent_password => Some(Role::Agent),
                _ => None,
            }
        }
        "Bearer" => (o.bootstrap_token.as_deref() == Some(cred.trim())).then_some(Role::Bootstrap),
        _ => None,
    }
}

/// k3s's error body (a Kubernetes Status object) for 401 and 403.
fn status_body(code: u16) -> String {
    let (msg, reason) = if code == 401 {
        ("not authorized", "Unauthorized")
    } else {
        ("forbidden", "Forbidden")
    };
    format!(
        r#"{{"kind":"Status","apiVersion":"v1","metadata":{{}},"status":"Failure","message":"{msg}","reason":"{reason}","code":{code}}}"#
    )
}

fn respond(
    o: &Opts,
    api: &Mutex<super::kubeapi::Api>,
    nodes: &Mutex<super::nodes::Nodes>,
    pings: &AtomicUsize,
    req: &str,
    body: &[u8],
) -> (u16, String) {
    let method = req.split_whitespace().next().unwrap_or("GET");
    let path = req.split_whitespace().nth(1).unwrap_or("/");
    if let Some(r) = api.lock().unwrap().handle(method, path, body) {
        return r;
    }
    if let Some(r) = nodes.lock().unwrap().handle(method, path, req, body) {
        return r;
    }
    let guarded = |allowed: &[Role]| match authenticate(o, req) {
        None => (o.reject_status, status_body(o.reject_status)),
        Some(r) if allowed.contains(&r) => (200, "ok".to_string()),
        Some(_) => (403, status_body(403)),
    };
    match path {
        "/ping" => {
            let n = pings.fetch_add(1, Ordering::SeqCst) + 1;
            if o.fail_pings.contains(&n) {
                (503, "starting".into())
            } else {
                (200, "pong".into())
            }
        }
        "/cacerts" => (200, o.cacerts.clone()),
        "/v1-k3s/readyz" => guarded(&[Role::Agent, Role::Bootstrap]),
        "/v1-k3s/encrypt/status" => guarded(&[Role::Server]),
        p if p.starts_with("/api/v1/nodes/") => {
            let st = if o.node_ready { "True" } else { "False" };
            (
                200,
                format!(
                    r#"{{"kind":"Node","status":{{"conditions":[{{"type":"Ready","status":"{st}"}}]}}}}"#
                ),
            )
        }
        _ => (404, "404 page not found".into()),
    }
}

/// Starts the stand-in on an ephemeral port; it serves until the test process exits.
pub fn start(o: Opts) -> StandIn {
    start_at(o, ([127, 0, 0, 1], 0).into())
}

/// The stand-in on `addr`, its certificate naming that IP: e.g. a cluster's server address
/// inside a namespace the test made (called from a thread inside that namespace).
pub fn start_at(o: Opts, addr: std::net::SocketAddr) -> StandIn {
    start_named(o, addr, addr.ip())
}

/// The stand-in on `addr` with a certificate naming `cert_ip`: for a guest that reaches the
/// host's 127.0.0.1 through a NAT address (QEMU user networking's 10.0.2.2).
pub fn start_named(o: Opts, addr: std::net::SocketAddr, cert_ip: std::net::IpAddr) -> StandIn {
    let cfg = tls_config(&o, cert_ip);
    let l = TcpListener::bind(addr).unwrap_or_else(|e| panic!("stand-in on {addr}: {e}"));
    let port = l.local_addr().unwrap().port();
    let api: Arc<Mutex<super::kubeapi::Api>> = Arc::default();
    let shared = api.clone();
    let nodes: Arc<Mutex<super::nodes::Nodes>> = Arc::default();
    let shared_nodes = nodes.clone();
    let pings: Arc<AtomicUsize> = Arc::default();
    std::thread::spawn(move || {
        for tcp in l.incoming().flatten() {
            let (cfg, o, api, pings) = (cfg.clone(), o.clone(), shared.clone(), pings.clone());
            let nodes = shared_nodes.clone();
            std::thread::spawn(move || {
                tcp.set_read_timeout(Some(Duration::from_secs(5))).ok();
                let conn = rustls::ServerConnection::new(cfg).unwrap();
                let mut s = rustls::StreamOwned::new(conn, tcp);
                let Some((head, req)) = super::https::read_request(&mut s) else {
                    return;
                };
                let (status, body) = respond(&o, &api, &nodes, &pings, &head, &req);
                let head = format!("HTTP/1.1 {status} X\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", if body.starts_with('{') { "application/json" } else { "text/plain" }, body.len());
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(body.as_bytes());
                s.conn.send_close_notify();
                let _ = s.flush();
            });
        }
    });
    StandIn {
        ip: addr.ip(),
        port,
        api,
        nodes,
    }
}

/// A TCP listener that accepts and never answers: for bounded-timeout tests.
pub fn black_hole() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
    port
}
