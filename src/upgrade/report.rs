//! What a rollout (or its dry run) did, per node: the final table and the `--json` document
//! (docs/schema/upgrade-report.schema.json, described in docs/upgrades.md).

use serde::Serialize;

use super::journal::{self, Step};
use super::plan::{Plan, Skipped};
use super::source::Source;
use super::step::Ctx;
use super::UpgradeError;

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

/// Fills the rows from the journal and sets the outcome and its message.
pub(super) fn finish(
    ctx: &Ctx,
    report: &mut Report,
    failure: Option<(String, String)>,
) -> Result<(), UpgradeError> {
    let j = ctx.journal.update(|j| {
        j.outcome = if failure.is_some() {
            journal::Outcome::Failed
        } else {
            journal::Outcome::Done
        };
        j.clone()
    })?;
    for row in report.nodes.iter_mut() {
        let Some(r) = j.nodes.get(&row.node) else {
            continue;
        };
        if row.result == NodeResult::Skipped {
            continue;
        }
        row.from.clone_from(&r.from);
        row.seconds = (r.seconds * 10.0).round() / 10.0;
        row.message.clone_from(&r.message);
        row.result = match r.step {
            Step::Done => NodeResult::Upgraded,
            Step::Failed => NodeResult::Failed,
            Step::Pending | Step::Fetched => NodeResult::NotStarted,
            _ => NodeResult::Failed,
        };
    }
    match failure {
        None => {
            report.outcome = Outcome::Done;
            report.message = format!(
                "rollout {} done: {} node(s) on {}",
                j.rollout,
                report
                    .nodes
                    .iter()
                    .filter(|r| r.result == NodeResult::Upgraded)
                    .count(),
                j.version
            );
        }
        Some((node, m)) => {
            report.outcome = Outcome::Failed;
            report.message = format!(
                "rollout {} stopped at {node}: {m}. No further node was started. Fix the cause, then rerun the same command to resume (journal {}); `--abandon` with another release gives this one up",
                j.rollout,
                ctx.journal.path().display()
            );
        }
    }
    Ok(())
}

/// The report of the plan: every target planned, skipped nodes with their reason.
pub(super) fn base_report(plan: &Plan, source: &Source) -> Report {
    let mut nodes: Vec<NodeRow> = plan
        .batches
        .iter()
        .flatten()
        .map(|n| row(plan, n, source, NodeResult::Planned, None))
        .collect();
    nodes.extend(plan.skipped.iter().map(|s| {
        row(
            plan,
            &s.node,
            source,
            NodeResult::Skipped,
            Some(s.reason.clone()),
        )
    }));
    Report {
        rollout: None,
        version: source.version.clone(),
        sums_sha256: source.sums_sha256.clone(),
        source: crate::redact::url(&source.location),
        outcome: Outcome::Planned,
        message: String::new(),
        batches: plan.batches.clone(),
        skipped: plan.skipped.clone(),
        warnings: plan.warnings.clone(),
        nodes,
        journal: None,
    }
}

fn row(
    plan: &Plan,
    name: &str,
    source: &Source,
    result: NodeResult,
    message: Option<String>,
) -> NodeRow {
    let info = &plan.nodes[name];
    NodeRow {
        node: name.to_string(),
        role: info.role.as_str(),
        from: info.version.clone(),
        to: source.version.clone(),
        result,
        seconds: 0.0,
        message,
    }
}
