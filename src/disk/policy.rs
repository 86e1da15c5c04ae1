//! The wipe policy: a pure decision from (classification, `wipe`, `confirm_serial`) to an
//! action. Nothing here touches a disk, so every combination is unit-tested.
//!
//! | state                       | never  | if-foreign | always (+ serial)      |
//! |-----------------------------|--------|------------|------------------------|
//! | blank                       | accept | accept     | accept                 |
//! | Ceph OSD of this cluster    | keep   | keep       | keep                   |
//! | Ceph OSD of another cluster | refuse | wipe       | wipe                   |
//! | partition table, no data    | refuse | wipe       | wipe                   |
//! | swap signature (inactive)   | refuse | wipe       | wipe                   |
//! | anything else with data     | refuse | refuse     | wipe                   |
//! | in use / boot disk / small  | refuse | refuse     | refuse                 |

use std::fmt;

use serde::Serialize;

use super::{Classification, Content, OsdCluster};
use crate::spec::WipePolicy;

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

/// True for content that carries no user data: a foreign OSD, a partition table whose
/// partitions hold no signature (or only swap), an inactive swap signature.
pub fn is_foreign_without_data(content: &Content) -> bool {
    match content {
        Content::CephOsd {
            cluster: OsdCluster::Other,
            ..
        } => true,
        Content::PartitionTable { table } => table
            .partitions
            .iter()
            .all(|p| p.signatures.iter().all(|s| s.kind == "swap")),
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

/// Decides what to do with one disk. `by_id` is the path as declared in cluster.toml.
pub fn decide(
    c: &Classification,
    by_id: &str,
    policy: WipePolicy,
    confirm_serial: Option<&str>,
) -> Action {
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
    match &c.content {
        Content::Blank => return Action::Accept,
        Content::CephOsd {
            cluster: OsdCluster::This,
            ..
        } => return Action::Keep,
        _ => {}
    }
    let serial = c.serial.as_deref();
    let foreign = is_foreign_without_data(&c.content);
    match policy {
        WipePolicy::Never => {
            let allow = if foreign {
                format!("{{ by_id = {by_id:?}, wipe = \"if-foreign\" }}")
            } else {
                always_setting(by_id, serial)
            };
            refuse("wipe = \"never\" accepts only blank disks and OSDs of this cluster".into(), allow)
        }
        WipePolicy::IfForeign if foreign => Action::Wipe,
        WipePolicy::IfForeign => refuse(
            "wipe = \"if-foreign\" wipes only disks without data (empty partition tables, OSDs of another cluster)"
                .into(),
            always_setting(by_id, serial),
        ),
        WipePolicy::Always => match (confirm_serial, serial) {
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
