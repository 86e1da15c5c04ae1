//! Rook-Ceph manifests rendered from cluster.toml: the operator as a k3s `HelmChart` and one
//! `CephCluster` that names every OSD disk explicitly (no `useAllNodes`/`useAllDevices`), so
//! Ceph never takes a disk that was not declared.

use serde_json::{json, Value};

use super::Manifest;
use crate::nodecfg::CephLayout;
use crate::spec::{ClusterSpec, StorageDriver};

/// Helm repository of the Rook operator chart.
pub const CHART_REPO: &str = "https://charts.rook.io/release";
/// Chart name in that repository.
pub const CHART_NAME: &str = "rook-ceph";
/// Pinned chart (and operator) version.
pub const CHART_VERSION: &str = "v1.18.7";
/// Pinned Ceph image (Squid), a release Rook 1.18 supports.
pub const CEPH_IMAGE: &str = "quay.io/ceph/ceph:v19.2.3";
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
}

/// Ceph mons: one per server, at most three, always an odd number so quorum survives a loss.
pub fn mon_count(servers: usize) -> usize {
    let n = servers.clamp(1, 3);
    if n % 2 == 0 {
        n - 1
    } else {
        n
    }
}

fn module_volumes() -> Value {
    json!([
        { "name": "lib-modules", "hostPath": { "path": NIXOS_MODULES } },
        { "name": "host-nix", "hostPath": { "path": "/nix" } }
    ])
}

fn nix_mount() -> Value {
    json!([{ "name": "host-nix", "mountPath": "/nix", "readOnly": true }])
}

/// The operator chart as a k3s `HelmChart`, with the CSI plugin mounts NixOS needs so the
/// plugins can load `rbd` and `ceph` from the host's module tree.
pub fn operator_chart() -> Value {
    let values = json!({
        "crds": { "enabled": true },
        "csi": {
            "csiRBDPluginVolume": module_volumes(),
            "csiRBDPluginVolumeMount": nix_mount(),
            "csiCephFSPluginVolume": module_volumes(),
            "csiCephFSPluginVolumeMount": nix_mount(),
        }
    });
    let values = serde_yaml::to_string(&values).expect("JSON values always encode as YAML");
    json!({
        "apiVersion": "helm.cattle.io/v1",
        "kind": "HelmChart",
        "metadata": { "name": CHART_NAME, "namespace": "kube-system" },
        "spec": {
            "repo": CHART_REPO,
            "chart": CHART_NAME,
            "version": CHART_VERSION,
            "targetNamespace": NAMESPACE,
            "createNamespace": true,
            "valuesContent": values,
        }
    })
}

/// A k3s taint (`key[=value]:Effect`, validated by the spec) as a Kubernetes toleration.
fn toleration(taint: &str) -> Option<Value> {
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
/// tainted against ordinary workloads still runs its OSDs.
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
            "placement": { "osd": placement, "prepareosd": placement },
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
        out.push_str(&serde_yaml::to_string(d).map_err(|e| RookError::Yaml(what, e.to_string()))?);
    }
    Ok(out)
}

/// Both manifests for a `storage = "rook-ceph"` cluster, in apply order.
pub fn render(spec: &ClusterSpec) -> Result<Vec<Manifest>, RookError> {
    if spec.bundle.storage != StorageDriver::RookCeph {
        return Err(RookError::NotRook(spec.bundle.storage.as_str()));
    }
    render_layout(&crate::nodecfg::ceph_layout(spec))
}

/// The same manifests from the layout a server's NodeConfig carries.
pub fn render_layout(layout: &CephLayout) -> Result<Vec<Manifest>, RookError> {
    let cluster = ceph_cluster(layout)?;
    let namespace =
        json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": NAMESPACE } });
    Ok(vec![
        Manifest {
            file_name: "rook-ceph-operator.yaml".into(),
            yaml: yaml("the Rook HelmChart", &[operator_chart()])?,
        },
        Manifest {
            file_name: "rook-ceph-cluster.yaml".into(),
            yaml: yaml("the CephCluster", &[namespace, cluster])?,
        },
    ])
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
