//! Which supervisor k3s joins, decided before the drop-in is written.
//!
//! A joining node without an API VIP takes the first server of `k3s.server_urls` that serves
//! the token's CA; the first server, when its datastore is empty (a reinstall), rejoins any
//! server that answers instead of starting a second etcd cluster with `cluster-init`. Every
//! probe is bounded by a short per-server timeout.

use std::path::Path;
use std::time::Duration;

use crate::agent::ladder::effective::Effective;
use crate::agent::ladder::pin::{self, PinError};
use crate::agent::AgentEnv;
use crate::nodecfg::NodeConfig;
use crate::pki::Token;

/// k3s's datastore directory (etcd or SQLite), relative to the root.
pub const DB_DIR: &str = "var/lib/rancher/k3s/server/db";
/// Upper bound on one server's probe (each of its two requests), whatever `http_timeout_s` is.
pub const PROBE_TIMEOUT_MAX: Duration = Duration::from_secs(3);

/// Where k3s joins and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// The drop-in's `server:`; `None` keeps the node as the cluster's first server.
    pub server_url: Option<String>,
    pub cluster_init: bool,
    /// One sentence for the journal.
    pub why: String,
}

impl Choice {
    /// Puts the choice into the NodeConfig the drop-in and the join check are made from.
    pub fn apply(&self, node: &mut NodeConfig) {
        node.k3s.server_url = self.server_url.clone();
        node.k3s.cluster_init = self.cluster_init;
    }
}

/// True when k3s's datastore directory holds anything: the node is already a cluster member.
pub fn has_datastore(root: &Path) -> bool {
    std::fs::read_dir(root.join(DB_DIR)).is_ok_and(|mut d| d.next().is_some())
}

/// The `server:` of the drop-in an earlier run wrote, if any.
fn previous_server(env: &AgentEnv) -> Option<String> {
    let path = env
        .path(crate::k3s::config::DROPIN_DIR)
        .join(crate::k3s::config::DROPIN);
    let text = std::fs::read_to_string(path).ok()?;
    let y: serde_yaml_ng::Mapping = serde_yaml_ng::from_str(&text).ok()?;
    y.get("server")?.as_str().map(str::to_string)
}

/// The CA hash the join token pins (the NodeConfig's copy when the token carries none).
fn pinned_hash(node: &NodeConfig) -> Result<String, String> {
    let secrets = node
        .secrets
        .as_ref()
        .ok_or("the node config has no secrets (token)")?;
    let token = Token::parse(secrets.token.expose()).map_err(|e| format!("join token: {e}"))?;
    Ok(if token.ca_hash.is_empty() {
        secrets.ca_hash.clone()
    } else {
        token.ca_hash
    })
}

/// Ok when `url` serves the pinned cluster CA on `/cacerts` and its TLS certificate verifies
/// against that CA on `/ping`: the supervisor is a member of this cluster.
pub fn probe(url: &str, pinned: &str, timeout: Duration) -> Result<(), String> {
    let url = url.trim_end_matches('/');
    let short = |e: PinError| match e {
        PinError::Unreachable { source, .. } => format!("no answer ({source})"),
        PinError::Mismatch { served, .. } => {
            format!("serves CA {served}, not the token's {pinned} (another cluster)")
        }
        other => other.to_string(),
    };
    let insecure = pin::insecure(timeout).map_err(short)?;
    let trusted = pin::pin_ca(&insecure, url, pinned, timeout)
        .map_err(short)?
        .client;
    match trusted.get(format!("{url}/ping")).send() {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("/ping answered HTTP {}", r.status().as_u16())),
        Err(e) => Err(format!(
            "its TLS certificate does not verify against the CA it serves ({e})"
        )),
    }
}

/// The first candidate that answers, with the reason each one before it was passed over.
fn first_answering(
    candidates: &[String],
    pinned: &str,
    timeout: Duration,
) -> (Option<String>, Vec<String>) {
    let mut skipped = Vec::new();
    for url in candidates {
        match probe(url, pinned, timeout) {
            Ok(()) => return (Some(url.clone()), skipped),
            Err(e) => skipped.push(format!("{url}: {e}")),
        }
    }
    (None, skipped)
}

