//! Waiting for the node to be Ready through the Kubernetes API, with the kubeconfig k3s writes
//! on the node (servers: `/etc/rancher/k3s/k3s.yaml`; agents: the kubelet's kubeconfig).

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

use crate::agent::ladder::effective::Effective;
use crate::agent::phases::join::verify::poll_until;
use crate::agent::AgentEnv;
use crate::spec::Role;

pub const SERVER_KUBECONFIG: &str = "etc/rancher/k3s/k3s.yaml";
pub const AGENT_KUBECONFIG: &str = "var/lib/rancher/k3s/agent/kubelet.kubeconfig";

/// What a kubeconfig gives us: API URL, CA bundle, client certificate and key (PEM).
#[derive(Debug, Clone)]
pub struct KubeAccess {
    pub server: String,
    pub ca: Vec<u8>,
    pub identity: Vec<u8>,
}

/// Reads `<name>-data` (base64) or `<name>` (a file path on the node) from a kubeconfig map.
fn material(env: &AgentEnv, m: &Value, name: &str, file: &str) -> Result<Vec<u8>, String> {
    if let Some(d) = m.get(format!("{name}-data")).and_then(Value::as_str) {
        return base64::engine::general_purpose::STANDARD
            .decode(d.trim())
            .map_err(|e| format!("{file}: {name}-data is not base64: {e}"));
    }
    let p = m
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{file}: neither {name} nor {name}-data is set"))?;
    std::fs::read(env.path(p)).map_err(|e| format!("{file}: reading {name} {p}: {e}"))
}

/// Parses the first cluster and user of a kubeconfig.
pub fn parse(env: &AgentEnv, text: &str, file: &str) -> Result<KubeAccess, String> {
    let y: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).map_err(|e| format!("{file}: {e}"))?;
    let v: Value = serde_json::to_value(y).map_err(|e| format!("{file}: {e}"))?;
    let cluster = v
        .pointer("/clusters/0/cluster")
        .ok_or_else(|| format!("{file}: no clusters[0].cluster"))?;
    let user = v
        .pointer("/users/0/user")
        .ok_or_else(|| format!("{file}: no users[0].user"))?;
    let server = cluster
        .get("server")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{file}: no cluster server"))?;
    let mut identity = material(env, user, "client-certificate", file)?;
    identity.push(b'\n');
    identity.extend(material(env, user, "client-key", file)?);
    Ok(KubeAccess {
        server: server.trim_end_matches('/').into(),
        ca: material(env, cluster, "certificate-authority", file)?,
        identity,
    })
}

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
    let access = parse(env, &text, &file)?;
    let mut b = reqwest::blocking::Client::builder()
        .tls_built_in_root_certs(false)
        .timeout(http);
    for c in
        reqwest::Certificate::from_pem_bundle(&access.ca).map_err(|e| format!("{file}: CA: {e}"))?
    {
        b = b.add_root_certificate(c);
    }
    let id = reqwest::Identity::from_pem(&access.identity)
        .map_err(|e| format!("{file}: client certificate/key: {e}"))?;
    let client = b
        .identity(id)
        .build()
        .map_err(|e| format!("building API client: {e}"))?;
    Ok((access, client))
}

/// Waits, bounded, for `status.conditions[Ready]` of this node to be `True`.
pub fn wait_ready(
    env: &AgentEnv,
    cfg: &Effective,
    http: Duration,
    deadline: Instant,
) -> Result<(), String> {
    let rel = if cfg.node.node.role == Role::Server {
        SERVER_KUBECONFIG
    } else {
        AGENT_KUBECONFIG
    };
    let (access, client) = client(env, rel, http, deadline)?;
    let name = &cfg.node.node.name;
    let url = format!("{}/api/v1/nodes/{name}", access.server);
    poll_until(deadline, &format!("node {name} Ready ({url})"), || {
        let r = client.get(&url).send().map_err(|e| e.to_string())?;
        let status = r.status().as_u16();
        if status == 404 {
            return Err(format!("node {name} is not registered yet"));
        }
        if status != 200 {
            return Err(format!("HTTP {status}"));
        }
        let v: Value = r.json().map_err(|e| format!("node JSON: {e}"))?;
        let ready = v
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"));
        match ready.and_then(|c| c.get("status")).and_then(Value::as_str) {
            Some("True") => Ok(Some(())),
            other => Err(format!("Ready condition is {}", other.unwrap_or("absent"))),
        }
    })
}
