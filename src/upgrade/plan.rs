//! The cluster as the rollout sees it, and the plan: which nodes, in which order, in which
//! batches, which are skipped and why.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::protocol::{self, CORDONED_BY_ANNOTATION};
use crate::kube::objects;

pub use crate::spec::Role;

/// One Node object, reduced to what the rollout decides on.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub name: String,
    pub role: Role,
    /// Labelled as an embedded etcd member.
    pub etcd: bool,
    pub ready: bool,
    /// From the node's status annotation; `None` before its watcher first reported.
    pub version: Option<String>,
    pub boot_id: String,
    pub unschedulable: bool,
    pub cordoned_by: Option<String>,
}

impl NodeInfo {
    pub fn from_node(node: &Value) -> NodeInfo {
        NodeInfo {
            name: objects::name(node).to_string(),
            role: if objects::is_control_plane(node) {
                Role::Server
            } else {
                Role::Agent
            },
            etcd: objects::is_etcd(node),
            ready: objects::node_ready(node),
            version: protocol::status(node).and_then(|s| s.version),
            boot_id: objects::boot_id(node).to_string(),
            unschedulable: objects::unschedulable(node),
            cordoned_by: objects::annotation(node, CORDONED_BY_ANNOTATION).map(str::to_string),
        }
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Skipped {
    pub node: String,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub target: String,
    /// Servers one per batch, then agents `concurrency` per batch.
    pub batches: Vec<Vec<String>>,
    pub skipped: Vec<Skipped>,
    pub warnings: Vec<String>,
    pub nodes: BTreeMap<String, NodeInfo>,
}

impl Plan {
    pub fn todo(&self) -> impl Iterator<Item = &str> {
        self.batches.iter().flatten().map(String::as_str)
    }
}

/// Orders `todo` (names known in `nodes`): servers first, one at a time, then agents in
/// batches of `concurrency`. Within a role, by name, so a rerun keeps the order.
pub fn batches(
    nodes: &BTreeMap<String, NodeInfo>,
    todo: &BTreeSet<String>,
    concurrency: usize,
) -> Vec<Vec<String>> {
    let of = |role| {
        todo.iter()
            .filter(move |n| nodes.get(*n).is_some_and(|i| i.role == role))
            .cloned()
            .collect::<Vec<_>>()
    };
    let mut out: Vec<Vec<String>> = of(Role::Server).into_iter().map(|s| vec![s]).collect();
    out.extend(
        of(Role::Agent)
            .chunks(concurrency.max(1))
            .map(<[_]>::to_vec),
    );
    out
}

/// Why a server may not go down now, if it may not: the Ready etcd members minus this one must
/// keep quorum (floor(n/2)+1 of all members), and at least one other control-plane node must
/// stay Ready. Quorum is judged from the Nodes, since etcd's own health is only visible on each
/// server.
pub fn server_down_refusal(nodes: &BTreeMap<String, NodeInfo>, name: &str) -> Option<String> {
    let me = nodes.get(name)?;
    if me.role != Role::Server {
        return None;
    }
    let others_ready = nodes
        .values()
        .filter(|n| n.role == Role::Server && n.ready && n.name != name)
        .count();
    if others_ready == 0 {
        return Some(format!(
            "{name} is the last Ready control-plane node: taking it down stops the Kubernetes API"
        ));
    }
    if me.etcd {
        let members: Vec<_> = nodes.values().filter(|n| n.etcd).collect();
        let quorum = members.len() / 2 + 1;
        let ready_after = members.iter().filter(|n| n.ready && n.name != name).count();
        if ready_after < quorum {
            let down: Vec<_> = members
                .iter()
                .filter(|n| !n.ready)
                .map(|n| n.name.as_str())
                .collect();
            return Some(format!(
                "taking {name} down leaves {ready_after} of {} etcd members Ready, below quorum {quorum}{}",
                members.len(),
                if down.is_empty() {
                    String::new()
                } else {
                    format!(" (not Ready: {})", down.join(", "))
                }
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, role: Role, ready: bool) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            role,
            etcd: role == Role::Server,
            ready,
            version: Some("1".into()),
            boot_id: "b".into(),
            unschedulable: false,
            cordoned_by: None,
        }
    }

    fn cluster(list: &[NodeInfo]) -> BTreeMap<String, NodeInfo> {
        list.iter().map(|n| (n.name.clone(), n.clone())).collect()
    }

    #[test]
    fn servers_one_at_a_time_then_agents_in_batches() {
        let c = cluster(&[
            node("a1", Role::Agent, true),
            node("s2", Role::Server, true),
            node("a2", Role::Agent, true),
            node("s1", Role::Server, true),
            node("a3", Role::Agent, true),
        ]);
        let todo = c.keys().cloned().collect();
        let b = batches(&c, &todo, 2);
        assert_eq!(
            b,
            vec![
                vec!["s1".to_string()],
                vec!["s2".into()],
                vec!["a1".into(), "a2".into()],
                vec!["a3".into()],
            ]
        );
    }

    #[test]
    fn quorum_and_last_server_rules() {
        let three = cluster(&[
            node("s1", Role::Server, true),
            node("s2", Role::Server, true),
            node("s3", Role::Server, true),
        ]);
        assert_eq!(server_down_refusal(&three, "s1"), None);
        let degraded = cluster(&[
            node("s1", Role::Server, true),
            node("s2", Role::Server, false),
            node("s3", Role::Server, true),
        ]);
        let why = server_down_refusal(&degraded, "s1").unwrap();
        assert!(
            why.contains("below quorum 2") && why.contains("s2"),
            "{why}"
        );
        let one = cluster(&[node("s1", Role::Server, true)]);
        assert!(server_down_refusal(&one, "s1")
            .unwrap()
            .contains("last Ready"));
        let agent = cluster(&[node("a1", Role::Agent, true)]);
        assert_eq!(server_down_refusal(&agent, "a1"), None);
    }
}
