//! The phase runner: each phase is idempotent, its outcome journaled atomically; the first
//! failure stops the run (fail closed: k3s is never started half-configured), and the report
//! phase always runs so the node says why.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::effective::{self, Effective};
use super::join::JoinOutcome;
use super::ladder::{self, Ladder};
use super::{deploy, host, network, report, validate, AgentEnv, AgentError};
use crate::fsutil;

pub const PHASES: [&str; 9] = [
    "discover",
    "validate",
    "network",
    "host",
    "disks",
    "k3s-config",
    "start",
    "join",
    "report",
];
pub const JOURNAL: &str = "var/lib/kateskit/journal.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Done,
    Failed,
    Skipped,
    NotRun,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseRecord {
    pub name: String,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// `/var/lib/kateskit/journal.json`: the outcome of every phase of the last run.
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
    pub unconfigured: Option<super::unconfigured::Unconfigured>,
}

fn systemctl(env: &AgentEnv, args: &[&str]) -> Result<(), String> {
    let (cmd, pre) = env
        .systemctl
        .split_first()
        .ok_or("KATESKIT_SYSTEMCTL is empty")?;
    let out = std::process::Command::new(cmd)
        .args(pre)
        .args(args)
        .output()
        .map_err(|e| format!("running {cmd} {}: {e}", args.join(" ")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "{cmd} {} failed ({}): {}",
            args.join(" "),
            out.status,
            err.trim()
        ));
    }
    Ok(())
}

fn discover(env: &AgentEnv, st: &mut RunState) -> Result<String, AgentError> {
    let mut l = ladder::local(env).map_err(AgentError::Config)?;
    if let Some(plan) = ladder::fetch_plan(env, &l).map_err(AgentError::Config)? {
        super::early_network::apply_partial(env, &l)?;
        ladder::remote(&plan, &mut l).map_err(AgentError::Config)?;
    }
    st.warnings.extend(l.warnings.clone());
    if let Some(u) = super::unconfigured::detect(env, &l) {
        let mut detail = format!("unconfigured: {}", u.reason);
        if super::unconfigured::keep_k3s_down(env)? {
            detail.push_str(&format!(
                "; removed /{} of an earlier boot so k3s stays down",
                crate::k3s::config::ENV_FILE
            ));
        }
        st.unconfigured = Some(u);
        st.ladder = Some(l);
        return Ok(detail);
    }
    super::defaults::apply(env, &mut l.merged);
    let eff = effective::resolve(l.merged.clone()).map_err(AgentError::Config)?;
    super::identity::check(env, &eff).map_err(AgentError::Config)?;
    let src = env.cmdline.display().to_string();
    st.warnings.extend(
        super::kernel_secrets::check(&l.kernel_secrets, eff.node.node.role, &src)
            .map_err(AgentError::Config)?,
    );
    let detail = format!(
        "sources: {}",
        if l.used.is_empty() {
            "none".into()
        } else {
            l.used.join(", ")
        }
    );
    st.ladder = Some(l);
    st.effective = Some(eff);
    Ok(detail)
}

