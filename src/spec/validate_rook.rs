//! Checks of `[bundle.rook]`: its settings must fit the OSD hosts the nodes declare.

use super::locate::KeyPath;
use super::model::{ClusterSpec, StorageDriver};
use super::validate::Checker;

/// `replicas` is between 1 and the number of nodes with OSD disks (the pool's failure domain
/// is the host), and the table is only given when Rook is the storage.
pub(super) fn check_rook(c: &mut Checker, spec: &ClusterSpec) {
    let Some(rook) = &spec.bundle.rook else {
        return;
    };
    let p = KeyPath::root().key("bundle").key("rook");
    if spec.bundle.storage != StorageDriver::RookCeph {
        c.err(
            p,
            format!(
                "[bundle.rook] is only read with storage = \"rook-ceph\", but storage is \"{}\"",
                spec.bundle.storage.as_str()
            ),
            "remove [bundle.rook], or set bundle.storage = \"rook-ceph\"",
        );
        return;
    }
    let Some(replicas) = rook.replicas else {
        return;
    };
    let hosts = spec
        .nodes
        .iter()
        .filter(|n| !n.osd_disks.is_empty())
        .count();
    let at = p.key("replicas");
    if replicas == 0 {
        c.err(
            at,
            "bundle.rook.replicas = 0 keeps no copy of the data",
            "set replicas to at least 1, or remove it to keep one copy per OSD host (up to 3)",
        );
    } else if hosts > 0 && replicas as usize > hosts {
        let nodes = if hosts == 1 { "node has" } else { "nodes have" };
        c.err(
            at,
            format!("bundle.rook.replicas = {replicas} but only {hosts} {nodes} OSD disks, and each copy needs its own host"),
            format!("set replicas to at most {hosts}, or add osd_disks to more nodes"),
        );
    } else if replicas == 1 && hosts > 1 {
        c.warn(
            at,
            "bundle.rook.replicas = 1 keeps a single copy: losing one disk loses data",
            "remove replicas to keep one copy per OSD host (up to 3)",
        );
    }
}
