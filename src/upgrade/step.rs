//! One node through the rollout: cordon, drain, stage, reboot, wait for it to come back healthy
//! on the target, uncordon. Each step is journaled before the next starts, so a rerun picks up
//! at the recorded step; a reboot is requested at most once per recorded boot ID.

use std::time::{Duration, Instant};

use super::drain::{self, node_path, Cordon};
use super::journal::{JournalFile, Step};
use super::protocol::{self, Action, Request, State};
use super::source::Source;
use super::{Options, Progress, UpgradeError};
use crate::kube::{objects, Client};

const POLL: Duration = Duration::from_millis(200);

pub struct Ctx<'a> {
    pub client: &'a Client,
    pub journal: &'a JournalFile,
    pub source: &'a Source,
    pub rollout: String,
    /// Cordoned-by values that are this rollout's (its id and abandoned ones).
    pub owned: Vec<String>,
    pub opts: &'a Options,
    pub progress: &'a dyn Progress,
}

/// Why a node failed, and whether it was uncordoned.
#[derive(Debug)]
pub struct NodeFailure {
    pub message: String,
}

impl Ctx<'_> {
    fn owns(&self) -> impl Fn(&str) -> bool + '_ {
        move |by: &str| self.owned.iter().any(|o| o == by)
    }

    pub fn request(&self, node: &str, action: Action) -> Result<(), UpgradeError> {
        let req = Request {
            rollout: self.rollout.clone(),
            version: self.source.version.clone(),
            source: self.source.location.clone(),
            sums_sha256: self.source.sums_sha256.clone(),
            action,
        };
        self.client
            .merge_patch(&node_path(node), &protocol::request_patch(&req))?;
        Ok(())
    }

    /// Waits for the node's status of `action` in this rollout to be `done`.
    pub fn wait_action(&self, node: &str, action: Action, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(n) = self.client.get(&node_path(node)) {
                if let Some(s) = protocol::status(&n) {
                    if s.action == action && s.rollout.as_deref() == Some(self.rollout.as_str()) {
                        match s.state {
                            State::Done => return Ok(()),
                            State::Running => {}
                            State::Failed | State::RolledBack => {
                                return Err(s.message.unwrap_or_else(|| "no message".into()))
                            }
                        }
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "no `done` status within {}s (is kateskit-upgrade.service running on it?)",
                    timeout.as_secs()
                ));
            }
            std::thread::sleep(POLL);
        }
    }
}

enum Back {
    /// Came back healthy at the target.
    Upgraded,
    /// Came back, but not upgraded (gate failed or rolled back): it can take pods again.
    Returned(String),
    /// Did not come back in time.
    Lost(String),
}

/// Runs `node` from its journaled step to done.
pub fn run_node(ctx: &Ctx, node: &str) -> Result<(), NodeFailure> {
    let started = Instant::now();
    let result = steps(ctx, node);
    let secs = started.elapsed().as_secs_f64();
    let _ = ctx.journal.update(|j| {
        if let Some(r) = j.nodes.get_mut(node) {
            r.seconds += secs;
        }
    });
    result
}

fn steps(ctx: &Ctx, node: &str) -> Result<(), NodeFailure> {
    let fail = |m: String| NodeFailure { message: m };
    let jerr = |e: UpgradeError| fail(e.to_string());
    let mut step = ctx
        .journal
        .update(|j| j.nodes.get(node).map(|r| r.step))
        .map_err(jerr)?
        .unwrap_or(Step::Pending);
    if step == Step::Failed {
        // A node that failed to come back in time may since have booted the release: then only
        // its uncordon is left; anything else starts over after the fetch.
        let back = ctx.client.get(&node_path(node)).ok().is_some_and(|n| {
            objects::node_ready(&n)
                && protocol::status(&n).and_then(|s| s.version).as_deref()
                    == Some(ctx.source.version.as_str())
        });
        step = if back { Step::Rebooted } else { Step::Fetched };
    }
    let t = ctx.opts.reboot_timeout;
    let mut theirs = false;
    if step < Step::Cordoned {
        for w in super::preflight::blocking_pdbs(ctx.client, node).unwrap_or_default() {
            ctx.progress.note(&w);
        }
        ctx.progress.node(node, "cordon");
        match drain::cordon(ctx.client, node, &ctx.rollout, ctx.owns()) {
            Ok(Cordon::Ours) => {}
            Ok(Cordon::Theirs) => theirs = true,
            Err(e) => return Err(fail(format!("cordon: {e}"))),
        }
        ctx.journal.step(node, Step::Cordoned, None).map_err(jerr)?;
    }
    if step < Step::Drained {
        ctx.progress.node(node, "drain");
        if let Err(e) = drain::drain(ctx.client, node, ctx.opts.drain_timeout) {
            return Err(undo(ctx, node, format!("{e}")));
        }
        ctx.journal.step(node, Step::Drained, None).map_err(jerr)?;
    }
    if step < Step::Staged {
        ctx.progress.node(node, "stage");
        let r = ctx
            .request(node, Action::Stage)
            .map_err(|e| e.to_string())
            .and_then(|()| ctx.wait_action(node, Action::Stage, t));
        if let Err(m) = r {
            return Err(undo(ctx, node, format!("stage on {node} failed: {m}")));
        }
        ctx.journal.step(node, Step::Staged, None).map_err(jerr)?;
    }
    let before = if step < Step::Rebooting {
        let id = ctx
            .client
            .get(&node_path(node))
            .map(|n| objects::boot_id(&n).to_string())
            .map_err(|e| undo(ctx, node, format!("reading boot ID: {e}")))?;
        ctx.journal
            .update(|j| {
                if let Some(r) = j.nodes.get_mut(node) {
                    r.boot_id_before = Some(id.clone());
                }
            })
            .map_err(jerr)?;
        ctx.journal
            .step(node, Step::Rebooting, None)
            .map_err(jerr)?;
        id
    } else {
        ctx.journal
            .update(|j| j.nodes.get(node).and_then(|r| r.boot_id_before.clone()))
            .map_err(jerr)?
            .unwrap_or_default()
    };
    if step < Step::Rebooted {
        // A resumed rollout asks again only when the request never reached the node.
        let asked = ctx
            .client
            .get(&node_path(node))
            .ok()
            .and_then(|n| protocol::request(&n))
            .is_some_and(|r| r.rollout == ctx.rollout && r.action == Action::Reboot);
        if !asked {
            ctx.progress.node(node, "reboot");
            if let Err(e) = ctx.request(node, Action::Reboot) {
                return Err(undo(ctx, node, format!("requesting the reboot: {e}")));
            }
        }
        ctx.progress.node(node, "wait for boot");
        match wait_boot(ctx, node, &before) {
            Back::Upgraded => {}
            Back::Returned(m) => return Err(undo(ctx, node, m)),
            Back::Lost(m) => {
                let m = format!(
                    "{m}; {node} stays cordoned so no pods land on it: once it is back, rerun the same command to continue"
                );
                let _ = ctx.journal.step(node, Step::Failed, Some(m.clone()));
                return Err(fail(m));
            }
        }
        ctx.journal.step(node, Step::Rebooted, None).map_err(jerr)?;
    }
    ctx.progress.node(node, "uncordon");
    let uncordoned = drain::uncordon(ctx.client, node, ctx.owns())
        .map_err(|e| fail(format!("uncordon {node}: {e}")))?;
    let note = (!uncordoned || theirs)
        .then(|| "left cordoned: it was cordoned by someone else before the rollout".to_string());
    if let Some(n) = &note {
        ctx.progress.note(&format!("{node}: {n}"));
    }
    ctx.journal.step(node, Step::Done, note).map_err(jerr)?;
    ctx.progress.node(node, "done");
    Ok(())
}

