//! A STAND-IN Kubernetes API with simulated nodes, for the tests of `kateskit upgrade`. It is
//! not Kubernetes: one process-local HTTPS server on 127.0.0.1 that serves the few resources
//! the orchestrator uses, as strictly as kube-apiserver (k3s) does for them, and a simulator
//! per Node that answers the rollout protocol annotations (docs/upgrades.md) as
//! `kateskit node watch` would.
//!
//! ```ignore
//! let cluster = kubeapi::cluster_dir();                  // `cluster init`-style secrets
//! let api = KubeApi::start(cluster.path(), Scenario::new()
//!     .server("s1", "1.0").server("s2", "1.0").server("s3", "1.0").agent("a1", "1.0")
//!     .replica_set("default", "web", 2, &[("app", "web")])
//!     .pdb_min_available("default", "web", &[("app", "web")], 1));
//! api.inject("a1", Fault::GateFails);
//! let h = api.when("a1 cordoned", kubeapi::cordoned("a1"), move || kill(pid));
//! // run `kateskit upgrade --cluster DIR --server {api.url()} ...`, then:
//! assert_eq!(api.node("a1").version, "1.0");
//! assert!(api.forbidden_evictions().is_empty());
//! ```
//!
//! The state lives in the test process: orchestrator processes come and go (kill one, start
//! another for a resume test) against the same API until the [`KubeApi`] is dropped.
//!
//! | area | modelled | simplified |
//! |---|---|---|
//! | TLS / auth | serving cert from the cluster's server CA; client cert must chain to the client CA (401 `Unauthorized` otherwise, like k3s with anonymous auth off); `system:masters` group required (403 `Forbidden`, as RBAC would) | no bearer tokens, no RBAC beyond that one group |
//! | Nodes | list/get/patch, `resourceVersion` bumps on every write, a `metadata.resourceVersion` in a patch is a precondition (409 `Conflict`), k3s role labels, `status.nodeInfo.bootID`, `Ready` condition, the `node.kubernetes.io/unschedulable` taint follows `spec.unschedulable` | a patch may change only `metadata.labels`, `metadata.annotations`, `spec.unschedulable` (other changes: 422 naming the stand-in); `status` in a patch is ignored as on the main resource |
//! | patches | `application/merge-patch+json` (RFC 7386: `null` deletes) and `application/strategic-merge-patch+json` (same for maps); 415 `UnsupportedMediaType` otherwise; 400 for non-string label/annotation values; 422 for invalid keys | JSON patch and server-side apply are not modelled (415); strategic `$patch` directives answer 400 |
//! | Pods | list (all, per namespace), `fieldSelector` on `spec.nodeName`, `metadata.name`, `metadata.namespace`, `status.phase` (`=`, `==`, `!=`), `labelSelector` equality; get; delete (grace, then gone) | no watch, no pagination (`limit`/`continue` ignored) |
//! | eviction | policy/v1 `Eviction` body checked (kind, name), 201 `Success`; 429 `TooManyRequests` "Cannot evict pod as it would violate the pod's disruption budget." with a `DisruptionBudget` cause; 500 for two PDBs; unready pods evictable while the budget is met (`IfHealthyBudget`); terminating pods succeed at once | `deleteOptions` are ignored: the grace is [`Timings::grace`] |
//! | PDBs | list (all, per namespace); status computed as the disruption controller does: `minAvailable` int over matching pods, `maxUnavailable` / percentages over the ReplicaSets' replicas (rounded up); healthy = Ready, not terminating, on a Ready node | computed on every read (no controller lag); bare pods under a percentage/`maxUnavailable` budget give 0 allowed |
//! | controllers | ReplicaSet pods come back on another schedulable Ready node after [`Timings::reschedule`] (Pending while none is free); DaemonSet and mirror pods come back on their own node | no scheduler predicates beyond schedulable + Ready |
//! | node simulator | `fetch` → running → done / failed (hash mismatch); `stage` → running → done ("already running V" for the running version) / failed; `reboot` → Ready `Unknown` after [`Timings::ready_lag`], new bootID after [`Timings::down`], Ready True, `boot` running → done on the new version; faults per node ([`Fault`]) | a failed gate shows one failed boot before the rollback (real systemd-boot tries N times); the API stays up while servers reboot |
//! | etcd | servers carry `node-role.kubernetes.io/etcd=true` (unless built with `.no_etcd`); quorum is what an orchestrator judges from those Nodes' Ready conditions | no etcd endpoint is served (k3s serves etcd health only locally) |
//! | misc | `GET /version`, `GET /readyz`, unknown paths 404 with a `Status` body, wrong methods 405 | no other API groups, no discovery |

