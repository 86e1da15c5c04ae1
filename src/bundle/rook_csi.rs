//! The Ceph CSI drivers chart (`[rook_csi_drivers]`, ceph-csi-operator's `ceph-csi-drivers`).
//! Since Rook v1.20 the operator chart only installs the ceph-csi-operator; the `Driver` and
//! `OperatorConfig` objects that make the RBD and CephFS plugins run come from this chart, and
//! without it no PVC on the Rook StorageClass is ever provisioned (rook/rook @ v1.20.6:
//! Documentation/Upgrade/rook-upgrade.md, "ceph-csi-drivers (new requirement in v1.20)").
//!
//! Values: Rook's recommended file (rook/rook @ v1.20.6 deploy/charts/ceph-csi-drivers/
//! values.yaml), whose driver names are the provisioner names Rook's StorageClass uses, plus
//! the NixOS module mounts on the node plugins of both drivers.

use serde_json::{json, Value};

use super::charts::{self, ChartSource, LockedChart};
use super::rook::{NAMESPACE, NIXOS_MODULES};
use super::rook_storage::RBD_PROVISIONER;

/// Node plugin volumes so the plugins can load `rbd` and `ceph` from the NixOS module tree
/// (Rook's Prerequisites, "NixOS"). The operator merges them by name over its built-in ones
/// (ceph/ceph-csi-operator @ v1.0.4 internal/controller/driver_controller.go, `MapMergeByKey`
/// "so they can overwrite built in volumes"): `lib-modules` keeps its built-in mount at
/// /lib/modules but points at the NixOS tree, whose links into /nix need `host-nix`.
fn nixos_volumes() -> Value {
    json!([
        { "volume": { "name": "lib-modules", "hostPath": { "path": NIXOS_MODULES } } },
        {
            "volume": { "name": "host-nix", "hostPath": { "path": "/nix" } },
            "mount": { "name": "host-nix", "mountPath": "/nix", "readOnly": true }
        }
    ])
}

/// One entry of `drivers`. The volumes are set per driver: the chart's `driverSpecDefaults`
/// template (v1.0.4 templates/operatorConfig.yaml) indents a non-empty `nodePlugin.volumes`
/// list below its key, which is not valid YAML, while templates/driver.yaml renders it right.
fn driver(name: &str, enabled: bool) -> Value {
    let mut d = json!({ "enabled": enabled, "name": name });
    if enabled {
        d["nodePlugin"] = json!({ "volumes": nixos_volumes() });
    }
    d
}

/// The values: Rook's recommended ones (RBD and CephFS on, NFS and NVMe-oF off; every driver
/// named `<operator namespace>.<driver>.csi.ceph.com`, the RBD one being the StorageClass's
/// provisioner) with the NixOS volumes. Rook's file also sets
/// `driverSpecDefaults.controllerPlugin.priorityClassName`, which chart 1.0.4 never reads (not
/// in its values.yaml nor its templates), so it is left out.
pub fn values() -> Value {
    json!({
        "operatorConfig": {
            "namespace": NAMESPACE,
            "driverSpecDefaults": {
                "imageSet": { "name": "rook-csi-operator-image-set-configmap" },
                "nodePlugin": { "priorityClassName": "system-node-critical" }
            }
        },
        "drivers": {
            "rbd": driver(RBD_PROVISIONER, true),
            "cephfs": driver("rook-ceph.cephfs.csi.ceph.com", true),
            "nfs": driver("rook-ceph.nfs.csi.ceph.com", false),
            "nvmeof": driver("rook-ceph.nvmeof.csi.ceph.com", false)
        }
    })
}

/// The drivers chart as a k3s `HelmChart` in Rook's namespace.
pub fn drivers_chart(locked: &LockedChart, source: ChartSource) -> Value {
    charts::helm_chart(charts::ROOK_CSI, locked, &values(), source)
}
