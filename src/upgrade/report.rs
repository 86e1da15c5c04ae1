//! What a rollout (or its dry run) did, per node: the final table and the `--json` document
//! (docs/schema/upgrade-report.schema.json, described in docs/upgrades.md).

use serde::Serialize;

use super::plan::Skipped;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// `--dry-run`: nothing was changed.
    Planned,
    /// Every target already runs the release.
    Noop,
    Done,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum NodeResult {
    Planned,
    Skipped,
    Upgraded,
    Failed,
    NotStarted,
}

impl NodeResult {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeResult::Planned => "planned",
            NodeResult::Skipped => "skipped",
            NodeResult::Upgraded => "upgraded",
            NodeResult::Failed => "failed",
            NodeResult::NotStarted => "not started",
        }
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct NodeRow {
    pub node: String,
    pub role: &'static str,
    pub from: Option<String>,
    pub to: String,
    pub result: NodeResult,
    pub seconds: f64,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Report {
    /// `null` for a dry run or a no-op (no rollout was started).
    pub rollout: Option<String>,
    pub version: String,
    pub sums_sha256: String,
    pub source: String,
    pub outcome: Outcome,
    /// Why it failed and what to do; for success a one-line summary.
    pub message: String,
    pub batches: Vec<Vec<String>>,
    pub skipped: Vec<Skipped>,
    pub warnings: Vec<String>,
    pub nodes: Vec<NodeRow>,
    /// Where the journal is (`null` when none was written).
    pub journal: Option<String>,
}

impl Report {
    pub fn failed(&self) -> bool {
        self.outcome == Outcome::Failed
    }
}
