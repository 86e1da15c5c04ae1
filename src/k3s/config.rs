//! Renders the k3s config drop-in from a NodeConfig. Keys are k3s CLI flag names (without
//! `--`), chosen per role: agents reject server-only flags.

use serde_yaml_ng::{Mapping, Value};

use crate::nodecfg::NodeConfig;
use crate::spec::Role;

/// Drop-in directory and file, relative to the root.
pub const DROPIN_DIR: &str = "etc/rancher/k3s/config.yaml.d";
pub const DROPIN: &str = "10-kateskit.yaml";
/// Token files the drop-in points at (absolute paths on the node).
pub const TOKEN_FILE: &str = "/var/lib/kateskit/token";
pub const AGENT_TOKEN_FILE: &str = "/var/lib/kateskit/agent-token";
/// Environment file read by the k3s unit (`K3S_ROLE`).
pub const ENV_FILE: &str = "etc/kateskit/k3s.env";

fn list(items: impl IntoIterator<Item = String>) -> Value {
    Value::Sequence(items.into_iter().map(Value::String).collect())
}

/// The ordered (key, value) pairs of the drop-in.
pub fn keys(cfg: &NodeConfig) -> Vec<(&'static str, Value)> {
    let server = cfg.node.role == Role::Server;
    let k = &cfg.k3s;
    let mut out: Vec<(&'static str, Value)> = Vec::new();
    if let Some(url) = &k.server_url {
        out.push(("server", Value::String(url.clone())));
    }
    if cfg.secrets.is_some() {
        out.push(("token-file", Value::String(TOKEN_FILE.into())));
    }
    if server
        && cfg
            .secrets
            .as_ref()
            .is_some_and(|s| s.agent_token.is_some())
    {
        out.push(("agent-token-file", Value::String(AGENT_TOKEN_FILE.into())));
    }
    out.push(("node-name", Value::String(cfg.node.name.clone())));
    if !cfg.node.labels.is_empty() {
        out.push((
            "node-label",
            list(cfg.node.labels.iter().map(|(k, v)| format!("{k}={v}"))),
        ));
    }
    if !cfg.node.taints.is_empty() {
        out.push(("node-taint", list(cfg.node.taints.clone())));
    }
    if let Some(ip) = &k.node_ip {
        out.push(("node-ip", Value::String(ip.clone())));
    }
    if server {
        if k.cluster_init {
            out.push(("cluster-init", Value::Bool(true)));
        }
        out.push((
            "flannel-backend",
            Value::String(k.flannel_backend.as_str().into()),
        ));
        out.push(("cluster-cidr", Value::String(k.cluster_cidr.clone())));
        out.push(("service-cidr", Value::String(k.service_cidr.clone())));
        out.push(("cluster-domain", Value::String(k.cluster_domain.clone())));
        if !k.tls_sans.is_empty() {
            out.push(("tls-san", list(k.tls_sans.clone())));
        }
        if !k.disable.is_empty() {
            out.push(("disable", list(k.disable.clone())));
        }
    }
    out
}

/// The drop-in file text.
pub fn render(cfg: &NodeConfig) -> String {
    let mut m = Mapping::new();
    for (k, v) in keys(cfg) {
        m.insert(Value::String(k.into()), v);
    }
    let body = serde_yaml_ng::to_string(&m).expect("a mapping of strings serializes");
    format!("# Written by kateskit from the node config; change the cluster spec instead.\n{body}")
}

/// The environment file the k3s unit reads to pick `server` or `agent`.
pub fn env_file(cfg: &NodeConfig) -> String {
    format!("K3S_ROLE={}\n", cfg.node.role.as_str())
}
