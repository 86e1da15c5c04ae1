//! Waiting for the node to be Ready through the Kubernetes API, with the kubeconfig k3s writes
//! on the node ([`crate::agent::kubeapi`]).

use std::time::{Duration, Instant};

use crate::agent::kubeapi::{self, KubeAccess};
use crate::agent::ladder::effective::Effective;
use crate::agent::phases::join::verify::poll_until;
use crate::agent::AgentEnv;

pub use crate::agent::kubeapi::{AGENT_KUBECONFIG, SERVER_KUBECONFIG};

/// Waits, bounded, for the kubeconfig at `rel` (k3s writes it once it runs) and builds an API
/// client that trusts only its CA and presents its client certificate.
pub fn client(
    env: &AgentEnv,
    rel: &str,
    http: Duration,
    deadline: Instant,
) -> Result<(KubeAccess, reqwest::blocking::Client), String> {
    let file = format!("/{rel}");
    let text = poll_until(
        deadline,
        &format!("waiting for k3s to write {file}"),
        || match std::fs::read_to_string(env.path(rel)) {
            Ok(t) => Ok(Some(t)),
            Err(e) => Err(e.to_string()),
        },
    )?;
    let access = kubeapi::parse(env, &text, &file)?;
    let client = kubeapi::tls_client(&access.ca, &access.identity, http, &file)?;
    Ok((access, client))
}

/// Waits, bounded, for `status.conditions[Ready]` of this node to be `True`.
pub fn wait_ready(
    env: &AgentEnv,
    cfg: &Effective,
    http: Duration,
    deadline: Instant,
) -> Result<(), String> {
    let rel = kubeapi::kubeconfig_for(cfg.node.node.role);
    let (access, client) = client(env, rel, http, deadline)?;
    let name = &cfg.node.node.name;
    let url = format!("{}/api/v1/nodes/{name}", access.server);
    poll_until(deadline, &format!("node {name} Ready ({url})"), || {
        let node = kubeapi::get_node(&client, &access.server, name)?
            .ok_or_else(|| format!("node {name} is not registered yet"))?;
        match kubeapi::ready_status(&node) {
            Some("True") => Ok(Some(())),
            other => Err(format!("Ready condition is {}", other.unwrap_or("absent"))),
        }
    })
}
