//! `STATE/watch.json`: what the watcher has done, so a restart (or the reboot it asked for)
//! never repeats a step: the steps started per rollout, the boot last reported, and a status
//! not yet published (the API was unreachable).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::protocol::{Action, Status};

pub const WATCH_FILE: &str = "watch.json";
/// Rollouts remembered; older ones are forgotten (their steps can no longer be requested).
const ROLLOUTS_KEPT: usize = 16;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WatchState {
    /// rollout id → the steps started for it, in order.
    #[serde(default)]
    pub steps: BTreeMap<String, Vec<Action>>,
    /// Insertion order of `steps`, oldest first.
    #[serde(default)]
    pub order: Vec<String>,
    /// The boot (kernel boot id) whose outcome was published.
    #[serde(default)]
    pub boot_reported: Option<String>,
    /// The step in progress (rollout, action): still set at start means the last watcher
    /// stopped during it.
    #[serde(default)]
    pub running: Option<(String, Action)>,
    /// A status to publish at the next chance.
    #[serde(default)]
    pub unpublished: Option<Status>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{}: {msg}; it is the upgrade watcher's own record: move it away to start afresh (steps of the current rollout may then run again)", path.display())]
    Damaged { path: PathBuf, msg: String },
    #[error(transparent)]
    Fs(#[from] crate::fsutil::FsError),
}

impl WatchState {
    pub fn load(dir: &Path) -> Result<WatchState, StateError> {
        let path = dir.join(WATCH_FILE);
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| StateError::Damaged {
                path,
                msg: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(WatchState::default()),
            Err(e) => Err(StateError::Damaged {
                path,
                msg: format!("cannot be read: {e}"),
            }),
        }
    }

    pub fn save(&self, dir: &Path) -> Result<(), StateError> {
        crate::fsutil::create_dir_mode(dir, 0o755)?;
        let mut body = serde_json::to_vec_pretty(self).expect("the state serializes");
        body.push(b'\n');
        crate::fsutil::write_atomic(&dir.join(WATCH_FILE), &body, 0o644)?;
        Ok(())
    }

    pub fn started(&self, rollout: &str, action: Action) -> bool {
        self.steps.get(rollout).is_some_and(|s| s.contains(&action))
    }

    pub fn start(&mut self, rollout: &str, action: Action) {
        if !self.steps.contains_key(rollout) {
            self.order.push(rollout.to_string());
            while self.order.len() > ROLLOUTS_KEPT {
                let old = self.order.remove(0);
                self.steps.remove(&old);
            }
        }
        self.steps
            .entry(rollout.to_string())
            .or_default()
            .push(action);
    }
}
