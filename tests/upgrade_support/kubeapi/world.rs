//! The objects the stand-in holds and their JSON as the API renders it.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::Value;

use super::render::now_rfc3339;
use super::scenario::Labels;
use super::sim::NodeSim;
use super::{Disruption, Request, Role, Timings};

/// Everything the API holds and saw. Hook conditions ([`super::KubeApi::when`]) read it.
pub struct World {
    pub(super) start: Instant,
    rv: u64,
    uid_seq: u64,
    pub(super) nodes: BTreeMap<String, Node>,
    pub(super) pods: BTreeMap<(String, String), Pod>,
    pub(super) controllers: Vec<Controller>,
    pub(super) pdbs: Vec<Pdb>,
    pub(super) log: Vec<Request>,
    pub(super) disruptions: Vec<Disruption>,
    pub(super) timings: Timings,
    /// The server the API is reached through: down while that node is ([`super::Scenario::api_through`]).
    pub(super) api_via: Option<String>,
    /// An outage set by the test ([`super::KubeApi::set_reachable`]).
    pub(super) outage: bool,
}

pub(super) struct Node {
    pub name: String,
    pub role: Role,
    pub etcd: bool,
    pub uid: String,
    pub created: String,
    pub rv: u64,
    pub labels: Labels,
    pub annotations: Labels,
    pub unschedulable: bool,
    pub address: String,
    /// timeAdded of the unschedulable taint.
    pub cordoned_at: String,
    pub sim: NodeSim,
}

/// A ReplicaSet or DaemonSet.
#[derive(Clone)]
pub(super) struct Controller {
    pub kind: &'static str,
    pub ns: String,
    pub name: String,
    pub uid: String,
    pub replicas: u32,
    pub labels: Labels,
}

#[derive(Clone)]
pub(super) struct Owner {
    pub kind: &'static str,
    pub name: String,
    pub uid: String,
}

#[derive(Clone)]
pub(super) struct Pod {
    pub ns: String,
    pub name: String,
    pub uid: String,
    pub rv: u64,
    pub created: String,
    pub labels: Labels,
    pub annotations: Labels,
    pub owner: Option<Owner>,
    /// "" while unscheduled.
    pub node: String,
    /// When its containers are ready (None: not yet scheduled).
    pub ready_at: Option<Instant>,
    /// When it is gone, and the deletionTimestamp shown meanwhile.
    pub deleting: Option<(Instant, String)>,
}

pub(super) struct Pdb {
    pub ns: String,
    pub name: String,
    pub uid: String,
    pub spec: Value,
}

impl World {
    pub(super) fn new(timings: Timings) -> World {
        World {
            start: Instant::now(),
            rv: 1000,
            uid_seq: 0,
            nodes: BTreeMap::new(),
            pods: BTreeMap::new(),
            controllers: Vec::new(),
            pdbs: Vec::new(),
            log: Vec::new(),
            disruptions: Vec::new(),
            timings,
            api_via: None,
            outage: false,
        }
    }

