//! The phase runner: each phase is idempotent, its outcome journaled atomically; the first
//! failure stops the run (fail closed: k3s is never started half-configured), and the report
//! phase always runs so the node says why. One file per phase.

pub mod discover;
pub mod disks;
pub mod host;
pub mod join;
pub mod journal;
pub mod k3s_config;
pub mod network;
pub mod network_local;
pub mod pending;
pub mod report;
pub mod start;
pub mod validate;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::agent::ladder::effective::Effective;
use crate::agent::ladder::Ladder;
use crate::agent::phases::join::verify::JoinOutcome;
pub use crate::agent::phases::journal::{Journal, Outcome, PhaseRecord, JOURNAL};
use crate::agent::{AgentEnv, AgentError};

/// The phases, in the order they run; the journal, `agent status` and the
/// `KATESKIT_FAULT_AFTER` hook name them by [`Phase::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Discover,
    Validate,
    Network,
    Host,
    Disks,
    K3sConfig,
    Start,
    Join,
    Report,
}

impl Phase {
    pub const ALL: [Phase; 9] = [
        Phase::Discover,
        Phase::Validate,
        Phase::Network,
        Phase::Host,
        Phase::Disks,
        Phase::K3sConfig,
        Phase::Start,
        Phase::Join,
        Phase::Report,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Discover => "discover",
            Phase::Validate => "validate",
            Phase::Network => "network",
            Phase::Host => "host",
            Phase::Disks => "disks",
            Phase::K3sConfig => "k3s-config",
            Phase::Start => "start",
            Phase::Join => "join",
            Phase::Report => "report",
        }
    }

    /// Every phase before the report, which runs whatever happened.
    fn acting() -> &'static [Phase] {
        &Phase::ALL[..Phase::ALL.len() - 1]
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

/// How a phase that did not fail ended, with the detail the journal keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finished {
    Done(String),
    /// Nothing to do here on this run (e.g. the join, in the unit that runs before k3s).
    Skipped(String),
}

/// Everything a run learned, for the report.
#[derive(Debug, Default)]
pub struct RunState {
    pub ladder: Option<Ladder>,
    pub effective: Option<Effective>,
    pub warnings: Vec<String>,
    pub errors: Vec<String>,
    pub join: Option<JoinOutcome>,
    pub k3s_changed: usize,
    /// Before/after classification of every OSD disk, for the journal.
    pub disks: Vec<serde_json::Value>,
    /// Set by discover when no source says what this machine is: the run stops there.
    pub unconfigured: Option<crate::agent::ladder::unconfigured::Unconfigured>,
}

/// Runs the configured systemctl with `args` and returns what it did.
fn run_systemctl(env: &AgentEnv, args: &[&str]) -> Result<std::process::Output, String> {
    let (cmd, pre) = env
        .systemctl
        .split_first()
        .ok_or("KATESKIT_SYSTEMCTL is empty")?;
    std::process::Command::new(cmd)
        .args(pre)
        .args(args)
        .output()
        .map_err(|e| format!("running {cmd} {}: {e}", args.join(" ")))
}

pub(crate) fn systemctl(env: &AgentEnv, args: &[&str]) -> Result<(), String> {
    let out = run_systemctl(env, args)?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "{} {} failed ({}): {}",
            env.systemctl[0],
            args.join(" "),
            out.status,
            err.trim()
        ));
    }
    Ok(())
}

