//! What a server deploys and when: chart manifests before k3s starts (k3s-config phase); after
//! k3s is up (join phase) the join check, then Rook once its `rook-ceph-mon` Secret exists.

use crate::agent::ladder::effective::Effective;
use crate::agent::phases::RunState;
use std::time::Duration;

use crate::agent::phases::join::ceph_identity;

use crate::agent::phases::k3s_config::charts_fetch;

use crate::agent::phases::join::verify;

use crate::agent::AgentEnv;

use crate::agent::AgentError;

/// Bundle objects for a server. The chart archives about to be used are first put into k3s's
/// static charts directory, verified against the lock (`charts_fetch`), so the HelmCharts
/// always name the static URL and no chart reaches k3s unchecked: the charts' archives for the
/// k3s-config phase, Rook's (`rook`: its operator and CSI drivers charts) for the join phase,
/// so an unverifiable Rook chart stops only Rook.
pub fn bundle(
    env: &AgentEnv,
    cfg: &Effective,
    rook: bool,
) -> Result<crate::bundle::Bundle, String> {
    use crate::bundle::charts::{self, ChartSource};
    let lock = chart_lock(env)?;
    if let Some(b) = &cfg.node.bundle {
        let wanted: Vec<&str> = charts::archives(b)
            .into_iter()
            .filter(|c| charts::ROOK_CHARTS.contains(c) == rook)
            .collect();
        let http = charts_fetch::Http {
            timeout: Duration::from_secs(cfg.agent.http_timeout_s.max(1)),
            retries: cfg.agent.fetch_retries,
        };
        let dir = env.path(charts_fetch::STATIC_CHARTS);
        for (c, action) in
            charts_fetch::ensure(&dir, &lock, &wanted, http).map_err(|e| e.to_string())?
        {
            if action != charts_fetch::Action::Kept {
                tracing::info!("chart {c}: archive downloaded and verified ({action:?})");
            }
        }
    }
    crate::bundle::manifests(&cfg.node, &lock, ChartSource::Static).map_err(|e| e.to_string())
}

/// The chart lock: the one compiled in, or the file `KATESKIT_CHART_LOCK` names (a site that
/// mirrors the chart archives points their `url`s at the mirror; digests stay the publisher's).
fn chart_lock(env: &AgentEnv) -> Result<crate::bundle::charts::ChartLock, String> {
    use crate::bundle::charts::ChartLock;
    match &env.chart_lock {
        None => ChartLock::bundled().map_err(|e| e.to_string()),
        Some(p) => {
            let text = crate::fsutil::read_string(p).map_err(|e| {
                format!("{e}; KATESKIT_CHART_LOCK must name a readable chart lock file")
            })?;
            ChartLock::parse(&text, &p.display().to_string()).map_err(|e| e.to_string())
        }
    }
}

/// The run after k3s is up: verify the join (unless switched off), then, on a server with a
/// Ceph layout, seed the Ceph identity and deploy Rook.
pub fn after_k3s(
    env: &AgentEnv,
    cfg: &Effective,
    st: &mut RunState,
) -> Result<crate::agent::phases::Finished, AgentError> {
    let mut parts = Vec::new();
    if cfg.agent.verify_join {
        let j = verify::verify(env, cfg).map_err(AgentError::Join)?;
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
        bundle(env, cfg, true).map_err(AgentError::K3s)?.rook
    } else {
        None
    };
    match rook {
        Some(r) => parts.push(ceph_identity::deploy(env, cfg, &r).map_err(AgentError::Join)?),
        None if !cfg.agent.verify_join => {
            return Ok(crate::agent::phases::Finished::Skipped(parts.remove(0)))
        }
        None => {}
    }
    if !cfg.agent.verify_join {
        parts[0] = format!("join not verified: {}", parts[0]);
    }
    Ok(crate::agent::phases::Finished::Done(parts.join("; ")))
}
