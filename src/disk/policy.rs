//! The wipe policy: a pure decision from (classification, the declared disk) to an action.
//! Nothing here touches a disk, so every combination is unit-tested.
//!
//! The invariant: a disk is wiped only when it is provably empty, provably another cluster's
//! (the owner named that cluster's fsid in `foreign_fsid`), or the owner named its serial
//! (`always`). An OSD whose fsid is not this cluster's is never wiped on a guess, under any
//! policy: without node-local state it may be this cluster's own.
//!
//! | state                                        | never  | if-foreign | always (+ serial) |
//! |----------------------------------------------|--------|------------|-------------------|
//! | blank                                        | accept | accept     | accept            |
//! | Ceph OSD of this cluster                     | keep   | keep       | keep              |
//! | Ceph OSD whose fsid is `foreign_fsid`        | refuse | wipe       | wipe              |
//! | Ceph OSD of any other or an unreadable fsid  | refuse | refuse     | refuse            |
//! | partition table, every partition zeros/swap  | refuse | wipe       | wipe              |
//! | swap signature (inactive)                    | refuse | wipe       | wipe              |
//! | anything else (data, or unrecognised bytes)  | refuse | refuse     | wipe              |
//! | in use / boot disk / small                   | refuse | refuse     | refuse            |

use std::fmt;

use serde::Serialize;

use super::{Classification, Content, OsdCluster};
use crate::spec::{OsdDisk, WipePolicy};

/// What to do with one declared OSD disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// Blank already: hand it to Rook as is.
    Accept,
    /// An OSD of this cluster: leave it for Rook to adopt.
    Keep,
    /// Wipe it with the teardown recipe, then hand it to Rook.
    Wipe,
    /// Fail closed.
    Refuse(Refusal),
}

/// A refusal that names the disk, what is on it, and the exact setting that would allow it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub device: String,
    pub reason: String,
    pub found: String,
    pub allow: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "refusing {}: {}; it holds {}; to allow it: {}",
            self.device, self.reason, self.found, self.allow
        )
    }
}

/// True for content that provably carries no user data: a partition table whose partitions
/// are all zeros at both ends with no signature (or hold only swap), an inactive swap signature.
pub fn is_empty_of_data(content: &Content) -> bool {
    match content {
        Content::PartitionTable { table } => table.partitions.iter().all(|p| {
            p.zeroed || (!p.signatures.is_empty() && p.signatures.iter().all(|s| s.kind == "swap"))
        }),
        Content::Other { signature, .. } => signature == "swap",
        _ => false,
    }
}

fn always_setting(by_id: &str, serial: Option<&str>) -> String {
    match serial {
        Some(s) => format!("{{ by_id = {by_id:?}, wipe = \"always\", confirm_serial = {s:?} }}"),
        None => {
            "nothing: the disk reports no serial number, so wipe = \"always\" cannot be confirmed; \
                 check the disk and clear it by hand (wipefs --all, sgdisk --zap-all)"
                .to_string()
        }
    }
}

/// Decides what to do with one declared disk.
pub fn decide(c: &Classification, disk: &OsdDisk) -> Action {
    let by_id = disk.by_id.as_str();
    let device = if c.device == c.canonical {
        c.device.display().to_string()
    } else {
        format!("{} ({})", c.device.display(), c.canonical.display())
    };
    let found = c.content.to_string();
    let refuse = |reason: String, allow: String| {
        Action::Refuse(Refusal {
            device: device.clone(),
            reason,
            found: found.clone(),
            allow,
        })
    };
    if !c.blockers.is_empty() {
        let reason = c
            .blockers
            .iter()
            .map(|b| b.to_string())
            .collect::<Vec<_>>()
            .join("; ");
        return refuse(
            reason,
            "no wipe setting allows this; free the disk or declare a different one".into(),
        );
    }
    let serial = c.serial.as_deref();
    let policy = disk.wipe;
    let named_foreign = match &c.content {
        Content::Blank => return Action::Accept,
        Content::CephOsd {
            cluster: OsdCluster::This,
            ..
        } => return Action::Keep,
        Content::CephOsd {
            ceph_fsid: Some(f),
            cluster: OsdCluster::Other,
            ..
        } => {
            if !disk
                .foreign_fsid
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(f))
            {
                return refuse(
                    format!("the OSD's cluster fsid {f} is neither this cluster's nor one this node recorded, so it may be this cluster's own OSD; it is never wiped on a guess"),
                    format!("if it is another cluster's OSD that may be destroyed: {{ by_id = {by_id:?}, wipe = \"if-foreign\", foreign_fsid = {f:?} }}"),
                );
            }
            true
        }
        Content::CephOsd { .. } => {
            return refuse(
                "the OSD's label cannot be read, so nobody can tell whose cluster it belongs to; it is never wiped on a guess".into(),
                "nothing in cluster.toml: check it (ceph-bluestore-tool show-label --dev DEVICE) and clear it by hand (wipefs --all, sgdisk --zap-all) if it is not needed".into(),
            );
        }
        _ => false,
    };
    let wipeable = named_foreign || is_empty_of_data(&c.content);
    match policy {
        WipePolicy::Never => {
            let allow = if wipeable {
                format!("{{ by_id = {by_id:?}, wipe = \"if-foreign\" }}")
            } else {
                always_setting(by_id, serial)
            };
            refuse("wipe = \"never\" accepts only blank disks and OSDs of this cluster".into(), allow)
        }
        WipePolicy::IfForeign if wipeable => Action::Wipe,
        WipePolicy::IfForeign => refuse(
            "wipe = \"if-foreign\" wipes only disks that provably hold no data (zeroed partitions, swap) and OSDs of the cluster named in foreign_fsid"
                .into(),
            always_setting(by_id, serial),
        ),
        WipePolicy::Always => match (disk.confirm_serial.as_deref(), serial) {
            (_, None) => refuse("wipe = \"always\" needs the disk's serial number, and it reports none".into(), always_setting(by_id, None)),
            (None, Some(_)) => refuse("wipe = \"always\" needs confirm_serial".into(), always_setting(by_id, serial)),
            (Some(want), Some(have)) if want != have => refuse(
                format!("confirm_serial {want:?} does not match the disk's serial {have:?}"),
                always_setting(by_id, serial),
            ),
            (Some(_), Some(_)) => Action::Wipe,
        },
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