    /// The next resourceVersion (one counter for all objects, as etcd's revision).
    pub(super) fn bump(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    pub(super) fn rv(&self) -> u64 {
        self.rv
    }

    pub(super) fn next_uid(&mut self) -> u64 {
        self.uid_seq += 1;
        self.uid_seq
    }

    /// A UID in the API's UUID format.
    pub(super) fn uid(&mut self) -> String {
        let n = self.next_uid();
        format!("5d7a0000-0000-4000-8000-{n:012x}")
    }

    pub(super) fn add_node(
        &mut self,
        name: &str,
        role: Role,
        version: &str,
        etcd: bool,
        report: bool,
    ) {
        let mut labels: Labels = [
            ("kubernetes.io/hostname", name),
            ("kubernetes.io/os", "linux"),
            ("kubernetes.io/arch", "amd64"),
            ("beta.kubernetes.io/os", "linux"),
            ("beta.kubernetes.io/arch", "amd64"),
            ("node.kubernetes.io/instance-type", "k3s"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if role == Role::Server {
            labels.insert(
                "node-role.kubernetes.io/control-plane".into(),
                "true".into(),
            );
            labels.insert("node-role.kubernetes.io/master".into(), "true".into());
            if etcd {
                labels.insert("node-role.kubernetes.io/etcd".into(), "true".into());
            }
        }
        let uid = self.uid();
        let rv = self.bump();
        let address = format!("192.0.2.{}", 10 + self.nodes.len());
        let sim = NodeSim::new(version, self.next_uid());
        let mut node = Node {
            name: name.into(),
            role,
            etcd: etcd && role == Role::Server,
            uid,
            created: now_rfc3339(),
            rv,
            labels,
            annotations: Labels::new(),
            unschedulable: false,
            address,
            cordoned_at: String::new(),
            sim,
        };
        if report {
            node.annotations
                .insert(super::STATUS.into(), node.sim.boot_status_text("done", ""));
        }
        self.nodes.insert(name.into(), node);
    }

    pub(super) fn add_replica_set(
        &mut self,
        ns: &str,
        name: &str,
        replicas: u32,
        l: Labels,
    ) -> Controller {
        self.add_controller("ReplicaSet", ns, name, replicas, l)
    }

    pub(super) fn add_daemon_set(&mut self, ns: &str, name: &str, l: Labels) -> Controller {
        self.add_controller("DaemonSet", ns, name, 0, l)
    }

    fn add_controller(
        &mut self,
        kind: &'static str,
        ns: &str,
        name: &str,
        replicas: u32,
        labels: Labels,
    ) -> Controller {
        let c = Controller {
            kind,
            ns: ns.into(),
            name: name.into(),
            uid: self.uid(),
            replicas,
            labels,
        };
        self.controllers.push(c.clone());
        c
    }

    /// A new pod of controller `c` on `node` ("" = unscheduled), with a generated name.
    pub(super) fn controller_pod(&mut self, c: &Controller, node: String) -> Pod {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let mut n = self.next_uid() * 7919;
        let suffix: String = (0..5)
            .map(|_| {
                let ch = ALPHABET[(n % 27) as usize] as char;
                n /= 27;
                ch
            })
            .collect();
        let owner = Owner {
            kind: c.kind,
            name: c.name.clone(),
            uid: c.uid.clone(),
        };
        let name = format!("{}-{suffix}", c.name);
        Pod::new(self, &c.ns, &name, node, c.labels.clone(), Some(owner))
    }

    pub(super) fn insert_pod(&mut self, pod: Pod) {
        self.pods.insert((pod.ns.clone(), pod.name.clone()), pod);
    }

    /// Whether connections are refused now.
    pub(super) fn unreachable(&self) -> bool {
        let via_down = self
            .api_via
            .as_ref()
            .is_some_and(|n| self.nodes.get(n).is_some_and(|n| n.sim.down()));
        self.outage || via_down
    }

    pub(super) fn node_ready(&self, name: &str) -> bool {
        self.nodes.get(name).is_some_and(|n| n.sim.ready())
    }

    /// Ready as the Pod's Ready condition says: containers up, not terminating, node Ready.
    pub(super) fn pod_ready(&self, p: &Pod, now: Instant) -> bool {
        p.deleting.is_none() && p.ready_at.is_some_and(|t| t <= now) && self.node_ready(&p.node)
    }
}

impl Pod {
    /// A pod that is Ready at once on `node` ("" leaves it Pending).
    pub(super) fn new(
        w: &mut World,
        ns: &str,
        name: &str,
        node: String,
        labels: Labels,
        owner: Option<Owner>,
    ) -> Pod {
        let ready_at = (!node.is_empty()).then(Instant::now);
        Pod {
            ns: ns.into(),
            name: name.into(),
            uid: w.uid(),
            rv: w.bump(),
            created: now_rfc3339(),
            labels,
            annotations: Labels::new(),
            owner,
            node,
            ready_at,
            deleting: None,
        }
    }
}
