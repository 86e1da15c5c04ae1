//! The k3s-config phase: which supervisor to join, the k3s drop-ins, seeded CAs and the
//! bundle's manifests.

pub mod charts_fetch;
pub mod deploy;
pub mod reprovision;

use crate::agent::phases::{Finished, RunState};
use crate::agent::{AgentEnv, AgentError};

/// Settles the supervisor, writes the k3s drop-ins, deferred write_files, seeded CAs and node
/// password and, on servers, the bundle's chart manifests (Rook waits for the join phase: its
/// Secret needs the API; a Rook file left by an earlier boot stays).
pub(super) fn run(env: &AgentEnv, st: &mut RunState) -> Result<Finished, AgentError> {
    let k = |e: crate::k3s::K3sError| AgentError::K3s(e.to_string());
    let mut cfg = st.effective.clone().expect("discover succeeded");
    let why = reprovision::settle(env, &mut cfg).map_err(AgentError::K3s)?;
    let n = &cfg.node;
    st.k3s_changed = crate::k3s::write_config(&env.root, n).map_err(k)?;
    crate::agent::phases::host::files::write_files(env, &cfg, true)?;
    st.warnings
        .extend(crate::k3s::seed_ca(&env.root, n).map_err(k)?);
    st.warnings
        .extend(crate::k3s::seed_node_password(&env.root, n).map_err(k)?);
    if n.node.role == crate::spec::Role::Server {
        let files: Vec<(String, String)> = deploy::bundle(env, &cfg, false)
            .map_err(AgentError::K3s)?
            .manifests
            .into_iter()
            .map(|m| (m.file_name, m.yaml))
            .collect();
        st.k3s_changed += crate::k3s::write_manifests(&env.root, &files).map_err(k)?;
    }
    let what = format!("{} config for {}", n.node.role.as_str(), n.node.name);
    st.effective = Some(cfg);
    Ok(Finished::Done(match why {
        Some(why) => format!("{what}; {why}"),
        None => what,
    }))
}
