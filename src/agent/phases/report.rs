//! The report: effective config as a flat file tree, `status.json`, a console banner and an
//! optional phone-home POST. Secrets never appear in the tree or the status: `secrets` is left
//! out, `write_files` shows path, mode and SHA-256, and every text passes [`Scrubber`].

pub mod console;
pub mod consoles;
pub mod ifaddrs;
pub mod shown;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::agent::ladder::fetch;
use crate::agent::ladder::flat;
use crate::agent::ladder::merge;
use crate::agent::phases::host::write_if_changed;
use crate::agent::phases::report::shown::Scrubber;
use crate::agent::phases::{Journal, Outcome, PhaseRecord, RunState};
use crate::agent::AgentEnv;
use crate::agent::AgentError;
use crate::fsutil::FsError;

pub const STATUS: &str = "status.json";
pub const CONFIG_DIR: &str = "config";
pub const SOURCES: &str = "sources";

/// `/run/kateskit/status.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// True when every phase succeeded on a configured machine.
    pub ok: bool,
    /// `ok`, `failed` or `unconfigured` (no source says what this machine is; k3s not started).
    #[serde(default)]
    pub state: String,
    /// What identifies an unconfigured machine and how to configure it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unconfigured: Option<crate::agent::ladder::unconfigured::Unconfigured>,
    /// The last phase that ran (failed, or `report` when all went well).
    pub phase: crate::agent::phases::Phase,
    pub hostname: Option<String>,
    pub node_name: Option<String>,
    pub role: Option<String>,
    /// Declared static addresses (empty: DHCP).
    pub addresses: Vec<String>,
    /// Addresses the running kernel has (`iface addr`); only when the root is `/`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub live_addresses: Vec<String>,
    pub sources: Vec<String>,
    /// `path: why` of every value the agent derived because no source set it (docs/agent.md
    /// "Defaults"; plain defaults are only in `/run/kateskit/sources`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub derived: Vec<String>,
    pub phases: Vec<PhaseRecord>,
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