/// On a failure with the node up: uncordon it if the rollout cordoned it (a failed upgrade
/// must not leave nodes unschedulable), journal the failure.
fn undo(ctx: &Ctx, node: &str, message: String) -> NodeFailure {
    let message = match drain::uncordon(ctx.client, node, ctx.owns()) {
        Ok(true) => format!("{message}; {node} was uncordoned"),
        Ok(false) => format!("{message}; {node} was cordoned by someone else and stays cordoned"),
        Err(e) => {
            format!("{message}; uncordoning {node} failed too ({e}): run `kubectl uncordon {node}`")
        }
    };
    let _ = ctx.journal.step(node, Step::Failed, Some(message.clone()));
    NodeFailure { message }
}

/// Waits for a boot ID other than `before`, Ready, and the watcher's `boot` status.
fn wait_boot(ctx: &Ctx, node: &str, before: &str) -> Back {
    let timeout = ctx.opts.reboot_timeout;
    let deadline = Instant::now() + timeout;
    let target = ctx.source.version.as_str();
    let mut seen = "no answer from the API".to_string();
    let mut gate_failed: Option<String> = None;
    loop {
        // The API itself may be down while a server reboots: errors are retried.
        if let Ok(n) = ctx.client.get(&node_path(node)) {
            let booted = objects::boot_id(&n) != before;
            let ready = objects::node_ready(&n);
            let status = protocol::status(&n).filter(|s| {
                s.action == Action::Boot && s.rollout.as_deref().is_none_or(|r| r == ctx.rollout)
            });
            seen = format!(
                "rebooted: {booted}, Ready: {ready}, boot status: {}",
                status
                    .as_ref()
                    .map(|s| format!("{:?}", s.state).to_lowercase())
                    .unwrap_or_else(|| "none".into())
            );
            if booted {
                if let Some(s) = &status {
                    let version = s.version.clone().unwrap_or_default();
                    let msg = s.message.clone().unwrap_or_default();
                    match s.state {
                        State::Done if ready && version == target => return Back::Upgraded,
                        State::Done if version != target => {
                            return Back::Returned(format!(
                                "{node} came back on {version}, not {target}: {msg}"
                            ))
                        }
                        State::RolledBack => {
                            let gate = gate_failed
                                .as_ref()
                                .map(|g| format!(" after its health gate failed on {target} ({g})"))
                                .unwrap_or_default();
                            return Back::Returned(format!(
                                "{node} rolled back to {version}{gate}: {msg}; check `kateskit node status` on it"
                            ));
                        }
                        // The gate's FailureAction reboots the node until its tries run
                        // out and the old slot boots: wait for that verdict.
                        State::Failed => gate_failed = Some(msg),
                        _ => {}
                    }
                }
            }
        }
        if Instant::now() >= deadline {
            let gate = gate_failed
                .map(|g| format!("; its health gate failed on {target}: {g}"))
                .unwrap_or_default();
            return Back::Lost(format!(
                "{node} did not come back healthy within --reboot-timeout {}s ({seen}){gate}",
                timeout.as_secs()
            ));
        }
        std::thread::sleep(POLL);
    }
}
