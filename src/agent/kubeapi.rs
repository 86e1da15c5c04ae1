//! The node's own view of the Kubernetes API: the kubeconfig k3s writes on the node (servers:
//! `/etc/rancher/k3s/k3s.yaml`; agents: the kubelet's kubeconfig), a client that trusts only
//! its CA and presents its client certificate, and the Node object calls the join phase, the
//! health gate and the upgrade watcher share.

use std::time::Duration;

use base64::Engine;
use reqwest::blocking::Client;
use serde_json::Value;

use crate::agent::AgentEnv;
use crate::spec::Role;

pub const SERVER_KUBECONFIG: &str = "etc/rancher/k3s/k3s.yaml";
pub const AGENT_KUBECONFIG: &str = "var/lib/rancher/k3s/agent/kubelet.kubeconfig";

/// The kubeconfig k3s writes for `role`, relative to the root.
pub fn kubeconfig_for(role: Role) -> &'static str {
    match role {
        Role::Server => SERVER_KUBECONFIG,
        Role::Agent => AGENT_KUBECONFIG,
    }
}

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

/// A client that trusts only the PEM bundle `ca` and presents `identity` (certificate and key
/// PEM); `what` names where they came from in errors.
pub fn tls_client(
    ca: &[u8],
    identity: &[u8],
    http: Duration,
    what: &str,
) -> Result<Client, String> {
    let mut b = Client::builder()
        .tls_built_in_root_certs(false)
        .timeout(http);
    for c in reqwest::Certificate::from_pem_bundle(ca).map_err(|e| format!("{what}: CA: {e}"))? {
        b = b.add_root_certificate(c);
    }
    let id = reqwest::Identity::from_pem(identity)
        .map_err(|e| format!("{what}: client certificate/key: {e}"))?;
    b.identity(id)
        .build()
        .map_err(|e| format!("building the HTTPS client for {what}: {e}"))
}

/// Reads the kubeconfig at `rel` now (no waiting) and builds its client.
pub fn load(env: &AgentEnv, rel: &str, http: Duration) -> Result<(KubeAccess, Client), String> {
    let file = format!("/{rel}");
    let text =
        std::fs::read_to_string(env.path(rel)).map_err(|e| format!("reading {file}: {e}"))?;
    let access = parse(env, &text, &file)?;
    let client = tls_client(&access.ca, &access.identity, http, &file)?;
    Ok((access, client))
}

/// `GET /api/v1/nodes/NAME`: the Node object, `Ok(None)` when it is not registered.
pub fn get_node(c: &Client, server: &str, name: &str) -> Result<Option<Value>, String> {
    let url = format!("{server}/api/v1/nodes/{name}");
    let r = c.get(&url).send().map_err(|e| format!("GET {url}: {e}"))?;
    match r.status().as_u16() {
        200 => r
            .json()
            .map(Some)
            .map_err(|e| format!("GET {url}: node JSON: {e}")),
        404 => Ok(None),
        s => Err(format!("GET {url}: HTTP {s}")),
    }
}

/// The Node's `Ready` condition status (`True`, `False`, `Unknown`), `None` when absent.
pub fn ready_status(node: &Value) -> Option<&str> {
    node.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
        .and_then(|c| c.get("status"))
        .and_then(Value::as_str)
}

/// A JSON merge patch (RFC 7386) on the Node object.
pub fn patch_node(c: &Client, server: &str, name: &str, patch: &Value) -> Result<(), String> {
    let url = format!("{server}/api/v1/nodes/{name}");
    let r = c
        .patch(&url)
        .header("Content-Type", "application/merge-patch+json")
        .body(patch.to_string())
        .send()
        .map_err(|e| format!("PATCH {url}: {e}"))?;
    match r.status().as_u16() {
        200..=299 => Ok(()),
        s => {
            let body = r.text().unwrap_or_default();
            let body: String = body.trim().chars().take(200).collect();
            Err(format!("PATCH {url}: HTTP {s}: {body}"))
        }
    }
}
