//! A STAND-IN Kubernetes API with simulated nodes for the `kateskit upgrade` tests. It is not
//! Kubernetes: it serves only what the orchestrator uses (nodes, pods on a node, one pod,
//! evictions, PDBs) over HTTPS with the cluster's CAs, and each simulated node answers the
//! rollout protocol annotations as `kateskit node watch` does.
//!
//! | modelled | simplified |
//! |---|---|
//! | JSON merge patch on nodes (415 for another content type), `null` deletes | no resourceVersion conflicts |
//! | evictions: 429 with the API's PDB message when `minAvailable` would be broken | `disruptionsAllowed` = matching live pods − `minAvailable` |
//! | evicted pods linger `GRACE`, ReplicaSet pods come back on another schedulable node | no scheduler constraints |
//! | reboot: Ready False, then a new bootID, Ready True, `boot` status | fixed delays, in milliseconds |
//! | faults: fetch fails, gate fails (rolled back), never comes back | |

#![allow(dead_code)]

mod api;
mod sim;
pub mod tls;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{json, Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    FetchFails,
    /// The new release fails its health gate: the node comes back on the old one.
    GateFails,
    /// The node never comes back from its reboot.
    NeverBack,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub server: bool,
    pub version: String,
    pub boot_id: String,
    pub ready: bool,
    pub unschedulable: bool,
    pub annotations: Map<String, Value>,
    pub fault: Fault,
    pub reboots: u32,
    pub boot_at: Option<Instant>,
    pub last_request: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Pod {
    pub ns: String,
    pub name: String,
    pub uid: String,
    pub node: String,
    pub labels: BTreeMap<String, String>,
    /// Owner kind: "ReplicaSet", "DaemonSet", or none.
    pub owner: Option<&'static str>,
    pub mirror: bool,
    pub gone_at: Option<Instant>,
}

#[derive(Debug, Clone)]
pub struct Pdb {
    pub ns: String,
    pub name: String,
    pub selector: BTreeMap<String, String>,
    pub min_available: i64,
}

/// One request as the stand-in saw it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub t: f64,
    pub method: String,
    pub path: String,
    pub body: String,
    pub status: u16,
}

#[derive(Default)]
pub struct State {
    pub nodes: BTreeMap<String, Node>,
    pub pods: Vec<Pod>,
    pub pdbs: Vec<Pdb>,
    pub log: Vec<Logged>,
    /// (seconds, node, "down" | "up").
    pub events: Vec<(f64, String, &'static str)>,
    /// Evictions of DaemonSet or mirror pods (a well-behaved drain makes none).
    pub bad_evictions: Vec<String>,
    /// Run once when the named node is first cordoned.
    pub on_cordon: Option<(String, Box<dyn FnOnce() + Send>)>,
    /// Run once when the named node starts its reboot.
    pub on_reboot: Option<(String, Box<dyn FnOnce() + Send>)>,
    pub next_uid: u64,
}

pub struct StandIn {
    pub port: u16,
    pub state: Arc<Mutex<State>>,
    pub started: Instant,
}

impl StandIn {
    /// Starts the API for the cluster directory `cluster` with `servers` and `agents` (named
    /// s1.., a1..), all Ready on version `version`.
    pub fn start(cluster: &Path, servers: usize, agents: usize, version: &str) -> StandIn {
        let mut st = State::default();
        for (i, server) in (0..servers)
            .map(|i| (i, true))
            .chain((0..agents).map(|i| (i, false)))
        {
            let name = format!("{}{}", if server { "s" } else { "a" }, i + 1);
            let status = json!({"rollout": null, "action": "boot", "state": "done",
                                "version": version, "message": "first boot"});
            let mut annotations = Map::new();
            annotations.insert(
                "upgrade.kateskit.io/status".into(),
                Value::String(status.to_string()),
            );
            st.nodes.insert(
                name.clone(),
                Node {
                    name: name.clone(),
                    server,
                    version: version.into(),
                    boot_id: format!("{name}-boot-0"),
                    ready: true,
                    unschedulable: false,
                    annotations,
                    fault: Fault::None,
                    reboots: 0,
                    boot_at: None,
                    last_request: None,
                },
            );
        }
        let state = Arc::new(Mutex::new(st));
        let started = Instant::now();
        let s2 = state.clone();
        let handler = Arc::new(move |req| api::handle(&s2, started, req));
        let port = tls::serve(tls::server_config(cluster), handler);
        sim::spawn(state.clone(), started);
        StandIn {
            port,
            state,
            started,
        }
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    pub fn add_pod(
        &self,
        ns: &str,
        name: &str,
        node: &str,
        labels: &[(&str, &str)],
        owner: Option<&'static str>,
    ) {
        let mut st = self.state.lock().unwrap();
        st.next_uid += 1;
        let uid = format!("uid-{}", st.next_uid);
        st.pods.push(Pod {
            ns: ns.into(),
            name: name.into(),
            uid,
            node: node.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            owner,
            mirror: false,
            gone_at: None,
        });
    }

    pub fn add_pdb(&self, ns: &str, name: &str, selector: &[(&str, &str)], min_available: i64) {
        self.state.lock().unwrap().pdbs.push(Pdb {
            ns: ns.into(),
            name: name.into(),
            selector: selector
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            min_available,
        });
    }

    pub fn fault(&self, node: &str, f: Fault) {
        self.state
            .lock()
            .unwrap()
            .nodes
            .get_mut(node)
            .unwrap()
            .fault = f;
    }

    pub fn node(&self, name: &str) -> Node {
        self.state.lock().unwrap().nodes[name].clone()
    }

    /// Requests that change something (anything but GET).
    pub fn writes(&self) -> Vec<Logged> {
        let st = self.state.lock().unwrap();
        st.log
            .iter()
            .filter(|l| l.method != "GET")
            .cloned()
            .collect()
    }
}