/// Writes one file per leaf under `config/` and `path = source` lines to `sources`.
fn write_tree(env: &AgentEnv, st: &RunState, scrub: &Scrubber) -> Result<(), FsError> {
    let base = env.run_dir().join(CONFIG_DIR);
    let mut want: BTreeSet<PathBuf> = BTreeSet::new();
    let mut sources = String::new();
    if let Some(e) = &st.effective {
        let mut view = serde_json::to_value(&e.node).expect("NodeConfig serializes");
        view.as_object_mut().expect("object").remove("secrets");
        view["agent"] = shown::agent_view(&e.agent);
        let mut err = None;
        merge::walk(&view, "", &mut |path, v| {
            if err.is_some() {
                return;
            }
            // Path and value format are the reader's too ([`flat`]).
            let keys = flat::keys_of_tree(path);
            let kind = flat::kind_at(&keys).unwrap_or(flat::Kind::Any);
            let (Some(rel), Some(text)) = (flat::rel_path(&keys), flat::render(&kind, v)) else {
                return;
            };
            let src = e
                .merged
                .origin
                .get(path)
                .map(String::as_str)
                .or_else(|| e.merged.source_of(path))
                .unwrap_or("default");
            sources.push_str(&scrub.text(&format!("{path} = {src}\n")));
            want.insert(rel.clone());
            let shown = scrub.text(&text);
            if let Err(e) = write_if_changed(&base.join(&rel), shown.as_bytes(), 0o644) {
                err = Some(e);
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
    }
    prune(&base, &base, &want)?;
    write_if_changed(&env.run_dir().join(SOURCES), sources.as_bytes(), 0o644)?;
    Ok(())
}

/// Removes files under `dir` that are not wanted, and then empty directories.
fn prune(base: &Path, dir: &Path, want: &BTreeSet<PathBuf>) -> Result<(), FsError> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in rd.flatten() {
        let p = e.path();
        let rel = p.strip_prefix(base).expect("under base").to_path_buf();
        if p.is_dir() {
            prune(base, &p, want)?;
            let _ = std::fs::remove_dir(&p);
        } else if !want.contains(&rel) {
            std::fs::remove_file(&p).map_err(|source| FsError {
                action: "removing",
                path: p.clone(),
                source,
            })?;
        }
    }
    Ok(())
}

/// The console banner: hostname, role, addresses, phase, errors.
pub fn banner(s: &Status) -> String {
    let mut b = String::from("\n==== kateskit ====\n");
    b.push_str(&format!(
        "host:      {}\n",
        s.hostname.as_deref().unwrap_or("(unknown)")
    ));
    b.push_str(&format!(
        "node:      {} ({})\n",
        s.node_name.as_deref().unwrap_or("(unknown)"),
        s.role.as_deref().unwrap_or("?")
    ));
    b.push_str(&format!(
        "addresses: {}\n",
        if s.addresses.is_empty() {
            "DHCP".to_string()
        } else {
            s.addresses.join(", ")
        }
    ));
    if !s.live_addresses.is_empty() {
        b.push_str(&format!("live:      {}\n", s.live_addresses.join(", ")));
    }
    match &s.unconfigured {
        Some(u) => b.push_str(&crate::agent::ladder::unconfigured::banner(u)),
        None => b.push_str(&format!(
            "state:     {} at phase {}\n",
            if s.ok { "OK" } else { "FAILED" },
            s.phase
        )),
    }
    for p in &s.phases {
        let o = p.outcome.shown();
        b.push_str(&format!(
            "  {:<11} {o}{}\n",
            p.name,
            p.detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        ));
    }
    for e in &s.errors {
        b.push_str(&format!("error: {e}\n"));
    }
    for w in &s.warnings {
        b.push_str(&format!("warning: {w}\n"));
    }
    b.push_str("==================\n");
    b
}

/// Builds the status, writes the tree and status.json, prints the banner, phones home.
pub fn write(env: &AgentEnv, j: &Journal, st: &mut RunState) -> Result<(), AgentError> {
    shown::prepare_run_dir(env)?;
    let scrub = Scrubber::new(st);
    write_tree(env, st, &scrub)?;
    let e = st.effective.as_ref();
    let failed = j.phases.iter().find(|p| p.outcome == Outcome::Failed);
    let unconfigured = st.unconfigured.clone();
    let state = match (&unconfigured, failed) {
        (Some(_), _) => "unconfigured",
        (None, Some(_)) => "failed",
        (None, None) => "ok",
    };
    let status = Status {
        ok: state == "ok",
        state: state.into(),
        unconfigured,
        phase: failed.map_or(crate::agent::phases::Phase::Report, |p| p.name),
        hostname: e.map(|e| e.node.host.hostname.clone()),
        node_name: e.map(|e| e.node.node.name.clone()),
        role: e.map(|e| e.node.node.role.as_str().to_string()),
        addresses: e
            .map(|e| match &e.node.node.network {
                Some(n) => n.addresses.clone(),
                None => e
                    .agent
                    .network_config
                    .iter()
                    .flat_map(|l| l.addresses.clone())
                    .collect(),
            })
            .unwrap_or_default(),
        live_addresses: if env.root == Path::new("/") {
            crate::agent::phases::report::ifaddrs::live()
        } else {
            Vec::new()
        },
        sources: st
            .ladder
            .as_ref()
            .map(|l| scrub.all(&l.used))
            .unwrap_or_default(),
        derived: e
            .map(|e| scrub.all(&crate::agent::ladder::defaults::derived(&e.merged)))
            .unwrap_or_default(),
        phases: j
            .phases
            .iter()
            .map(|p| PhaseRecord {
                detail: p.detail.as_deref().map(|d| scrub.text(d)),
                ..p.clone()
            })
            .collect(),
        errors: scrub.all(&st.errors),
        warnings: scrub.all(&st.warnings),
    };
    let mut body = serde_json::to_vec_pretty(&status).expect("status serializes");
    body.push(b'\n');
    write_if_changed(&env.run_dir().join(STATUS), &body, 0o644)?;
    let text = banner(&status);
    print!("{text}");
    // After status.json is written: a console that did not take the banner is said on stderr
    // (the journal), which the banner itself cannot report.
    for w in consoles::show(env, &text) {
        eprintln!("kateskit: {w}");
    }
    if let Some(e) = e {
        if let Some(w) = fetch::phone_home(env, e, body) {
            let w = scrub.text(&w);
            st.warnings.push(w.clone());
            // The server never got the status; the local one says so.
            let mut status = status;
            status.warnings.push(w);
            let mut body = serde_json::to_vec_pretty(&status).expect("status serializes");
            body.push(b'\n');
            write_if_changed(&env.run_dir().join(STATUS), &body, 0o644)?;
        }
    }
    Ok(())
}
