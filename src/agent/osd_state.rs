//! Which Ceph cluster is "this cluster" on disk.
//!
//! Rook picks its own fsid when it creates the Ceph cluster, so the fsid `cluster init`
//! generates never appears on an OSD that Rook made. The agent therefore remembers every OSD
//! disk it handed over blank (by its by-id path, which names the physical disk). When such a
//! disk later carries an OSD, that OSD's fsid is learned, once, and from then on identifies this
//! cluster's OSDs: they are kept on every boot, while an OSD of any other fsid is still foreign.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::AgentEnv;
use crate::disk::{self, ClassifyOptions, Content, OsdCluster};
use crate::spec::OsdDisk;

const FILE: &str = "osd-disks.json";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OsdState {
    /// by-id paths of disks this node accepted or wiped for Ceph.
    pub handed_over: BTreeSet<String>,
    /// fsid found on the first OSD that appeared on a handed-over disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learned_fsid: Option<String>,
}

impl OsdState {
    pub fn load(env: &AgentEnv) -> Result<OsdState, String> {
        let path = env.state_dir().join(FILE);
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| {
                format!(
                    "{}: {e}; remove it only if none of this node's disks holds an OSD yet",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(OsdState::default()),
            Err(e) => Err(format!("reading {}: {e}", path.display())),
        }
    }

    /// Writes the state if it changed (so a re-run leaves the file untouched).
    pub fn save_if_changed(&self, env: &AgentEnv, before: &OsdState) -> Result<(), String> {
        if self == before {
            return Ok(());
        }
        let dir = env.state_dir();
        crate::fsutil::create_dir_mode(&dir, 0o700).map_err(|e| e.to_string())?;
        let mut text = serde_json::to_string_pretty(self).expect("state serializes");
        text.push('\n');
        crate::fsutil::write_atomic(&dir.join(FILE), text.as_bytes(), 0o600)
            .map_err(|e| e.to_string())
    }

    /// The fsid that marks this cluster's OSDs: the learned one, else learned now from a
    /// handed-over disk that carries a foreign-looking OSD, else the declared one.
    pub fn cluster_fsid(&mut self, env: &AgentEnv, disks: &[OsdDisk], declared: &str) -> String {
        if let Some(f) = &self.learned_fsid {
            return f.clone();
        }
        let opts = ClassifyOptions {
            ceph_fsid: Some(declared.to_string()),
            ..Default::default()
        };
        for d in disks.iter().filter(|d| self.handed_over.contains(&d.by_id)) {
            let path = disk::device_path(&d.by_id, &env.dev_dir);
            let Ok(c) = disk::classify_with(&path, &opts) else {
                continue;
            };
            if let Content::CephOsd {
                ceph_fsid: Some(f),
                cluster: OsdCluster::Other,
                ..
            } = c.content
            {
                tracing::info!("{}: learned this cluster's Ceph fsid {f} from the OSD on a disk this node handed over", d.by_id);
                self.learned_fsid = Some(f.clone());
                return f;
            }
        }
        declared.to_string()
    }
}
