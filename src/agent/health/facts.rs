//! Who this node is, for the gate: read from what the agent's last run wrote for k3s (the role
//! in `/etc/kateskit/k3s.env`, the name and datastore flags in the kateskit k3s drop-in), so the
//! gate checks the node k3s was actually started as, on the persistent root.

use serde::Serialize;

use crate::agent::AgentEnv;
use crate::k3s::config::{DROPIN, DROPIN_DIR, ENV_FILE};
use crate::spec::Role;

use super::HealthError;

/// Where k3s keeps embedded etcd's data: present once a server has run etcd.
pub const ETCD_DB_DIR: &str = "var/lib/rancher/k3s/server/db/etcd";

/// The datastore a server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Datastore {
    /// Embedded etcd: `cluster-init`, a server joining another, or an existing etcd data dir.
    Etcd,
    /// k3s's default for a lone server without `cluster-init` (kine over sqlite).
    Sqlite,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeFacts {
    pub name: String,
    pub role: Role,
    /// Servers only.
    pub datastore: Option<Datastore>,
}

fn read(env: &AgentEnv, rel: &str) -> Result<String, HealthError> {
    let path = env.path(rel);
    std::fs::read_to_string(&path).map_err(|source| HealthError::Facts {
        path: path.clone(),
        msg: format!(
            "{source}; the agent writes it on every run before k3s starts: has \
             kateskit-agent.service succeeded on this node? (journalctl -u kateskit-agent)"
        ),
    })
}

/// The role, name and datastore the agent's last run configured k3s with.
pub fn load(env: &AgentEnv) -> Result<NodeFacts, HealthError> {
    let env_text = read(env, ENV_FILE)?;
    let bad = |rel: &str, msg: String| HealthError::Facts {
        path: env.path(rel),
        msg,
    };
    let role = env_text
        .lines()
        .find_map(|l| l.trim().strip_prefix("K3S_ROLE="))
        .map(|v| v.trim().trim_matches('"'))
        .ok_or_else(|| bad(ENV_FILE, "no K3S_ROLE= line".into()))?;
    let role = match role {
        "server" => Role::Server,
        "agent" => Role::Agent,
        other => {
            return Err(bad(
                ENV_FILE,
                format!("K3S_ROLE={other} is neither server nor agent"),
            ))
        }
    };
    let rel = format!("{DROPIN_DIR}/{DROPIN}");
    let dropin: serde_yaml_ng::Value = serde_yaml_ng::from_str(&read(env, &rel)?)
        .map_err(|e| bad(&rel, format!("not YAML: {e}")))?;
    let name = dropin
        .get("node-name")
        .and_then(serde_yaml_ng::Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| bad(&rel, "no node-name".into()))?
        .to_string();
    let datastore = (role == Role::Server).then(|| {
        let init = dropin
            .get("cluster-init")
            .and_then(serde_yaml_ng::Value::as_bool)
            .unwrap_or(false);
        let joins = dropin.get("server").is_some();
        if init || joins || env.path(ETCD_DB_DIR).is_dir() {
            Datastore::Etcd
        } else {
            Datastore::Sqlite
        }
    });
    Ok(NodeFacts {
        name,
        role,
        datastore,
    })
}
