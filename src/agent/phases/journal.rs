//! `/var/lib/kateskit/journal.json`: the outcome of every phase of the last run, written
//! atomically after each phase so a crash leaves the last completed phase on record.

use serde::{Deserialize, Serialize};

use crate::agent::phases::Phase;
use crate::agent::{AgentEnv, AgentError};
use crate::fsutil;

pub const JOURNAL: &str = "var/lib/kateskit/journal.json";

/// How a phase ended, as journaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Done,
    Failed,
    Skipped,
    NotRun,
}

impl Outcome {
    /// The word the banner and `agent status` show.
    pub fn shown(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Failed => "FAILED",
            Outcome::Skipped => "skipped",
            Outcome::NotRun => "not run",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseRecord {
    pub name: Phase,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    pub version: u32,
    /// SHA-256 of the effective config the run acted on; absent if discovery failed.
    pub config_sha256: Option<String>,
    pub phases: Vec<PhaseRecord>,
    /// What the disks phase found on each OSD disk and what it did.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disks: Vec<serde_json::Value>,
}

impl Journal {
    /// A journal with every phase not run yet.
    pub fn new() -> Journal {
        Journal {
            version: 1,
            config_sha256: None,
            disks: Vec::new(),
            phases: Phase::ALL
                .iter()
                .map(|&p| PhaseRecord {
                    name: p,
                    outcome: Outcome::NotRun,
                    detail: None,
                })
                .collect(),
        }
    }

    /// The record of one phase.
    pub fn get_mut(&mut self, p: Phase) -> &mut PhaseRecord {
        &mut self.phases[p as usize]
    }

    pub fn write(&self, env: &AgentEnv) -> Result<(), AgentError> {
        let path = env.path(JOURNAL);
        fsutil::create_dir_mode(path.parent().expect("journal has a parent"), 0o700)?;
        let mut body = serde_json::to_vec_pretty(self).expect("journal serializes");
        body.push(b'\n');
        fsutil::write_atomic(&path, &body, 0o600)?;
        Ok(())
    }
}

impl Default for Journal {
    fn default() -> Self {
        Journal::new()
    }
}
