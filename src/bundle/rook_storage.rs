//! What turns a running Ceph cluster into storage Kubernetes can use, and where its control
//! daemons run: a replicated `CephBlockPool`, the default RBD `StorageClass` on it, and the
//! placement that keeps mons and mgrs on the servers.
//!
//! Every field was checked against Rook v1.20.6: the CRD schemas of `deploy/examples/crds.yaml`
//! (key list in `tests/data/rook/crd-paths-v1.20.6.txt`), the pool example and the RBD
//! StorageClass of `deploy/examples/csi/rbd/storageclass.yaml`, whose CSI secret parameters are
//! copied as they are. docs/disks.md names the sources.

use serde_json::{json, Value};

use super::rook::{toleration, RookError, NAMESPACE};
use crate::nodecfg::CephLayout;

/// The default block pool (the name Rook's examples use).
pub const POOL: &str = "replicapool";
/// The default StorageClass.
pub const STORAGE_CLASS: &str = "rook-ceph-block";
/// Rook's RBD CSI driver: `<operator namespace>.rbd.csi.ceph.com`.
pub const RBD_PROVISIONER: &str = "rook-ceph.rbd.csi.ceph.com";
/// The label k3s puts on every server's Node (`node-role.kubernetes.io/control-plane=true`,
/// k3s `pkg/server/server.go`, `setControlPlaneRoleLabel`, later `setNodeLabelsAndAnnotations`).
pub const CONTROL_PLANE_LABEL: &str = "node-role.kubernetes.io/control-plane";
/// Most copies the pool keeps by default: Ceph's usual size.
pub const DEFAULT_MAX_REPLICAS: usize = 3;

/// Copies of each object in the default pool: the owner's `bundle.rook.replicas`, else one
/// per OSD host up to three. With `failureDomain: host` each copy needs its own host, so more
/// copies than OSD hosts would leave every placement group undersized.
pub fn pool_replicas(layout: &CephLayout) -> Result<usize, RookError> {
    let hosts = layout
        .nodes
        .iter()
        .filter(|n| !n.devices.is_empty())
        .count();
    match layout.replicas {
        None => Ok(hosts.min(DEFAULT_MAX_REPLICAS)),
        Some(r) if r >= 1 && r as usize <= hosts => Ok(r as usize),
        Some(r) => Err(RookError::Replicas(r, hosts)),
    }
}

/// The replicated pool PVCs are carved from. Rook refuses `size: 1` while
/// `requireSafeReplicaSize` is true (`pkg/operator/ceph/pool/validate.go`), so a one-copy
/// pool says so explicitly.
pub fn block_pool(layout: &CephLayout) -> Result<Value, RookError> {
    let size = pool_replicas(layout)?;
    Ok(json!({
        "apiVersion": "ceph.rook.io/v1",
        "kind": "CephBlockPool",
        "metadata": { "name": POOL, "namespace": NAMESPACE },
        "spec": {
            "failureDomain": "host",
            "replicated": { "size": size, "requireSafeReplicaSize": size > 1 },
        }
    }))
}

/// The cluster's default StorageClass, on [`POOL`]. k3s's local-storage is disabled whenever
/// Rook is the storage, so without it every PVC that names no class stays Pending.
pub fn storage_class() -> Value {
    json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": STORAGE_CLASS,
            "annotations": { "storageclass.kubernetes.io/is-default-class": "true" },
        },
        "provisioner": RBD_PROVISIONER,
        "parameters": {
            "clusterID": NAMESPACE,
            "pool": POOL,
            "imageFormat": "2",
            "imageFeatures": "layering",
            "csi.storage.k8s.io/provisioner-secret-name": "rook-csi-rbd-provisioner",
            "csi.storage.k8s.io/provisioner-secret-namespace": NAMESPACE,
            "csi.storage.k8s.io/controller-expand-secret-name": "rook-csi-rbd-provisioner",
            "csi.storage.k8s.io/controller-expand-secret-namespace": NAMESPACE,
            "csi.storage.k8s.io/controller-publish-secret-name": "rook-csi-rbd-provisioner",
            "csi.storage.k8s.io/controller-publish-secret-namespace": NAMESPACE,
            "csi.storage.k8s.io/node-stage-secret-name": "rook-csi-rbd-node",
            "csi.storage.k8s.io/node-stage-secret-namespace": NAMESPACE,
            "csi.storage.k8s.io/fstype": "ext4",
        },
        "allowVolumeExpansion": true,
        "reclaimPolicy": "Delete",
    })
}

/// Placement for mons and mgrs: only on servers (the mon count is computed from their
/// number), tolerating every taint a server carries.
pub fn server_placement(layout: &CephLayout) -> Value {
    let mut tolerations: Vec<Value> = Vec::new();
    for tol in layout.server_taints.iter().filter_map(|t| toleration(t)) {
        if !tolerations.contains(&tol) {
            tolerations.push(tol);
        }
    }
    json!({
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{
                    "matchExpressions": [{ "key": CONTROL_PLANE_LABEL, "operator": "Exists" }]
                }]
            }
        },
        "tolerations": tolerations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nodecfg::CephNode;

    fn layout(hosts: usize, replicas: Option<u32>) -> CephLayout {
        CephLayout {
            servers: 1,
            server_taints: Vec::new(),
            nodes: (0..hosts)
                .map(|i| CephNode {
                    name: format!("n{i}"),
                    devices: vec![format!("/dev/disk/by-id/d{i}")],
                    taints: Vec::new(),
                })
                .collect(),
            replicas,
        }
    }

    #[test]
    fn replicas_follow_osd_hosts_up_to_three_or_the_owner() {
        let got: Vec<usize> = (1..6)
            .map(|h| pool_replicas(&layout(h, None)).unwrap())
            .collect();
        assert_eq!(got, [1, 2, 3, 3, 3]);
        assert_eq!(pool_replicas(&layout(4, Some(4))), Ok(4));
        assert_eq!(
            pool_replicas(&layout(2, Some(3))),
            Err(RookError::Replicas(3, 2))
        );
        assert_eq!(
            pool_replicas(&layout(2, Some(0))),
            Err(RookError::Replicas(0, 2))
        );
    }

    #[test]
    fn a_single_copy_pool_waives_the_safe_size_check() {
        let one = block_pool(&layout(1, None)).unwrap();
        assert_eq!(
            one["spec"]["replicated"],
            json!({ "size": 1, "requireSafeReplicaSize": false })
        );
        let two = block_pool(&layout(2, None)).unwrap();
        assert_eq!(
            two["spec"]["replicated"],
            json!({ "size": 2, "requireSafeReplicaSize": true })
        );
    }
}
