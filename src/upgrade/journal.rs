//! `DIR/upgrade/journal.json`: the rollout's id, target and sums hash, each node's last step and
//! one record per step taken, written atomically after every step so a rerun resumes where an
//! interrupted rollout stopped. `DIR/upgrade/lock` (flock) keeps a second orchestrator out.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::plan::Role;
use super::UpgradeError;
use crate::fsutil;

const JOURNAL_MAX: u64 = 64 * 1024 * 1024;

/// A node's progress, in order: a rerun continues from the step after the recorded one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    Pending,
    Fetched,
    Cordoned,
    Drained,
    Staged,
    /// The reboot was requested (or is about to be): never requested twice for one boot ID.
    Rebooting,
    Rebooted,
    Done,
    Failed,
}

impl Step {
    /// Between cordon and uncordon: the node is the rollout's to finish.
    pub fn in_flight(self) -> bool {
        (Step::Cordoned..=Step::Rebooted).contains(&self)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeRecord {
    pub role: Role,
    pub from: Option<String>,
    pub step: Step,
    /// The boot ID before the reboot request; a different one means the node rebooted.
    #[serde(default)]
    pub boot_id_before: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub at: String,
    pub node: String,
    pub step: Step,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Running,
    Failed,
    Done,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Journal {
    pub rollout: String,
    pub version: String,
    pub sums_sha256: String,
    pub source: String,
    pub started_at: String,
    pub outcome: Outcome,
    /// Earlier rollouts given up with `--abandon`: nodes they cordoned count as this one's.
    #[serde(default)]
    pub abandoned: Vec<String>,
    /// This rollout's ids before each rerun after a failure (the current one is `rollout`).
    #[serde(default)]
    pub earlier: Vec<String>,
    pub nodes: BTreeMap<String, NodeRecord>,
    pub records: Vec<Record>,
}

impl Journal {
    pub fn owns_cordon(&self, by: &str) -> bool {
        by == self.rollout || self.abandoned.iter().chain(&self.earlier).any(|a| a == by)
    }
}

/// The lock and the journal file of one cluster directory.
pub struct JournalFile {
    path: PathBuf,
    _lock: File,
    pub journal: Mutex<Option<Journal>>,
}

pub fn dir(cluster: &Path) -> PathBuf {
    cluster.join("upgrade")
}

/// Reads the journal without locking or writing (for `--dry-run`).
pub fn peek(cluster: &Path) -> Result<Option<Journal>, UpgradeError> {
    read(&dir(cluster).join("journal.json"))
}

fn read(path: &Path) -> Result<Option<Journal>, UpgradeError> {
    let bad = |reason: String| UpgradeError::Journal {
        path: path.to_path_buf(),
        reason,
    };
    match fsutil::read_nofollow(path, JOURNAL_MAX).map_err(|e| bad(e.to_string()))? {
        None => Ok(None),
        Some(t) => serde_json::from_slice(&t).map(Some).map_err(|e| {
            bad(format!(
                "{e}; move it away to start over (nodes it cordoned stay cordoned)"
            ))
        }),
    }
}

/// Takes the lock (refusing when another orchestrator holds it) and loads the journal.
pub fn lock(cluster: &Path) -> Result<JournalFile, UpgradeError> {
    let d = dir(cluster);
    let io = |path: &Path, e: std::io::Error| UpgradeError::Journal {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(&d).map_err(|e| io(&d, e))?;
    let lock_path = d.join("lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| io(&lock_path, e))?;
    rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive)
        .map_err(|_| UpgradeError::Locked(lock_path.clone()))?;
    let path = d.join("journal.json");
    let journal = read(&path)?;
    Ok(JournalFile {
        path,
        _lock: f,
        journal: Mutex::new(journal),
    })
}

impl JournalFile {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Moves the current journal aside as `journal-<rollout>.json` (an abandoned or finished
    /// rollout stays readable).
    pub fn archive(&self) -> Result<(), UpgradeError> {
        let g = self.journal.lock().expect("journal lock");
        if let Some(j) = g.as_ref() {
            let to = self
                .path
                .with_file_name(format!("journal-{}.json", j.rollout));
            std::fs::rename(&self.path, &to).map_err(|e| UpgradeError::Journal {
                path: self.path.clone(),
                reason: format!("moving it to {}: {e}", to.display()),
            })?;
        }
        Ok(())
    }

    pub fn replace(&self, j: Journal) -> Result<(), UpgradeError> {
        let mut g = self.journal.lock().expect("journal lock");
        *g = Some(j);
        self.write(g.as_ref().expect("just set"))
    }

    /// Applies `f` to the journal and writes it before returning.
    pub fn update<T>(&self, f: impl FnOnce(&mut Journal) -> T) -> Result<T, UpgradeError> {
        let mut g = self.journal.lock().expect("journal lock");
        let j = g.as_mut().expect("journal started");
        let out = f(j);
        self.write(j)?;
        Ok(out)
    }

    /// Records `node` reaching `step`.
    pub fn step(
        &self,
        node: &str,
        step: Step,
        message: Option<String>,
    ) -> Result<(), UpgradeError> {
        self.update(|j| {
            if let Some(n) = j.nodes.get_mut(node) {
                n.step = step;
                if message.is_some() {
                    n.message.clone_from(&message);
                }
            }
            j.records.push(Record {
                at: super::now_rfc3339(),
                node: node.to_string(),
                step,
                message,
            });
        })
    }

    fn write(&self, j: &Journal) -> Result<(), UpgradeError> {
        let text = serde_json::to_vec_pretty(j).expect("journal serializes");
        fsutil::write_atomic(&self.path, &text, 0o600).map_err(|e| UpgradeError::Journal {
            path: self.path.clone(),
            reason: e.to_string(),
        })
    }
}
