//! Checks before the rollout touches anything: every target node exists and is Ready, which
//! nodes already run the target, the single-control-plane and quorum rules, and the PDBs that
//! will hold up a drain.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::plan::{self, NodeInfo, Plan, Role, Skipped};
use super::UpgradeError;
use crate::kube::{objects, Client, KubeError};

pub const PDB_PATH: &str = "/apis/policy/v1/poddisruptionbudgets";

pub struct Input<'a> {
    pub target: &'a str,
    pub only: Option<&'a [String]>,
    pub concurrency: usize,
    pub force: bool,
    /// Nodes an interrupted rollout left between cordon and uncordon: they are finished even
    /// when already on the target, and may be not Ready (mid-reboot).
    pub in_flight: &'a BTreeSet<String>,
    /// Of those, the ones whose reboot was requested: they may be down because of this rollout.
    pub rebooting: &'a BTreeSet<String>,
}

pub fn list_nodes(client: &Client) -> Result<BTreeMap<String, NodeInfo>, KubeError> {
    Ok(client
        .list("/api/v1/nodes", &[])?
        .iter()
        .map(NodeInfo::from_node)
        .map(|n| (n.name.clone(), n))
        .collect())
}

pub fn run(client: &Client, input: &Input) -> Result<Plan, UpgradeError> {
    let nodes = list_nodes(client)?;
    let targets: Vec<String> = match input.only {
        Some(list) => {
            let unknown: Vec<_> = list.iter().filter(|n| !nodes.contains_key(*n)).collect();
            if !unknown.is_empty() {
                return Err(UpgradeError::UnknownNodes {
                    unknown: unknown.iter().map(|s| s.to_string()).collect(),
                    known: nodes.keys().cloned().collect(),
                });
            }
            list.to_vec()
        }
        None => nodes.keys().cloned().collect(),
    };
    let mut todo = BTreeSet::new();
    let mut skipped = Vec::new();
    let mut not_ready = Vec::new();
    for name in &targets {
        let n = &nodes[name];
        let resuming = input.in_flight.contains(name);
        if !resuming && n.version.as_deref() == Some(input.target) {
            skipped.push(Skipped {
                node: name.clone(),
                reason: format!("already running {}", input.target),
            });
            continue;
        }
        if !n.ready && !input.rebooting.contains(name) {
            not_ready.push(name.clone());
        }
        todo.insert(name.clone());
    }
    if !not_ready.is_empty() {
        return Err(UpgradeError::NotReady(not_ready));
    }
    let mut warnings = Vec::new();
    let servers = nodes.values().filter(|n| n.role == Role::Server).count();
    let touches_server = todo.iter().any(|n| nodes[n].role == Role::Server);
    if touches_server && servers == 1 {
        if !input.force {
            return Err(UpgradeError::SingleControlPlane(
                nodes
                    .values()
                    .find(|n| n.role == Role::Server)
                    .map(|n| n.name.clone())
                    .unwrap_or_default(),
            ));
        }
        warnings.push(
            "single control plane: the Kubernetes API is down while its server reboots (--force)"
                .to_string(),
        );
    } else if touches_server
        && !input
            .in_flight
            .iter()
            .any(|n| nodes.get(n).is_some_and(|i| i.role == Role::Server))
    {
        // A resumed server may be down because of this rollout; the check before each server
        // (once it is back) still applies.
        for name in todo.iter().filter(|n| nodes[*n].role == Role::Server) {
            if let Some(why) = plan::server_down_refusal(&nodes, name) {
                if !input.force {
                    return Err(UpgradeError::Quorum(why));
                }
                warnings.push(format!("{why} (--force)"));
            }
        }
    }
    for name in &todo {
        let n = &nodes[name];
        if n.unschedulable && n.cordoned_by.is_none() {
            warnings.push(format!(
                "{name} is already cordoned by someone else: it stays cordoned after its upgrade"
            ));
        }
        warnings.extend(blocking_pdbs(client, name)?);
    }
    Ok(Plan {
        target: input.target.to_string(),
        batches: plan::batches(&nodes, &todo, input.concurrency),
        skipped,
        warnings,
        nodes,
    })
}

/// The pods on `node` a drain would evict.
pub fn evictable_pods(client: &Client, node: &str) -> Result<Vec<Value>, KubeError> {
    let selector = format!("spec.nodeName={node}");
    Ok(client
        .list("/api/v1/pods", &[("fieldSelector", &selector)])?
        .into_iter()
        .filter(|p| objects::pod_skipped_by_drain(p).is_none() && !objects::pod_finished(p))
        .collect())
}

/// One line per PDB with no disruption allowed that covers a pod on `node`.
pub fn blocking_pdbs(client: &Client, node: &str) -> Result<Vec<String>, KubeError> {
    let pods = evictable_pods(client, node)?;
    if pods.is_empty() {
        return Ok(Vec::new());
    }
    let pdbs = client.list(PDB_PATH, &[])?;
    let mut by_pdb: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pod in &pods {
        for pdb in objects::pdbs_for(&pdbs, pod) {
            if objects::disruptions_allowed(pdb) <= 0 {
                by_pdb
                    .entry(format!(
                        "{}/{}",
                        objects::namespace(pdb),
                        objects::name(pdb)
                    ))
                    .or_default()
                    .push(format!(
                        "{}/{}",
                        objects::namespace(pod),
                        objects::name(pod)
                    ));
            }
        }
    }
    Ok(by_pdb
        .into_iter()
        .map(|(pdb, pods)| {
            format!(
                "{node}: PodDisruptionBudget {pdb} allows no disruption now (pods {}); its drain waits for it up to --drain-timeout",
                pods.join(", ")
            )
        })
        .collect())
}
