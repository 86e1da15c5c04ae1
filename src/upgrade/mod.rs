//! `kateskit upgrade`: rolls a release across the cluster through the Kubernetes API, speaking
//! the rollout protocol (see [`protocol`]) to `kateskit node watch` on every node. Servers go
//! first, one at a time and never below etcd quorum; agents follow `concurrency` at a time.
//! Every node is pre-staged before any is cordoned; each is cordoned, drained through the
//! eviction API, staged, rebooted and waited for (new boot ID, Ready, health gate passed at the
//! target version), then uncordoned. The first failure stops the rollout; a journal lets a rerun
//! resume.

pub mod drain;
pub mod journal;
pub mod plan;
pub mod preflight;
pub mod protocol;
pub mod report;
mod rollout;
pub mod source;
mod step;

use std::path::PathBuf;
use std::time::Duration;

pub use report::Report;
pub use rollout::run;

use crate::kube::{AccessError, KubeError};

#[derive(Debug, Clone)]
pub struct Options {
    pub cluster_dir: PathBuf,
    pub source: String,
    /// Only these nodes (all of the cluster's when `None`).
    pub nodes: Option<Vec<String>>,
    pub concurrency: usize,
    pub drain_timeout: Duration,
    /// Also bounds each node's fetch and stage.
    pub reboot_timeout: Duration,
    pub force: bool,
    pub dry_run: bool,
    pub abandon: bool,
    pub server: Option<String>,
}

/// Where a rollout reports what it is doing (the CLI draws bars or prints lines).
pub trait Progress: Sync {
    fn node(&self, node: &str, step: &str);
    fn note(&self, text: &str);
}

/// Pre-stage fetches run this many nodes at a time (the release server's load).
pub const FETCH_PARALLEL: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    #[error(transparent)]
    Source(#[from] source::SourceError),
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error(transparent)]
    Kube(#[from] KubeError),
    #[error("{path}: {reason}")]
    Journal { path: PathBuf, reason: String },
    #[error("another `kateskit upgrade` holds {0}; wait for it to finish (one rollout per cluster at a time)")]
    Locked(PathBuf),
    #[error("rollout {rollout} to {version} is unfinished ({journal}); rerun with `--to` the same release to resume it, or add --abandon to start {new} instead (nodes it left cordoned are then finished by the new rollout)")]
    Unfinished {
        rollout: String,
        version: String,
        journal: PathBuf,
        new: String,
    },
    #[error("no node named {} in the cluster (known: {})", unknown.join(", "), known.join(", "))]
    UnknownNodes {
        unknown: Vec<String>,
        known: Vec<String>,
    },
    #[error("node(s) {} not Ready: bring them back or leave them out with --nodes before upgrading", .0.join(", "))]
    NotReady(Vec<String>),
    #[error("{0} is the only control-plane node: while it reboots the Kubernetes API is down and a failed upgrade leaves the cluster without a control plane; add servers first, or pass --force to accept that")]
    SingleControlPlane(String),
    #[error("{0}; bring the other servers back first (--force overrides, at the risk of losing etcd quorum)")]
    Quorum(String),
}

/// Now, as RFC 3339 UTC with seconds (the journal's and reports' timestamps).
pub fn now_rfc3339() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}
