//! Does the state a node needs across reboots survive one? A live or netboot system keeps
//! `/var` on tmpfs; what lives there is gone at the next boot. The agent looks at the
//! filesystem it would write to (statfs), not at how the image was labelled.

use std::path::{Path, PathBuf};

use crate::agent::ladder::effective::Effective;
use crate::agent::AgentEnv;
use crate::spec::{Role, StorageDriver};

/// `statfs` magic numbers of filesystems that live in memory.
const TMPFS_MAGIC: i64 = 0x0102_1994;
const RAMFS_MAGIC: i64 = 0x8584_58f6_u32 as i64;

/// The in-memory filesystem `path` (or its nearest existing ancestor) is on, if any.
pub fn in_memory(path: &Path) -> Option<&'static str> {
    let mut p: PathBuf = path.to_path_buf();
    loop {
        if let Ok(st) = rustix::fs::statfs(&p) {
            // f_type is i64 on x86_64 and a narrower type on other targets.
            #[allow(clippy::unnecessary_cast)]
            let kind = st.f_type as i64;
            return match kind {
                TMPFS_MAGIC => Some("tmpfs"),
                RAMFS_MAGIC => Some("ramfs"),
                _ => None,
            };
        }
        if !p.pop() {
            return None;
        }
    }
}

/// Refuses a Ceph mon host whose `/var/lib/rook` would not survive a reboot; warns where the
/// loss only costs a slower start.
pub fn check(env: &AgentEnv, cfg: &Effective) -> Result<Vec<String>, String> {
    let n = &cfg.node;
    let mut warnings = Vec::new();
    if n.storage.driver != StorageDriver::RookCeph {
        return Ok(warnings);
    }
    let rook = env.path(crate::bundle::rook::DATA_DIR_HOST_PATH.trim_start_matches('/'));
    let Some(fs) = in_memory(&rook) else {
        return Ok(warnings);
    };
    if n.node.role == Role::Server {
        return Err(format!(
            "{} is on {fs} (a live or netboot system): the Ceph mon data Rook keeps there on \
             servers would be lost at every reboot, and a cluster that loses its mons loses its \
             data; install the node to disk (kateskit install), mount persistent storage on \
             {}, or make this node an agent",
            crate::bundle::rook::DATA_DIR_HOST_PATH,
            crate::bundle::rook::DATA_DIR_HOST_PATH
        ));
    }
    if !n.storage.osd_disks.is_empty() {
        warnings.push(format!(
            "{} is on {fs}: this node is ephemeral; its OSDs live on their disks and are \
             recognised again after a reboot (declared fsid), but Rook re-creates their host \
             state at every boot",
            crate::bundle::rook::DATA_DIR_HOST_PATH
        ));
    }
    Ok(warnings)
}
