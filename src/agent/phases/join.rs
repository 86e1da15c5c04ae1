//! The join phase: after k3s starts, verify the join and deploy what needs the API.

pub mod ceph_identity;
pub mod kube;
pub mod verify;

use crate::agent::phases::{Finished, RunState};
use crate::agent::{AgentEnv, AgentError};

/// Skipped in the unit before k3s (`agent run --before-k3s`): kateskit-join.service runs the
/// agent again once k3s.service has started.
pub(super) fn run(env: &AgentEnv, st: &mut RunState) -> Result<Finished, AgentError> {
    if env.defer_join {
        return Ok(Finished::Skipped(
            "deferred until k3s runs (kateskit-join.service runs the agent again after k3s.service)"
                .into(),
        ));
    }
    let cfg = st.effective.clone().expect("discover succeeded");
    crate::agent::phases::k3s_config::deploy::after_k3s(env, &cfg, st)
}
