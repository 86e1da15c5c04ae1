//! The tests' handle on the stand-in: start it, inject faults, read what it holds and saw, and
//! run code the moment a condition first holds.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::tls::{self, Tls};
use super::world::World;
use super::{sim, Disruption, Fault, NodeView, PodView, Request, Scenario, STATUS};

type Cond = Box<dyn Fn(&World) -> bool + Send>;
type Action = Box<dyn FnOnce() + Send>;

struct Hook {
    cond: Cond,
    action: Option<Action>,
    fired: Arc<AtomicBool>,
}

/// What the listener, the simulator and the handle share. Lock order: world, then hooks.
pub(super) struct Shared {
    pub world: Mutex<World>,
    hooks: Mutex<Vec<Hook>>,
    pub stop: AtomicBool,
    pub tls: Tls,
}

impl Shared {
    /// Runs (outside the locks) the action of every hook whose condition now holds, once.
    pub(super) fn fire_hooks(&self) {
        let due: Vec<Action> = {
            let w = self.world.lock().unwrap();
            let mut hooks = self.hooks.lock().unwrap();
            hooks
                .iter_mut()
                .filter(|h| h.action.is_some() && (h.cond)(&w))
                .map(|h| {
                    h.fired.store(true, Ordering::SeqCst);
                    h.action.take().unwrap()
                })
                .collect()
        };
        for a in due {
            a();
        }
    }
}

/// Whether a hook has fired.
pub struct HookHandle {
    pub name: String,
    fired: Arc<AtomicBool>,
}

impl HookHandle {
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }
}

/// A running stand-in API (see the module docs). Dropping it stops the listener and the
/// simulator.
pub struct KubeApi {
    shared: Arc<Shared>,
    port: u16,
    cluster: PathBuf,
    threads: Vec<JoinHandle<()>>,
}

/// A fresh cluster directory (examples/rack's cluster.toml and newly generated secrets), as
/// `kateskit cluster init` leaves one.
pub fn cluster_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/rack/cluster.toml");
    std::fs::copy(&example, dir.path().join("cluster.toml")).expect("copy examples/rack");
    kateskit::pki::init(dir.path()).expect("generate cluster secrets");
    dir
}

/// Condition: `node` has `spec.unschedulable` true.
pub fn cordoned(node: &str) -> impl Fn(&World) -> bool + Send + 'static {
    let node = node.to_string();
    move |w| w.nodes.get(&node).is_some_and(|n| n.unschedulable)
}

/// The parsed `upgrade.kateskit.io/status` of a node, if it has one.
pub fn status_of(n: &NodeView) -> Option<Value> {
    n.annotations
        .get(STATUS)
        .and_then(|s| serde_json::from_str(s).ok())
}

