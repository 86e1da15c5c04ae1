//! Cordon, drain through the eviction API, uncordon. Only a node this rollout cordoned (its id
//! in the cordoned-by annotation) is uncordoned by it: a node an operator cordoned stays so.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;

use super::preflight::{evictable_pods, PDB_PATH};
use super::protocol::CORDONED_BY_ANNOTATION;
use crate::kube::{objects, Client, KubeError};

/// A 429 is retried after this, doubling up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(5);
const GONE_POLL: Duration = Duration::from_millis(250);

pub fn node_path(name: &str) -> String {
    format!("/api/v1/nodes/{name}")
}

/// Whether the node was cordoned by someone else before (then it is left cordoned at the end).
pub enum Cordon {
    Ours,
    Theirs,
}

/// Cordons `name` for rollout `id`. `owns` says whether a cordoned-by value is this rollout's
/// (its id or an abandoned one's).
pub fn cordon(
    client: &Client,
    name: &str,
    id: &str,
    owns: impl Fn(&str) -> bool,
) -> Result<Cordon, KubeError> {
    let node = client.get(&node_path(name))?;
    let by = objects::annotation(&node, CORDONED_BY_ANNOTATION);
    if objects::unschedulable(&node) && !by.is_some_and(&owns) {
        return Ok(Cordon::Theirs);
    }
    client.merge_patch(
        &node_path(name),
        &json!({"spec": {"unschedulable": true},
                "metadata": {"annotations": {CORDONED_BY_ANNOTATION: id}}}),
    )?;
    Ok(Cordon::Ours)
}

/// Uncordons `name` if this rollout cordoned it; returns whether it did.
pub fn uncordon(
    client: &Client,
    name: &str,
    owns: impl Fn(&str) -> bool,
) -> Result<bool, KubeError> {
    let node = client.get(&node_path(name))?;
    match objects::annotation(&node, CORDONED_BY_ANNOTATION) {
        Some(by) if owns(by) => {
            client.merge_patch(
                &node_path(name),
                &json!({"spec": {"unschedulable": false},
                        "metadata": {"annotations": {CORDONED_BY_ANNOTATION: null}}}),
            )?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    #[error(transparent)]
    Kube(#[from] KubeError),
    #[error("drain of {node} timed out after {secs}s: {detail}")]
    Timeout {
        node: String,
        secs: u64,
        detail: String,
    },
}

/// Evicts every pod on `node` but DaemonSet and mirror pods, retrying evictions a PDB refuses
/// (429) until `timeout`, then waits, within the same timeout, for the evicted pods to be gone.
pub fn drain(client: &Client, node: &str, timeout: Duration) -> Result<usize, DrainError> {
    let deadline = Instant::now() + timeout;
    let mut pending: BTreeMap<(String, String), String> = evictable_pods(client, node)?
        .iter()
        .map(|p| {
            let key = (
                objects::namespace(p).to_string(),
                objects::name(p).to_string(),
            );
            (key, objects::uid(p).to_string())
        })
        .collect();
    let evicted: Vec<_> = pending
        .iter()
        .map(|(k, uid)| (k.clone(), uid.clone()))
        .collect();
    let mut wait = RETRY_MIN;
    let mut refused: BTreeMap<(String, String), String> = BTreeMap::new();
    loop {
        refused.clear();
        let keys: Vec<_> = pending.keys().cloned().collect();
        for (ns, pod) in keys {
            let path = format!("/api/v1/namespaces/{ns}/pods/{pod}/eviction");
            let body = json!({"apiVersion": "policy/v1", "kind": "Eviction",
                              "metadata": {"name": pod, "namespace": ns}});
            match client.post(&path, &body) {
                Ok(_) => {
                    pending.remove(&(ns, pod));
                }
                Err(e) if e.status() == Some(404) => {
                    pending.remove(&(ns, pod));
                }
                Err(KubeError::Api {
                    status: 429,
                    message,
                    ..
                }) => {
                    refused.insert((ns, pod), message);
                }
                Err(e) => return Err(e.into()),
            }
        }
        if pending.is_empty() {
            break;
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(DrainError::Timeout {
                node: node.to_string(),
                secs: timeout.as_secs(),
                detail: blocked_detail(client, &refused),
            });
        }
        std::thread::sleep(wait.min(deadline - now));
        wait = (wait * 2).min(RETRY_MAX);
    }
    // Evicted pods terminate with their grace period; a drain is over when they are gone (a
    // pod of the same name with another uid is its replacement).
    let mut left = evicted;
    loop {
        let mut still = Vec::new();
        for ((ns, pod), uid) in left {
            match client.get(&format!("/api/v1/namespaces/{ns}/pods/{pod}")) {
                Ok(p) if objects::uid(&p) == uid => still.push(((ns, pod), uid)),
                Ok(_) => {}
                Err(e) if e.status() == Some(404) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if still.is_empty() {
            return Ok(pending.len());
        }
        if Instant::now() >= deadline {
            let names: Vec<_> = still
                .iter()
                .map(|((ns, p), _)| format!("{ns}/{p}"))
                .collect();
            return Err(DrainError::Timeout {
                node: node.to_string(),
                secs: timeout.as_secs(),
                detail: format!("evicted pods still terminating: {}", names.join(", ")),
            });
        }
        left = still;
        std::thread::sleep(GONE_POLL);
    }
}

/// Names the PDBs behind the refused evictions, with their pods and the API's message.
fn blocked_detail(client: &Client, refused: &BTreeMap<(String, String), String>) -> String {
    let pdbs = client.list(PDB_PATH, &[]).unwrap_or_default();
    let mut by_pdb: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut message = String::new();
    for ((ns, pod), msg) in refused {
        message.clone_from(msg);
        let names = match client.get(&format!("/api/v1/namespaces/{ns}/pods/{pod}")) {
            Ok(p) => objects::pdbs_for(&pdbs, &p)
                .iter()
                .map(|b| format!("{}/{}", objects::namespace(b), objects::name(b)))
                .collect::<Vec<_>>(),
            Err(_) => Vec::new(),
        };
        let key = if names.is_empty() {
            "an unknown PodDisruptionBudget".to_string()
        } else {
            format!("PodDisruptionBudget {}", names.join(", "))
        };
        by_pdb.entry(key).or_default().push(format!("{ns}/{pod}"));
    }
    let parts: Vec<_> = by_pdb
        .into_iter()
        .map(|(pdb, pods)| format!("{pdb} blocks evicting {}", pods.join(", ")))
        .collect();
    format!(
        "{} (API: {message}); raise the budget, scale the workload up, or pass a longer --drain-timeout",
        parts.join("; ")
    )
}
