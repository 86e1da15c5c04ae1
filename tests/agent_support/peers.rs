//! A rack node whose peers are local HTTPS STAND-INs for k3s's supervisor (not k3s), for the
//! tests of how the agent chooses the supervisor: members of the cluster, servers of another
//! cluster, closed ports, silent ports and counting ports that prove no probe happened.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::standin::{self, StandIn};

pub const DROPIN: &str = "etc/rancher/k3s/config.yaml.d/10-kateskit.yaml";

/// The join setup ([`super::joining::Setup`]) plus the peer helpers of these tests.
pub struct Setup(super::joining::Setup);

pub fn setup(name: &str) -> Setup {
    Setup(super::joining::setup(name))
}

impl std::ops::Deref for Setup {
    type Target = super::joining::Setup;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Setup {
    /// A stand-in of this cluster (its TLS certificate issued by the cluster CA).
    pub fn member(&self) -> StandIn {
        standin::start(self.opts())
    }

    /// Runs the agent with `server_urls` in place of the rendered servers' addresses (and, on
    /// a joining node, `server_url` = the first of them, as render makes it).
    pub fn run(&self, server_url: Option<&str>, server_urls: &[String]) -> (Duration, String) {
        let mut line = "console=ttyS0 kateskit.agent.join_timeout_s=2 kateskit.agent.ready_timeout_s=2 kateskit.agent.http_timeout_s=1".to_string();
        if let Some(u) = server_url {
            line.push_str(&format!(" kateskit.server={u}"));
        }
        for u in server_urls {
            line.push_str(&format!(" kateskit.k3s.server_urls[]={u}"));
        }
        self.node.set_cmdline(&line);
        let t0 = Instant::now();
        let _ = self.node.run(&[]);
        (t0.elapsed(), phase(&self.node.journal(), "k3s-config"))
    }

    pub fn dropin(&self) -> serde_yaml_ng::Mapping {
        serde_yaml_ng::from_str(&self.node.read(DROPIN)).unwrap()
    }
}

pub fn phase(j: &serde_json::Value, name: &str) -> String {
    let p = j["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap();
    assert_eq!(p["outcome"], "done", "{name}: {p}");
    p["detail"].as_str().unwrap_or("").to_string()
}

pub fn server_of(m: &serde_yaml_ng::Mapping) -> Option<String> {
    m.get("server").map(|v| v.as_str().unwrap().to_string())
}

pub fn cluster_init(m: &serde_yaml_ng::Mapping) -> bool {
    m.get("cluster-init").and_then(|v| v.as_bool()) == Some(true)
}

/// A TCP port where nothing listens (connections are refused at once).
pub fn closed_port() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("https://127.0.0.1:{port}")
}

/// A listener that counts connections and closes them: proves whether a probe happened.
pub fn counting() -> (String, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let n = Arc::new(AtomicUsize::new(0));
    let seen = n.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            seen.fetch_add(1, Ordering::SeqCst);
            drop(s);
        }
    });
    (format!("https://127.0.0.1:{port}"), n)
}

pub fn hole() -> String {
    format!("https://127.0.0.1:{}", standin::black_hole())
}
