//! Manifests the agent writes into k3s's auto-deploy directory on servers.

pub mod auth;
pub mod charts;
pub mod rook;

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

/// Every bundle manifest a node deploys: chart-installed components, then Rook when the
/// server carries a Ceph layout. Agents get none.
pub fn manifests(
    cfg: &NodeConfig,
    lock: &charts::ChartLock,
    source: charts::ChartSource,
) -> Result<Vec<Manifest>, BundleError> {
    let mut out = charts::render(cfg, lock, source)?;
    if let Some(layout) = &cfg.storage.ceph_cluster {
        out.extend(rook::render_layout(layout)?);
    }
    Ok(out)
}