fn listed(skipped: &[String]) -> String {
    if skipped.is_empty() {
        String::new()
    } else {
        format!(" ({})", skipped.join("; "))
    }
}

/// Decides and applies the choice to the effective config; returns the reason to journal.
pub fn settle(env: &AgentEnv, cfg: &mut Effective) -> Result<Option<String>, String> {
    let choice = decide(env, cfg)?;
    Ok(choice.map(|c| {
        c.apply(&mut cfg.node);
        c.why
    }))
}

/// Decides where k3s joins; `None` when the NodeConfig's own choice stands untouched.
pub fn decide(env: &AgentEnv, cfg: &Effective) -> Result<Option<Choice>, String> {
    let k = &cfg.node.k3s;
    let server = cfg.node.node.role == crate::spec::Role::Server;
    let first = server && k.server_url.is_none();
    let as_given = |url: &String, why: String| Choice {
        server_url: Some(url.clone()),
        cluster_init: k.cluster_init,
        why,
    };
    let candidates: Vec<String> = match &k.server_url {
        // A VIP or an operator's override is used as given.
        Some(url) if !k.server_urls.contains(url) => {
            let from = cfg.merged.source_of("k3s.server_url").unwrap_or("config");
            return Ok(Some(as_given(
                url,
                format!("joins through {url} as given (k3s.server_url from {from}, not one of k3s.server_urls), not probed"),
            )));
        }
        Some(url) if k.server_urls.len() == 1 => {
            return Ok(Some(as_given(
                url,
                format!("joins through {url}, the only server listed"),
            )))
        }
        Some(url) => std::iter::once(url.clone())
            .chain(k.server_urls.iter().filter(|u| *u != url).cloned())
            .collect(),
        None if first && !k.server_urls.is_empty() => k.server_urls.clone(),
        None => return Ok(None),
    };
    if first && has_datastore(&env.root) {
        return Ok(Some(match previous_server(env) {
            Some(url) => Choice {
                why: format!("{DB_DIR} holds a datastore; keeps joining through {url} as an earlier run chose"),
                server_url: Some(url),
                cluster_init: false,
            },
            None => Choice {
                server_url: None,
                cluster_init: k.cluster_init,
                why: format!("{DB_DIR} holds a datastore; config unchanged, no probe"),
            },
        }));
    }
    if !cfg.agent.verify_join {
        return Ok(None);
    }
    let pinned = pinned_hash(&cfg.node)?;
    let timeout = Duration::from_secs(cfg.agent.http_timeout_s.max(1)).min(PROBE_TIMEOUT_MAX);
    // An earlier run's choice goes first, so a rerun does not move a joined node.
    let mut order = candidates.clone();
    if let Some(prev) = previous_server(env) {
        if let Some(i) = order.iter().position(|u| *u == prev) {
            let p = order.remove(i);
            order.insert(0, p);
        }
    }
    let (found, skipped) = first_answering(&order, &pinned, timeout);
    Ok(Some(match (found, first) {
        (Some(url), true) => Choice {
            why: format!("{DB_DIR} is empty and {url} serves the token's CA: rejoins the existing cluster through it instead of cluster-init{}", listed(&skipped)),
            server_url: Some(url),
            cluster_init: false,
        },
        (None, true) => Choice {
            server_url: None,
            cluster_init: k.cluster_init,
            why: format!("{DB_DIR} is empty and no other server answered: initialises the cluster{}", listed(&skipped)),
        },
        (Some(url), false) => Choice {
            why: format!("joins through {url}, the first server serving the token's CA{}", listed(&skipped)),
            server_url: Some(url),
            cluster_init: false,
        },
        (None, false) => Choice {
            why: format!("no server answered; joins through {} and lets k3s retry{}", candidates[0], listed(&skipped)),
            server_url: Some(candidates[0].clone()),
            cluster_init: false,
        },
    }))
}