/// `systemctl ARGS` for a query (`is-active`): whether it exited 0, and its stdout.
pub(crate) fn systemctl_query(env: &AgentEnv, args: &[&str]) -> Result<(bool, String), String> {
    let out = run_systemctl(env, args)?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

fn run_phase(env: &AgentEnv, phase: Phase, st: &mut RunState) -> Result<Finished, AgentError> {
    match phase {
        Phase::Discover => discover::run(env, st),
        Phase::Validate => validate::run(env, st),
        Phase::Network => network::run(env, st),
        Phase::Host => host::run(env, st),
        Phase::Disks => disks::run(env, st),
        Phase::K3sConfig => k3s_config::run(env, st),
        Phase::Start => start::run(env, st),
        Phase::Join => join::run(env, st),
        Phase::Report => unreachable!("the report runs after the loop"),
    }
}

fn fault(env: &AgentEnv, phase: Phase) {
    if env.fault_after.as_deref() == Some(phase.name()) {
        eprintln!("kateskit: KATESKIT_FAULT_AFTER={phase}: aborting now (fault injection)");
        std::process::abort();
    }
}

/// Runs every phase; returns the final journal. Errors only when the journal cannot be written.
pub fn run(env: &AgentEnv) -> Result<(Journal, RunState), AgentError> {
    let mut j = Journal::new();
    let mut st = RunState::default();
    report::shown::prepare_run_dir(env)?;
    for &phase in Phase::acting() {
        let (outcome, detail) = match run_phase(env, phase, &mut st) {
            Ok(Finished::Skipped(why)) => (Outcome::Skipped, Some(why)),
            Ok(Finished::Done(d)) => (
                Outcome::Done,
                Some(report::shown::Scrubber::new(&st).text(&d)),
            ),
            Err(e) => {
                let e = report::shown::Scrubber::new(&st).text(&e.to_string());
                st.errors.push(format!("{phase}: {e}"));
                (Outcome::Failed, Some(e))
            }
        };
        if let (Some(e), None) = (&st.effective, &j.config_sha256) {
            let doc = serde_json::json!({"node": e.node, "agent": e.agent});
            j.config_sha256 = Some(hex::encode(Sha256::digest(doc.to_string().as_bytes())));
        }
        if j.disks.is_empty() {
            j.disks = std::mem::take(&mut st.disks);
        }
        *j.get_mut(phase) = PhaseRecord {
            name: phase,
            outcome,
            detail,
        };
        if st.unconfigured.is_some() {
            for &later in Phase::acting().iter().skip(phase as usize + 1) {
                let p = j.get_mut(later);
                p.outcome = Outcome::Skipped;
                p.detail = Some("this machine is unconfigured".into());
            }
        }
        j.write(env)?;
        if outcome == Outcome::Failed || st.unconfigured.is_some() {
            break;
        }
        fault(env, phase);
    }
    let last = j.phases.len() - 1;
    // The first successful run ends the first boot: the identity it recorded pins the node.
    let ok = j.phases[..last]
        .iter()
        .all(|p| p.outcome != Outcome::Failed);
    if let (true, false, Some(cfg)) = (ok, env.defer_join, &st.effective) {
        if let Err(e) = crate::agent::ladder::identity::record(env, cfg) {
            st.errors
                .push(format!("report: recording the node identity: {e}"));
        }
        // The first boot's removable media stand in for themselves on later boots.
        if let Some(l) = st.ladder.as_ref().filter(|l| l.first_boot) {
            if let Err(e) = crate::agent::ladder::media_record::save(env, &l.media) {
                st.errors.push(format!(
                    "report: recording the first boot's config drive: {e}"
                ));
            }
        }
    }
    j.phases[last].outcome = Outcome::Done;
    match report::write(env, &j, &mut st) {
        Ok(()) => {}
        Err(e) => {
            j.phases[last] = PhaseRecord {
                name: Phase::Report,
                outcome: Outcome::Failed,
                detail: Some(e.to_string()),
            };
            st.errors.push(format!("report: {e}"));
        }
    }
    j.write(env)?;
    fault(env, Phase::Report);
    Ok((j, st))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_names_are_the_journal_names() {
        for p in Phase::ALL {
            let json = serde_json::to_value(p).unwrap();
            assert_eq!(json, p.name(), "{p:?}");
            assert_eq!(serde_json::from_value::<Phase>(json).unwrap(), p);
            assert_eq!(Phase::ALL[p as usize], p, "ALL is in declaration order");
        }
        assert_eq!(format!("{:<11}|", Phase::Disks), "disks      |");
        assert!(serde_json::from_value::<Phase>("skipped: x".into()).is_err());
    }

    #[test]
    fn the_report_is_not_an_acting_phase() {
        assert_eq!(Phase::acting().len(), Phase::ALL.len() - 1);
        assert!(!Phase::acting().contains(&Phase::Report));
    }
}
