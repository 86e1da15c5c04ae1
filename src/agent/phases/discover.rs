//! The discover phase: gathers the config ladder (local sources, then `config_url` once the
//! local network is up), decides whether this machine is configured at all, applies the
//! defaults and resolves the effective config.

use crate::agent::ladder::{self, effective};
use crate::agent::phases::{network, Finished, RunState};
use crate::agent::{AgentEnv, AgentError};

pub(super) fn run(env: &AgentEnv, st: &mut RunState) -> Result<Finished, AgentError> {
    let mut l = ladder::local(env).map_err(AgentError::Config)?;
    let mut pending = None;
    if let Some(plan) = ladder::url::plan(env, &l).map_err(AgentError::Config)? {
        network::apply_local(env, &l.merged)?;
        // A 202 answer holds the run here until approved (or the bound runs out).
        pending = super::pending::fetch(env, &plan, &mut l, st)?;
    }
    st.warnings.extend(l.warnings.clone());
    if let Some(u) = pending.or_else(|| crate::agent::ladder::unconfigured::detect(env, &l)) {
        let mut detail = format!("unconfigured: {}", u.reason);
        if crate::agent::ladder::unconfigured::keep_k3s_down(env)? {
            detail.push_str(&format!(
                "; removed /{} of an earlier boot so k3s stays down",
                crate::k3s::config::ENV_FILE
            ));
        }
        st.unconfigured = Some(u);
        st.ladder = Some(l);
        return Ok(Finished::Done(detail));
    }
    crate::agent::ladder::defaults::apply(env, &mut l.merged);
    let eff = effective::resolve(l.merged.clone()).map_err(AgentError::Config)?;
    crate::agent::ladder::identity::check(env, &eff).map_err(AgentError::Config)?;
    let src = env.cmdline.display().to_string();
    st.warnings.extend(
        crate::agent::ladder::kernel_secrets::check(&l.kernel_secrets, eff.node.node.role, &src)
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
    Ok(Finished::Done(detail))
}
