//! The gate's checks. Each is one bounded attempt; the runner in `mod.rs` retries the ones
//! that have not passed until its deadline.

use std::time::Duration;

use serde_json::Value;

use crate::agent::health::facts::{Datastore, NodeFacts};
use crate::agent::kubeapi;
use crate::agent::AgentEnv;
use crate::spec::Role;

/// The k3s unit: one name for both roles (the NixOS module's role wrapper runs `k3s server` or
/// `k3s agent` in `k3s.service`, as the agent's start phase starts it).
pub const K3S_UNIT: &str = "k3s.service";
/// Embedded etcd's client endpoint on a server.
pub const ETCD_URL: &str = "https://127.0.0.1:2379";
/// The client certificate k3s writes for talking to its etcd (k3s deps.go: `ClientETCDCert`,
/// `ClientETCDKey`, `ETCDServerCA`), relative to the root.
pub const ETCD_CA: &str = "var/lib/rancher/k3s/server/tls/etcd/server-ca.crt";
pub const ETCD_CERT: &str = "var/lib/rancher/k3s/server/tls/etcd/client.crt";
pub const ETCD_KEY: &str = "var/lib/rancher/k3s/server/tls/etcd/client.key";

/// The checks by name, in the order they run and are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    K3sActive,
    NodeReady,
    EtcdHealthy,
    ApiReadyz,
}

impl Check {
    pub const ALL: [Check; 4] = [
        Check::K3sActive,
        Check::NodeReady,
        Check::EtcdHealthy,
        Check::ApiReadyz,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Check::K3sActive => "k3s-active",
            Check::NodeReady => "node-ready",
            Check::EtcdHealthy => "etcd-healthy",
            Check::ApiReadyz => "api-readyz",
        }
    }

    /// Why this check does not apply to the node, if it does not.
    pub fn skip_reason(self, facts: &NodeFacts) -> Option<&'static str> {
        match (self, facts.role, facts.datastore) {
            (Check::EtcdHealthy, Role::Agent, _) => Some("agents run no etcd member"),
            (Check::EtcdHealthy, Role::Server, Some(Datastore::Sqlite)) => Some(
                "this server keeps the cluster in sqlite (a single server without cluster-init): \
                 there is no etcd member to check",
            ),
            (Check::ApiReadyz, Role::Agent, _) => Some("agents serve no Kubernetes API"),
            _ => None,
        }
    }

    /// One attempt: `Ok(detail)` when it passes, `Err(why)` when not (yet).
    pub fn attempt(
        self,
        env: &AgentEnv,
        facts: &NodeFacts,
        http: Duration,
    ) -> Result<String, String> {
        match self {
            Check::K3sActive => k3s_active(env),
            Check::NodeReady => node_ready(env, facts, http),
            Check::EtcdHealthy => etcd_healthy(env, http),
            Check::ApiReadyz => api_readyz(env, facts, http),
        }
    }
}

fn k3s_active(env: &AgentEnv) -> Result<String, String> {
    let (ok, out) = crate::agent::phases::systemctl_query(env, &["is-active", K3S_UNIT])?;
    let state = out.trim();
    if ok && state == "active" {
        Ok(format!("{K3S_UNIT} is active"))
    } else {
        Err(format!(
            "{K3S_UNIT} is {} (journalctl -u k3s says why)",
            if state.is_empty() {
                "not active"
            } else {
                state
            }
        ))
    }
}

fn node_ready(env: &AgentEnv, facts: &NodeFacts, http: Duration) -> Result<String, String> {
    let (access, client) = kubeapi::load(env, kubeapi::kubeconfig_for(facts.role), http)?;
    let name = &facts.name;
    let node = kubeapi::get_node(&client, &access.server, name)?.ok_or_else(|| {
        format!(
            "node {name} is not registered in the API ({})",
            access.server
        )
    })?;
    match kubeapi::ready_status(&node) {
        Some("True") => Ok(format!("node {name} is Ready")),
        other => Err(format!(
            "node {name}: Ready condition is {}",
            other.unwrap_or("absent")
        )),
    }
}

/// The etcd endpoint: [`ETCD_URL`], or the `KATESKIT_ETCD_URL` test hook.
fn etcd_url() -> String {
    crate::hooks::var(crate::hooks::ETCD_URL).unwrap_or_else(|| ETCD_URL.into())
}

fn etcd_healthy(env: &AgentEnv, http: Duration) -> Result<String, String> {
    let read = |rel: &str| {
        std::fs::read(env.path(rel))
            .map_err(|e| format!("reading /{rel} (k3s writes it when it starts etcd): {e}"))
    };
    let ca = read(ETCD_CA)?;
    let mut identity = read(ETCD_CERT)?;
    identity.push(b'\n');
    identity.extend(read(ETCD_KEY)?);
    let base = etcd_url();
    let client = kubeapi::tls_client(&ca, &identity, http, "the etcd client certificate")?;
    let url = format!("{base}/health");
    let r = client
        .get(&url)
        .send()
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = r.status().as_u16();
    let body: Value = r
        .json()
        .map_err(|e| format!("GET {url}: HTTP {status}, not etcd's health JSON: {e}"))?;
    let health = body.get("health").and_then(Value::as_str).unwrap_or("");
    if status == 200 && health == "true" {
        Ok(format!("etcd member at {base} is healthy"))
    } else {
        let reason = body.get("reason").and_then(Value::as_str).unwrap_or("");
        Err(format!(
            "etcd member at {base} is not healthy (HTTP {status}, health {health:?}{})",
            if reason.is_empty() {
                String::new()
            } else {
                format!(", reason {reason:?}")
            }
        ))
    }
}

fn api_readyz(env: &AgentEnv, facts: &NodeFacts, http: Duration) -> Result<String, String> {
    let (access, client) = kubeapi::load(env, kubeapi::kubeconfig_for(facts.role), http)?;
    let url = format!("{}/readyz", access.server);
    let r = client
        .get(&url)
        .send()
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = r.status().as_u16();
    let body = r.text().unwrap_or_default();
    if status == 200 && body.trim() == "ok" {
        Ok(format!("{url} answers ok"))
    } else {
        let shown: String = body.trim().chars().take(200).collect();
        Err(format!("{url}: HTTP {status}: {shown}"))
    }
}
