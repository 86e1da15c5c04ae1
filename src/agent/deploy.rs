//! What a server deploys and when: chart manifests before k3s starts (k3s-config phase); after
//! k3s is up (join phase) the join check, then Rook once its `rook-ceph-mon` Secret exists.

use super::effective::Effective;
use super::phases::RunState;
use super::{ceph_identity, join, AgentEnv, AgentError};

/// Bundle objects for a server. Charts (Rook's too) come from k3s's static charts directory
/// when the image ships every archive needed (air-gapped), otherwise from their repositories.
pub fn bundle(
    env: &AgentEnv,
    cfg: &crate::nodecfg::NodeConfig,
) -> Result<crate::bundle::Bundle, String> {
    use crate::bundle::charts::{self, ChartLock, ChartSource};
    let lock = ChartLock::bundled().map_err(|e| e.to_string())?;
    let shipped = |c: &&str| {
        env.path(format!("var/lib/rancher/k3s/server/static/charts/{c}.tgz"))
            .exists()
    };
    let source = match &cfg.bundle {
        Some(b) if charts::archives(b).iter().all(shipped) => ChartSource::Static,
        _ => ChartSource::Repo,
    };
    crate::bundle::manifests(cfg, &lock, source).map_err(|e| e.to_string())
}

/// The run after k3s is up: verify the join (unless switched off), then, on a server with a
/// Ceph layout, seed the Ceph identity and deploy Rook.
pub fn after_k3s(env: &AgentEnv, cfg: &Effective, st: &mut RunState) -> Result<String, AgentError> {
    let mut parts = Vec::new();
    if cfg.agent.verify_join {
        let j = join::verify(env, cfg).map_err(AgentError::Join)?;
        parts.push(format!(
            "joined via {}, CA {}, node Ready",
            j.supervisor, j.ca_hash
        ));
        st.join = Some(j);
    } else {
        let src = cfg
            .merged
            .source_of("agent.verify_join")
            .unwrap_or("config");
        parts.push(format!("agent.verify_join is false (from {src})"));
    }
    let rook = if cfg.node.node.role == crate::spec::Role::Server
        && cfg.node.storage.ceph_cluster.is_some()
    {
        bundle(env, &cfg.node).map_err(AgentError::K3s)?.rook
    } else {
        None
    };
    match rook {
        Some(r) => parts.push(ceph_identity::deploy(env, cfg, &r).map_err(AgentError::Join)?),
        None if !cfg.agent.verify_join => return Ok(format!("skipped: {}", parts[0])),
        None => {}
    }
    if !cfg.agent.verify_join {
        parts[0] = format!("join not verified: {}", parts[0]);
    }
    Ok(parts.join("; "))
}