mod control;
mod eviction;
mod http;
mod patch;
mod routes;
mod scenario;
mod sim;
mod tls;
mod world;

pub use control::{cluster_dir, cordoned, status_of, HookHandle, KubeApi};
pub use scenario::Scenario;
pub use world::World;

use std::collections::BTreeMap;
use std::time::Duration;

/// The rollout protocol annotations (docs/upgrades.md).
pub const REQUEST: &str = "upgrade.kateskit.io/request";
pub const STATUS: &str = "upgrade.kateskit.io/status";
pub const CORDONED_BY: &str = "upgrade.kateskit.io/cordoned-by";
pub const MIRROR: &str = "kubernetes.io/config.mirror";

/// A node's k3s role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Server,
    Agent,
}

/// What goes wrong on one node (inject with [`KubeApi::inject`], at any time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    #[default]
    None,
    /// `fetch` and `stage` fail: a downloaded artifact does not match SHA256SUMS.
    FetchHashMismatch,
    /// `stage` fails while writing the slot (the fetch works).
    StageFails,
    /// The new version boots but its health gate fails: one `boot`/`failed` report, another
    /// reboot, then the node is back on the old version reporting `rolled-back`.
    GateFails,
    /// The new kernel panics: no report from it; the node comes back on the old version
    /// reporting `rolled-back`.
    BootPanics,
    /// The node goes down on `reboot` and never comes back (Ready stays Unknown).
    NeverReturns,
}

/// Delays of the simulation, scaled for tests.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    /// How often a node's watcher looks at its request annotation.
    pub poll: Duration,
    /// How long `fetch` and `stage` each take.
    pub work: Duration,
    /// After a reboot request: how long `Ready` stays True (the node monitor grace period).
    pub ready_lag: Duration,
    /// After a reboot request: when the node is back with a new bootID.
    pub down: Duration,
    /// From boot to the health gate's verdict (`boot` done / failed).
    pub gate: Duration,
    /// From deletion (or eviction) to the pod being gone.
    pub grace: Duration,
    /// From a controller pod's deletion to its replacement being Ready.
    pub reschedule: Duration,
}

impl Default for Timings {
    fn default() -> Timings {
        let ms = Duration::from_millis;
        Timings {
            poll: ms(20),
            work: ms(150),
            ready_lag: ms(60),
            down: ms(400),
            gate: ms(150),
            grace: ms(100),
            reschedule: ms(300),
        }
    }
}

/// One HTTP request the API answered, in arrival order.
#[derive(Debug, Clone)]
pub struct Request {
    /// Since the API started.
    pub at: Duration,
    pub method: String,
    /// Path and query, as sent (still percent-encoded).
    pub path: String,
    pub content_type: Option<String>,
    /// The body, cut at 1 KiB.
    pub body: String,
    pub status: u16,
    /// CN of the client certificate ("" when none).
    pub user: String,
}

/// A node as the test sees it.
#[derive(Debug, Clone)]
pub struct NodeView {
    pub name: String,
    pub role: Role,
    pub etcd: bool,
    /// The version it runs now.
    pub version: String,
    /// What the last successful `stage` wrote (None after a boot).
    pub staged: Option<String>,
    pub boot_id: String,
    /// `Ready` is True.
    pub ready: bool,
    pub unschedulable: bool,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// How many times the node has booted since the start (each new bootID).
    pub boots: u32,
    pub resource_version: u64,
    pub fault: Fault,
}

/// A pod as the test sees it.
#[derive(Debug, Clone)]
pub struct PodView {
    pub namespace: String,
    pub name: String,
    /// "" while Pending.
    pub node: String,
    /// Kind of the controlling owner (ReplicaSet, DaemonSet), if any.
    pub owner: Option<String>,
    pub mirror: bool,
    pub ready: bool,
    pub terminating: bool,
}

/// One eviction or deletion of a pod that the API carried out or refused.
#[derive(Debug, Clone)]
pub struct Disruption {
    pub at: Duration,
    /// "evict" or "delete".
    pub verb: &'static str,
    pub namespace: String,
    pub pod: String,
    pub node: String,
    pub owner: Option<String>,
    pub mirror: bool,
    pub status: u16,
}
