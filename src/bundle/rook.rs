//! Rook-Ceph manifests rendered from cluster.toml: the operator and its CSI drivers as k3s
//! `HelmChart`s (charts pinned in `bundle/charts.toml` as `[rook_ceph]` and
//! `[rook_csi_drivers]`, see `bundle::rook_csi`) and one `CephCluster` that names every OSD
//! disk explicitly (no `useAllNodes`/`useAllDevices`), so Ceph never takes a disk that was not
//! declared, with the block pool and default StorageClass of `bundle::rook_storage` in the same
//! file. Also the `rook-ceph-mon` Secret that carries the cluster's pre-generated Ceph
//! identity; it is created once through the API, never put in the auto-deploy directory.

use base64::Engine;
use serde_json::{json, Value};

use super::charts::{self, ChartLock, ChartSource, LockedChart};
use super::Manifest;
use super::{rook_csi, rook_storage};
use crate::nodecfg::{CephLayout, NodeSecrets};
use crate::pki::cephx;
use crate::secret::Secret;
use crate::spec::{ClusterSpec, StorageDriver};

/// Name of Rook's cluster access Secret (`AppName` in Rook's `pkg/operator/ceph/controller`).
pub const MON_SECRET_NAME: &str = "rook-ceph-mon";
/// Pinned Ceph image (Tentacle): the one rook/rook v1.20.6 deploy/examples/cluster.yaml names,
/// in the releases its pkg/operator/ceph/version/version.go supports (Squid, Tentacle).
pub const CEPH_IMAGE: &str = "quay.io/ceph/ceph:v20.2.4";
/// Namespace of the operator and the cluster.
pub const NAMESPACE: &str = "rook-ceph";
/// Host directory for mon data and Ceph config on every node.
pub const DATA_DIR_HOST_PATH: &str = "/var/lib/rook";
/// Where NixOS keeps the running kernel's modules (Rook's "Distro Notes: NixOS").
pub const NIXOS_MODULES: &str = "/run/booted-system/kernel-modules/lib/modules/";

