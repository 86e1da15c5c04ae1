//! The one path that prepares a node's OSD disks, used by the agent's disks phase and by
//! `kateskit disk prepare`: the same knowledge (declared fsid + what this node recorded), the
//! same plan, the same writes.
//!
//! The declared fsid is what Rook adopts from the pre-seeded mon secret, so every node knows its
//! cluster's OSDs with no local state. What this node records (`osd-disks.json` in its state
//! directory) only adds to that: the disks it handed over, and the fsid of an OSD that later
//! appeared on one of them (a cluster whose Rook chose its own fsid before the identity was
//! pre-seeded). Losing the file loses nothing: an OSD it no longer recognises is refused, never
//! wiped.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::prepare::{self, CephKnowledge, DiskEnv, DiskReport, Plan, PrepareError, Taken};
use super::{classify_with, device_path, ClassifyOptions, Content, OsdCluster};
use crate::spec::OsdDisk;

/// File name of the node's OSD record in its state directory.
pub const STATE_FILE: &str = "osd-disks.json";

/// What this node recorded about its OSD disks.
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
    pub fn load(state_dir: &Path) -> Result<OsdState, PrepareError> {
        let path = state_dir.join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| {
                PrepareError::State(format!(
                    "{}: {e}; it only adds to what the declared fsid proves, so it may be removed",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(OsdState::default()),
            Err(e) => Err(PrepareError::State(format!(
                "reading {}: {e}",
                path.display()
            ))),
        }
    }

    /// Writes the state if it changed (so a re-run leaves the file untouched).
    pub fn save_if_changed(&self, state_dir: &Path, before: &OsdState) -> Result<(), PrepareError> {
        if self == before {
            return Ok(());
        }
        let st = |e: crate::fsutil::FsError| PrepareError::State(e.to_string());
        crate::fsutil::create_dir_mode(state_dir, 0o700).map_err(st)?;
        let mut text = serde_json::to_string_pretty(self).expect("state serializes");
        text.push('\n');
        crate::fsutil::write_atomic(&state_dir.join(STATE_FILE), text.as_bytes(), 0o600).map_err(st)
    }

    /// Learns, once, the fsid of an OSD found on a disk this node handed over blank: only this
    /// cluster's Rook was given that disk.
    fn learn(&mut self, disks: &[OsdDisk], know: &CephKnowledge, env: &DiskEnv) {
        if self.learned_fsid.is_some() {
            return;
        }
        let opts = ClassifyOptions {
            this_fsids: know.fsids(),
            udev_data_dir: env.udev_data_dir.clone(),
            ..Default::default()
        };
        for d in disks.iter().filter(|d| self.handed_over.contains(&d.by_id)) {
            let Ok(c) = classify_with(&device_path(&d.by_id, &env.dev_dir), &opts) else {
                continue;
            };
            if let Content::CephOsd {
                ceph_fsid: Some(f),
                cluster: OsdCluster::Other,
                ..
            } = c.content
            {
                tracing::info!(
                    "{}: recorded Ceph fsid {f} from the OSD on a disk this node handed over",
                    d.by_id
                );
                self.learned_fsid = Some(f);
                return;
            }
        }
    }
}

/// What `prepare_node` did.
#[derive(Debug)]
pub enum NodeDisks {
    /// Dry run: the decisions, nothing written (not even the state file).
    Planned(Plan),
    Applied(Vec<DiskReport>),
}

/// Plans (and with `apply`, carries out) the preparation of a node's OSD disks.
pub fn prepare_node(
    disks: &[OsdDisk],
    declared_fsid: &str,
    state_dir: &Path,
    env: &DiskEnv,
    apply: bool,
) -> Result<NodeDisks, PrepareError> {
    let before = OsdState::load(state_dir)?;
    let mut state = before.clone();
    let mut know = CephKnowledge::new(declared_fsid, Vec::new())?;
    state.learn(disks, &know, env);
    know.recorded.extend(state.learned_fsid.clone());
    let plan = prepare::plan(disks, &know, env);
    if !apply {
        return Ok(NodeDisks::Planned(plan));
    }
    let reports = plan.apply(env)?;
    for r in reports.iter().filter(|r| r.action != Taken::Kept) {
        state.handed_over.insert(r.by_id.clone());
    }
    state.save_if_changed(state_dir, &before)?;
    Ok(NodeDisks::Applied(reports))
}
