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
    /// The Secret to create through the API (never an auto-deploy file); an error when the
    /// node config lacks the Ceph keys, which fails the Rook deploy but not the charts.
    pub mon_secret: Result<serde_json::Value, rook::RookError>,
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
            mon_secret: cfg
                .secrets
                .as_ref()
                .ok_or(rook::RookError::NoCephKey("ceph_mon_secret"))
                .and_then(rook::mon_secret),
            manifests: rook::render_layout(layout, lock, source)?,
        }),
        None => None,
    };
    Ok(Bundle { manifests, rook })
}