/// Why Rook manifests cannot be rendered for a spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RookError {
    #[error("bundle.storage is \"{0}\"; Rook manifests exist only for storage = \"rook-ceph\"")]
    NotRook(&'static str),
    #[error("bundle.storage = \"rook-ceph\" but no node declares osd_disks; add osd_disks to at least one node")]
    NoOsdDisks,
    #[error("bundle.storage = \"rook-ceph\" needs at least one node with role = \"server\" to run Ceph mons")]
    NoServers,
    #[error("encoding {0} as YAML failed: {1}")]
    Yaml(&'static str, String),
    #[error("{0}: no [{1}] table; add repo, chart, version, namespace, url and digest for that chart of Rook's (bundle/charts.toml has both)")]
    NoLock(String, String),
    #[error("the chart lock: {0}")]
    Lock(String),
    #[error("the node config has no secrets.{0}, so Rook would choose its own Ceph fsid; re-render the node config with this kateskit (`kateskit cluster render`)")]
    NoCephKey(&'static str),
    #[error("secrets.{0} in the node config is not a cephx key ({1}); re-render the node config from the cluster's secrets")]
    BadCephKey(&'static str, String),
    #[error("bundle.rook.replicas = {0} but {1} node(s) have OSD disks; each copy needs its own host, so choose 1 to {1} (`kateskit cluster check` names the line)")]
    Replicas(u32, usize),
}

/// Ceph mons: one per server, at most three, always an odd number so quorum survives a loss.
pub fn mon_count(servers: usize) -> usize {
    let n = servers.clamp(1, 3);
    if n.is_multiple_of(2) {
        n - 1
    } else {
        n
    }
}

/// The operator chart as a k3s `HelmChart`. It has no CSI settings since v1.20: those, and
/// the module mounts NixOS needs, are in the drivers chart (`bundle::rook_csi`).
pub fn operator_chart(locked: &LockedChart, source: ChartSource) -> Value {
    let values = json!({ "crds": { "enabled": true } });
    charts::helm_chart(charts::ROOK, locked, &values, source)
}

/// A k3s taint (`key[=value]:Effect`, validated by the spec) as a Kubernetes toleration.
pub(crate) fn toleration(taint: &str) -> Option<Value> {
    let (kv, effect) = taint.rsplit_once(':')?;
    Some(match kv.split_once('=') {
        Some((key, value)) => {
            json!({ "key": key, "operator": "Equal", "value": value, "effect": effect })
        }
        None => json!({ "key": kv, "operator": "Exists", "effect": effect }),
    })
}

/// The `CephCluster`: every node with OSD disks, each disk by its stable by-id path. OSD pods
/// (and the jobs that prepare their disks) tolerate the taints of those nodes, so a storage node
/// tainted against ordinary workloads still runs its OSDs. Mons and mgrs run on servers only.
pub fn ceph_cluster(layout: &CephLayout) -> Result<Value, RookError> {
    let servers = layout.servers;
    if servers == 0 {
        return Err(RookError::NoServers);
    }
    let nodes: Vec<Value> = layout
        .nodes
        .iter()
        .filter(|n| !n.devices.is_empty())
        .map(|n| {
            let devices: Vec<Value> = n.devices.iter().map(|d| json!({ "name": d })).collect();
            json!({ "name": n.name, "devices": devices })
        })
        .collect();
    if nodes.is_empty() {
        return Err(RookError::NoOsdDisks);
    }
    let mut tolerations: Vec<Value> = Vec::new();
    for t in layout.nodes.iter().flat_map(|n| &n.taints) {
        if let Some(tol) = toleration(t).filter(|tol| !tolerations.contains(tol)) {
            tolerations.push(tol);
        }
    }
    let placement = json!({ "tolerations": tolerations });
    let servers_only = rook_storage::server_placement(layout);
    Ok(json!({
        "apiVersion": "ceph.rook.io/v1",
        "kind": "CephCluster",
        "metadata": { "name": NAMESPACE, "namespace": NAMESPACE },
        "spec": {
            "cephVersion": { "image": CEPH_IMAGE, "allowUnsupported": false },
            "dataDirHostPath": DATA_DIR_HOST_PATH,
            "mon": { "count": mon_count(servers), "allowMultiplePerNode": false },
            "mgr": { "count": if servers > 1 { 2 } else { 1 }, "allowMultiplePerNode": false },
            "dashboard": { "enabled": true, "ssl": true },
            "placement": {
                "mon": servers_only,
                "mgr": servers_only,
                "osd": placement,
                "prepareosd": placement,
            },
            "storage": {
                "useAllNodes": false,
                "useAllDevices": false,
                "nodes": nodes,
            }
        }
    }))
}

fn yaml(what: &'static str, docs: &[Value]) -> Result<String, RookError> {
    let mut out =
        String::from("# Rendered by kateskit from cluster.toml; edit cluster.toml instead.\n");
    for d in docs {
        out.push_str("---\n");
        out.push_str(
            &serde_yaml_ng::to_string(d).map_err(|e| RookError::Yaml(what, e.to_string()))?,
        );
    }
    Ok(out)
}

/// Both manifests for a `storage = "rook-ceph"` cluster, in apply order, with the bundled
/// chart lock and the chart from its repository.
pub fn render(spec: &ClusterSpec) -> Result<Vec<Manifest>, RookError> {
    if spec.bundle.storage != StorageDriver::RookCeph {
        return Err(RookError::NotRook(spec.bundle.storage.as_str()));
    }
    let lock = ChartLock::bundled().map_err(|e| RookError::Lock(e.to_string()))?;
    render_layout(&crate::nodecfg::ceph_layout(spec), &lock, ChartSource::Repo)
}

/// The same manifests from the layout a server's NodeConfig carries.
pub fn render_layout(
    layout: &CephLayout,
    lock: &ChartLock,
    source: ChartSource,
) -> Result<Vec<Manifest>, RookError> {
    let locked = |c: &str| {
        lock.charts
            .get(c)
            .ok_or_else(|| RookError::NoLock(lock.origin.clone(), c.to_string()))
    };
    let operator = operator_chart(locked(charts::ROOK)?, source);
    let drivers = rook_csi::drivers_chart(locked(charts::ROOK_CSI)?, source);
    let cluster = ceph_cluster(layout)?;
    let namespace =
        json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": NAMESPACE } });
    Ok(vec![
        Manifest {
            file_name: "rook-ceph-operator.yaml".into(),
            yaml: yaml("the Rook HelmCharts", &[operator, drivers])?,
        },
        Manifest {
            file_name: "rook-ceph-cluster.yaml".into(),
            yaml: yaml(
                "the CephCluster",
                &[
                    namespace,
                    cluster,
                    rook_storage::block_pool(layout)?,
                    rook_storage::storage_class(),
                ],
            )?,
        },
    ])
}

/// Rook's `rook-ceph-mon` Secret holding the cluster's own identity. Rook loads an existing one
/// on a new cluster instead of generating a fsid and keys (keys as read in Rook v1.20.6
/// `pkg/operator/ceph/controller/cluster_info.go`: `fsid`, `mon-secret`, `ceph-username`,
/// `ceph-secret`). `type` matches the Secret Rook would create itself.
pub fn mon_secret(secrets: &NodeSecrets) -> Result<Value, RookError> {
    let key = |v: &Option<Secret>, field: &'static str| -> Result<String, RookError> {
        let k = v
            .as_ref()
            .ok_or(RookError::NoCephKey(field))?
            .expose()
            .trim();
        cephx::validate(k).map_err(|e| RookError::BadCephKey(field, e.to_string()))?;
        Ok(k.to_string())
    };
    let mon = key(&secrets.ceph_mon_secret, "ceph_mon_secret")?;
    let admin = key(&secrets.ceph_admin_secret, "ceph_admin_secret")?;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": { "name": MON_SECRET_NAME, "namespace": NAMESPACE },
        "type": "kubernetes.io/rook",
        "data": {
            "fsid": b64(secrets.ceph_fsid.trim()),
            "mon-secret": b64(&mon),
            "ceph-username": b64("client.admin"),
            "ceph-secret": b64(&admin),
        }
    }))
}

/// The fsid a `rook-ceph-mon` Secret read back from the API holds (`data.fsid`, base64).
pub fn secret_fsid(secret: &Value) -> Option<String> {
    let raw = secret.pointer("/data/fsid")?.as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(raw.trim())
        .ok()?;
    String::from_utf8(bytes).ok().map(|s| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taints_become_tolerations() {
        assert_eq!(
            toleration("dedicated=storage:NoSchedule"),
            Some(
                json!({ "key": "dedicated", "operator": "Equal", "value": "storage", "effect": "NoSchedule" })
            )
        );
        assert_eq!(
            toleration("ceph:NoExecute"),
            Some(json!({ "key": "ceph", "operator": "Exists", "effect": "NoExecute" }))
        );
        assert_eq!(toleration("no-effect"), None);
    }

    #[test]
    fn mon_count_is_odd_and_at_most_three() {
        let got: Vec<usize> = (0..7).map(mon_count).collect();
        assert_eq!(got, vec![1, 1, 1, 3, 3, 3, 3]);
    }
}
