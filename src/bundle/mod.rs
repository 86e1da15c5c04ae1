//! Manifests the agent writes into k3s's auto-deploy directory on servers.

pub mod auth;
pub mod charts;
pub mod kube_vip;
pub mod rook;
pub mod rook_csi;
pub mod rook_storage;
pub mod tls;

use crate::nodecfg::NodeConfig;

/// One file for `/var/lib/rancher/k3s/server/manifests/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub file_name: String,
    pub yaml: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(transparent)]
    Charts(#[from] charts::ChartError),
    #[error(transparent)]
    Rook(#[from] rook::RookError),
}

/// What a server deploys. Agents get nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    /// Chart-installed components: written into the auto-deploy directory before k3s starts.
    pub manifests: Vec<Manifest>,
    /// Rook, when the server carries a Ceph layout: written only after the `rook-ceph-mon`
    /// Secret exists, so the operator never reconciles a CephCluster without it.
    pub rook: Option<RookDeploy>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RookDeploy {
    /// The Secret to create through the API (never an auto-deploy file); `None` on a server
    /// that does not seed the cluster (it carries no Ceph keys and waits for the Secret the
    /// first server creates); an error when the first server's node config lacks the keys,
    /// which fails the Rook deploy but not the charts.
    pub mon_secret: Result<Option<serde_json::Value>, rook::RookError>,
    /// The operator HelmChart, and the CephCluster with its block pool and StorageClass.
    pub manifests: Vec<Manifest>,
}

/// Every bundle object a node deploys: chart-installed components, then Rook when the
/// server carries a Ceph layout.
pub fn manifests(
    cfg: &NodeConfig,
    lock: &charts::ChartLock,
    source: charts::ChartSource,
) -> Result<Bundle, BundleError> {
    let manifests = charts::render(cfg, lock, source)?;
    let rook = match &cfg.storage.ceph_cluster {
        Some(layout) => Some(RookDeploy {
            mon_secret: match &cfg.secrets {
                None => Err(rook::RookError::NoCephKey("ceph_mon_secret")),
                Some(s) if !s.seeds_cluster() && s.ceph_mon_secret.is_none() => Ok(None),
                Some(s) => rook::mon_secret(s).map(Some),
            },
            manifests: rook::render_layout(layout, lock, source)?,
        }),
        None => None,
    };
    Ok(Bundle { manifests, rook })
}