fn run_phase(env: &AgentEnv, name: &str, st: &mut RunState) -> Result<Option<String>, AgentError> {
    if name == "discover" {
        return discover(env, st).map(Some);
    }
    let cfg = st.effective.clone().expect("discover succeeded");
    let n = &cfg.node;
    Ok(Some(match name {
        "validate" => {
            let detail = validate::check(&cfg).map_err(AgentError::Config)?;
            st.warnings
                .extend(super::persist::check(env, &cfg).map_err(AgentError::Config)?);
            detail
        }
        "network" => {
            let src = network::source(cfg.merged.source_of("node.network"));
            let links = &cfg.agent.network_config;
            let nc_src = &network::nocloud_source(cfg.merged.source_of("agent.network_config"));
            if n.node.network.is_some() && !links.is_empty() {
                st.warnings.push(format!("{nc_src}: not applied: node.network from {src} takes precedence"));
            }
            let files =
                network::render_with_links(env, n.node.network.as_ref(), links, &n.node.macs, &src, nc_src)
                    .map_err(AgentError::Network)?;
            if network::apply(env, &files)? {
                systemctl(env, &["try-reload-or-restart", "systemd-networkd.service"])
                    .map_err(AgentError::Network)?;
            }
            files
                .iter()
                .map(|(f, _)| f.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
        "host" => {
            let h = host::apply(env, &cfg)?;
            st.warnings.extend(h.warnings);
            if h.ntp_changed {
                systemctl(env, &["try-restart", "systemd-timesyncd.service"])
                    .map_err(AgentError::Host)?;
            }
            format!("hostname {}", n.host.hostname)
        }
        "disks" => super::disks::prepare(env, &cfg, st).map_err(AgentError::Disk)?,
        "k3s-config" => {
            let k = |e: crate::k3s::K3sError| AgentError::K3s(e.to_string());
            let mut cfg = cfg.clone();
            let why = super::reprovision::settle(env, &mut cfg).map_err(AgentError::K3s)?;
            let n = &cfg.node;
            st.k3s_changed = crate::k3s::write_config(&env.root, n).map_err(k)?;
            super::host_files::write_files(env, &cfg, true)?;
            st.warnings
                .extend(crate::k3s::seed_ca(&env.root, n).map_err(k)?);
            st.warnings
                .extend(crate::k3s::seed_node_password(&env.root, n).map_err(k)?);
            if n.node.role == crate::spec::Role::Server {
                // Rook waits for the join phase (its Secret needs the API); a Rook file left
                // by an earlier boot stays.
                let files: Vec<(String, String)> = deploy::bundle(env, &cfg, false)
                    .map_err(AgentError::K3s)?
                    .manifests
                    .into_iter()
                    .map(|m| (m.file_name, m.yaml))
                    .collect();
                st.k3s_changed += crate::k3s::write_manifests(&env.root, &files).map_err(k)?;
            }
            let what = format!("{} config for {}", n.node.role.as_str(), n.node.name);
            st.effective = Some(cfg.clone());
            match why {
                Some(why) => format!("{what}; {why}"),
                None => what,
            }
        }
        "start" => {
            let verb = if st.k3s_changed > 0 {
                "restart"
            } else {
                "start"
            };
            systemctl(env, &["--no-block", verb, "k3s.service"]).map_err(AgentError::K3s)?;
            "k3s.service start requested".into()
        }
        "join" if env.defer_join => {
            return Ok(Some(
                "skipped: deferred until k3s runs (kateskit-join.service runs the agent again after k3s.service)".into(),
            ))
        }
        "join" => deploy::after_k3s(env, &cfg, st)?,
        other => unreachable!("unknown phase {other}"),
    }))
}

fn write_journal(env: &AgentEnv, j: &Journal) -> Result<(), AgentError> {
    let path = env.path(JOURNAL);
    fsutil::create_dir_mode(path.parent().expect("journal has a parent"), 0o700)?;
    let mut body = serde_json::to_vec_pretty(j).expect("journal serializes");
    body.push(b'\n');
    fsutil::write_atomic(&path, &body, 0o600)?;
    Ok(())
}

fn fault(env: &AgentEnv, phase: &str) {
    if env.fault_after.as_deref() == Some(phase) {
        eprintln!("kateskit: KATESKIT_FAULT_AFTER={phase}: aborting now (fault injection)");
        std::process::abort();
    }
}

/// Runs every phase; returns the final journal. Errors only when the journal cannot be written.
pub fn run(env: &AgentEnv) -> Result<(Journal, RunState), AgentError> {
    let mut j = Journal {
        version: 1,
        config_sha256: None,
        disks: Vec::new(),
        phases: PHASES
            .iter()
            .map(|p| PhaseRecord {
                name: p.to_string(),
                outcome: Outcome::NotRun,
                detail: None,
            })
            .collect(),
    };
    let mut st = RunState::default();
    super::shown::prepare_run_dir(env)?;
    for (i, name) in PHASES.iter().enumerate().take(PHASES.len() - 1) {
        let (outcome, detail) = match run_phase(env, name, &mut st) {
            Ok(Some(d)) if d.starts_with("skipped: ") => {
                (Outcome::Skipped, Some(d["skipped: ".len()..].to_string()))
            }
            Ok(d) => (
                Outcome::Done,
                d.map(|d| super::shown::Scrubber::new(&st).text(&d)),
            ),
            Err(e) => {
                let e = super::shown::Scrubber::new(&st).text(&e.to_string());
                st.errors.push(format!("{name}: {e}"));
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
        j.phases[i] = PhaseRecord {
            name: name.to_string(),
            outcome,
            detail,
        };
        if st.unconfigured.is_some() {
            for p in &mut j.phases[i + 1..PHASES.len() - 1] {
                p.outcome = Outcome::Skipped;
                p.detail = Some("this machine is unconfigured".into());
            }
        }
        write_journal(env, &j)?;
        if outcome == Outcome::Failed || st.unconfigured.is_some() {
            break;
        }
        fault(env, name);
    }
    let last = j.phases.len() - 1;
    // The first successful run ends the first boot: the identity it recorded pins the node.
    let ok = j.phases[..last]
        .iter()
        .all(|p| p.outcome != Outcome::Failed);
    if let (true, false, Some(cfg)) = (ok, env.defer_join, &st.effective) {
        if let Err(e) = super::identity::record(env, cfg) {
            st.errors
                .push(format!("report: recording the node identity: {e}"));
        }
        // The first boot's removable media stand in for themselves on later boots.
        if let Some(l) = st.ladder.as_ref().filter(|l| l.first_boot) {
            if let Err(e) = super::media_record::save(env, &l.media) {
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
                name: "report".into(),
                outcome: Outcome::Failed,
                detail: Some(e.to_string()),
            };
            st.errors.push(format!("report: {e}"));
        }
    }
    write_journal(env, &j)?;
    fault(env, "report");
    Ok((j, st))
}