impl KubeApi {
    /// Serves `scenario` with `cluster_dir`'s CAs on 127.0.0.1 (a free port) and starts the
    /// simulator.
    pub fn start(cluster_dir: &Path, scenario: Scenario) -> KubeApi {
        let shared = Arc::new(Shared {
            world: Mutex::new(scenario.build()),
            hooks: Mutex::default(),
            stop: AtomicBool::new(false),
            tls: tls::setup(cluster_dir),
        });
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = l.local_addr().unwrap().port();
        let s = shared.clone();
        let server = std::thread::spawn(move || super::http::serve(l, s));
        let s = shared.clone();
        let simulator = std::thread::spawn(move || {
            while !s.stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(10));
                let changed = sim::tick(&mut s.world.lock().unwrap(), Instant::now());
                if changed {
                    s.fire_hooks();
                }
            }
        });
        KubeApi {
            shared,
            port,
            cluster: cluster_dir.to_path_buf(),
            threads: vec![server, simulator],
        }
    }

    /// `https://127.0.0.1:PORT` (pass as `--server`).
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    pub fn server_ca_pem(&self) -> String {
        self.shared.tls.server_ca_pem.clone()
    }

    /// A client trusting the server CA, with `identity` (certificate PEM, key PEM) if given.
    pub fn client(&self, identity: Option<(&str, &str)>) -> reqwest::blocking::Client {
        let ca = reqwest::Certificate::from_pem(self.server_ca_pem().as_bytes()).unwrap();
        let mut b = reqwest::blocking::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .timeout(Duration::from_secs(10));
        if let Some((cert, key)) = identity {
            b = b.identity(
                reqwest::Identity::from_pem(format!("{cert}\n{key}").as_bytes()).unwrap(),
            );
        }
        b.build().unwrap()
    }

    /// A client with a fresh admin certificate from the cluster's client CA (what
    /// `kateskit kubeconfig` mints).
    pub fn admin_client(&self) -> reqwest::blocking::Client {
        let secrets = kateskit::pki::load(&self.cluster).expect("cluster secrets");
        let admin = kateskit::pki::kubeconfig::mint_admin(&secrets, 1).expect("admin cert");
        self.client(Some((&admin.cert_pem, admin.key_pem.expose())))
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.shared.world.lock().unwrap()
    }

    /// Reads the state under the lock.
    pub fn with<R>(&self, f: impl FnOnce(&World) -> R) -> R {
        f(&self.world())
    }

    /// Sets `node`'s fault; it applies from the next action the node takes up.
    pub fn inject(&self, node: &str, fault: Fault) {
        let mut w = self.world();
        let n = w
            .nodes
            .get_mut(node)
            .unwrap_or_else(|| panic!("inject: no node {node}"));
        n.sim.fault = fault;
    }

    /// Marks a pod's containers ready or not (an application that is unhealthy on its own).
    pub fn set_pod_ready(&self, ns: &str, name: &str, ready: bool) {
        let mut w = self.world();
        let rv = w.bump();
        let p = w.pods.get_mut(&(ns.to_string(), name.to_string()));
        let p = p.unwrap_or_else(|| panic!("set_pod_ready: no pod {ns}/{name}"));
        p.ready_at = if ready {
            Some(Instant::now())
        } else {
            Some(Instant::now() + Duration::from_secs(86400))
        };
        p.rv = rv;
    }

    pub fn requests(&self) -> Vec<Request> {
        self.world().log.clone()
    }

    pub fn node(&self, name: &str) -> NodeView {
        self.world().node(name)
    }

    pub fn nodes(&self) -> Vec<NodeView> {
        self.world().nodes()
    }

    pub fn pods(&self) -> Vec<PodView> {
        self.world().pods()
    }

    /// Every eviction and deletion, allowed or refused.
    pub fn disruptions(&self) -> Vec<Disruption> {
        self.world().disruptions.clone()
    }

    /// Evictions and deletions of DaemonSet and mirror pods that went through: a
    /// well-behaved drain makes none.
    pub fn forbidden_evictions(&self) -> Vec<Disruption> {
        let bad = |d: &Disruption| {
            (d.mirror || d.owner.as_deref() == Some("DaemonSet")) && d.status < 300
        };
        self.disruptions().into_iter().filter(bad).collect()
    }

    /// Runs `action` once, the first time `cond` holds after a request was applied (before
    /// its response is sent) or after a simulator step: e.g. SIGKILL the orchestrator the
    /// moment it cordons a node.
    pub fn when(
        &self,
        name: &str,
        cond: impl Fn(&World) -> bool + Send + 'static,
        action: impl FnOnce() + Send + 'static,
    ) -> HookHandle {
        let fired = Arc::new(AtomicBool::new(false));
        let hook = Hook {
            cond: Box::new(cond),
            action: Some(Box::new(action)),
            fired: fired.clone(),
        };
        self.shared.hooks.lock().unwrap().push(hook);
        self.shared.fire_hooks();
        HookHandle {
            name: name.into(),
            fired,
        }
    }

    /// Waits (at most `limit`) until `cond` holds; false on time-out.
    pub fn wait_for(&self, limit: Duration, cond: impl Fn(&World) -> bool) -> bool {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if cond(&self.world()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

impl Drop for KubeApi {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
