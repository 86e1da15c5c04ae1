//! `kateskit agent health`: the boot's health gate. Bounded checks (k3s active, this Node
//! Ready, on servers the etcd member healthy and the API `/readyz` answering), each retried
//! until it passes or the deadline; the verdict goes to `STATE/health.json` for the upgrade
//! watcher. It does not bless the boot entry: `kateskit-health.service` is ordered before
//! `boot-complete.target`, and `kateskit-commit.service` commits after it (docs/upgrades.md,
//! "Health gate and rollback").

pub mod checks;
pub mod duration;
pub mod facts;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::agent::AgentEnv;
use checks::Check;

/// The verdict file, under the upgrade state directory.
pub const HEALTH_FILE: &str = "health.json";
/// The gate's default bound.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// Pause between rounds of the checks that have not passed.
const INTERVAL: Duration = Duration::from_secs(1);
/// Longest single HTTP request.
const HTTP_MAX: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("{}: {msg}", path.display())]
    Facts { path: PathBuf, msg: String },
    #[error("writing the health verdict: {0}")]
    Write(#[from] crate::fsutil::FsError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckState {
    Passed,
    Failed,
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    pub name: String,
    pub state: CheckState,
    pub detail: String,
}

/// What `STATE/health.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub passed: bool,
    pub node: Option<String>,
    pub role: Option<String>,
    /// The booted slot's version (from the loader's EFI variables), when known.
    pub version: Option<String>,
    pub checks: Vec<CheckResult>,
    /// The kernel's boot id when the gate ran: the upgrade watcher reads only this boot's.
    pub boot_id: Option<String>,
    pub waited_s: u64,
    pub timeout_s: u64,
    pub at: String,
}

/// How long and where.
#[derive(Debug, Clone)]
pub struct Options {
    pub timeout: Duration,
    pub state_dir: PathBuf,
    pub efivars: PathBuf,
}

/// The booted slot's version, from `LoaderEntrySelected`/`LoaderBootCountPath`.
fn booted_version(efivars: &Path) -> Option<String> {
    let info = crate::slots::efivars::read(efivars).ok()?;
    Some(info.entry().ok()?.version.to_string())
}

/// The kernel's id of this boot (`/proc/sys/kernel/random/boot_id`, under the root).
pub fn boot_id(env: &AgentEnv) -> Option<String> {
    let text = std::fs::read_to_string(env.path("proc/sys/kernel/random/boot_id")).ok()?;
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

/// Now, as RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Runs the gate and writes its verdict; `Err` only when the verdict cannot be written.
pub fn run(env: &AgentEnv, opts: &Options) -> Result<Report, HealthError> {
    let t0 = Instant::now();
    let deadline = t0 + opts.timeout;
    let mut report = Report {
        passed: false,
        node: None,
        role: None,
        version: booted_version(&opts.efivars),
        checks: Vec::new(),
        boot_id: boot_id(env),
        waited_s: 0,
        timeout_s: opts.timeout.as_secs(),
        at: String::new(),
    };
    match facts::load(env) {
        Err(e) => report.checks.push(CheckResult {
            name: "node-config".into(),
            state: CheckState::Failed,
            detail: e.to_string(),
        }),
        Ok(f) => {
            report.node = Some(f.name.clone());
            report.role = Some(f.role.as_str().to_string());
            report.checks = gate(env, &f, deadline, t0);
        }
    }
    report.passed = report.checks.iter().all(|c| c.state != CheckState::Failed);
    report.waited_s = t0.elapsed().as_secs();
    report.at = now_rfc3339();
    write(&opts.state_dir, &report)?;
    Ok(report)
}

/// Retries every applicable check that has not passed, until all have or the deadline.
fn gate(env: &AgentEnv, f: &facts::NodeFacts, deadline: Instant, t0: Instant) -> Vec<CheckResult> {
    let mut results: Vec<CheckResult> = Check::ALL
        .iter()
        .map(|c| match c.skip_reason(f) {
            Some(why) => CheckResult {
                name: c.name().into(),
                state: CheckState::Skipped,
                detail: why.into(),
            },
            None => CheckResult {
                name: c.name().into(),
                state: CheckState::Failed,
                detail: "not attempted before the deadline".into(),
            },
        })
        .collect();
    loop {
        for (c, r) in Check::ALL.iter().zip(results.iter_mut()) {
            if r.state != CheckState::Failed {
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let http = left.clamp(Duration::from_millis(200), HTTP_MAX);
            match c.attempt(env, f, http) {
                Ok(d) => {
                    r.state = CheckState::Passed;
                    r.detail = d;
                }
                Err(e) => r.detail = e,
            }
        }
        let pending = results.iter().any(|r| r.state == CheckState::Failed);
        if !pending || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(INTERVAL.min(deadline.saturating_duration_since(Instant::now())));
    }
    let waited = t0.elapsed().as_secs();
    for r in results.iter_mut().filter(|r| r.state == CheckState::Failed) {
        r.detail = format!("{} (still failing after {waited}s of waiting)", r.detail);
    }
    results
}

fn write(state_dir: &Path, report: &Report) -> Result<(), HealthError> {
    crate::fsutil::create_dir_mode(state_dir, 0o755)?;
    let mut body = serde_json::to_vec_pretty(report).expect("the report serializes");
    body.push(b'\n');
    crate::fsutil::write_atomic(&state_dir.join(HEALTH_FILE), &body, 0o644)?;
    Ok(())
}

/// The last verdict, if one was written.
pub fn load(state_dir: &Path) -> Option<Report> {
    let text = std::fs::read(state_dir.join(HEALTH_FILE)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// The verdict for people: one line per check, then what failed and how long it waited.
pub fn summary(r: &Report) -> String {
    let mut out = String::new();
    for c in &r.checks {
        let state = match c.state {
            CheckState::Passed => "passed",
            CheckState::Failed => "FAILED",
            CheckState::Skipped => "skipped",
        };
        out.push_str(&format!("  {state:<7}  {:<13} {}\n", c.name, c.detail));
    }
    let node = r.node.as_deref().unwrap_or("this node");
    if r.passed {
        out.push_str(&format!(
            "health gate passed for {node} after {}s\n",
            r.waited_s
        ));
    } else {
        let failed: Vec<&str> = r
            .checks
            .iter()
            .filter(|c| c.state == CheckState::Failed)
            .map(|c| c.name.as_str())
            .collect();
        out.push_str(&format!(
            "health gate FAILED for {node}: {} after waiting {}s (timeout {}s)\n",
            failed.join(", "),
            r.waited_s,
            r.timeout_s
        ));
    }
    out
}
