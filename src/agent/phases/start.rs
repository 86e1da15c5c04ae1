//! The start phase: asks systemd to (re)start k3s without waiting for it. A restart only when
//! the k3s-config phase changed a file k3s reads at start.

use crate::agent::phases::{systemctl, Finished, RunState};
use crate::agent::{AgentEnv, AgentError};

pub(super) fn run(env: &AgentEnv, st: &mut RunState) -> Result<Finished, AgentError> {
    let verb = if st.k3s_changed > 0 {
        "restart"
    } else {
        "start"
    };
    systemctl(env, &["--no-block", verb, "k3s.service"]).map_err(AgentError::K3s)?;
    Ok(Finished::Done("k3s.service start requested".into()))
}
