//! The objects the stand-in holds and their JSON as the API renders it.

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use super::scenario::Labels;
use super::sim::NodeSim;
use super::{Disruption, NodeView, PodView, Request, Role, Timings};

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

/// RFC 3339 in UTC, seconds precision, as the API writes timestamps.
pub(super) fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, mi, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

pub(super) fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}

fn map(l: &Labels) -> Value {
    Value::Object(l.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
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

    pub(super) fn node_ready(&self, name: &str) -> bool {
        self.nodes.get(name).is_some_and(|n| n.sim.ready())
    }

    /// Ready as the Pod's Ready condition says: containers up, not terminating, node Ready.
    pub(super) fn pod_ready(&self, p: &Pod, now: Instant) -> bool {
        p.deleting.is_none() && p.ready_at.is_some_and(|t| t <= now) && self.node_ready(&p.node)
    }

    pub(super) fn node_json(&self, n: &Node) -> Value {
        let mut spec = Map::new();
        let host = n.address.rsplit('.').next().unwrap_or("0");
        spec.insert("podCIDR".into(), json!(format!("10.42.{host}.0/24")));
        if n.unschedulable {
            spec.insert("unschedulable".into(), json!(true));
            spec.insert(
                "taints".into(),
                json!([{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule", "timeAdded": n.cordoned_at}]),
            );
        }
        json!({
            "kind": "Node", "apiVersion": "v1",
            "metadata": {
                "name": n.name, "uid": n.uid, "resourceVersion": n.rv.to_string(),
                "creationTimestamp": n.created, "labels": map(&n.labels),
                "annotations": map(&n.annotations),
            },
            "spec": Value::Object(spec),
            "status": n.sim.status_json(&n.address, &n.name),
        })
    }

    pub(super) fn pod_json(&self, p: &Pod, now: Instant) -> Value {
        let mut meta = json!({
            "name": p.name, "namespace": p.ns, "uid": p.uid,
            "resourceVersion": p.rv.to_string(), "creationTimestamp": p.created,
            "labels": map(&p.labels), "annotations": map(&p.annotations),
        });
        if let Some(o) = &p.owner {
            meta["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": o.kind,
                "name": o.name, "uid": o.uid, "controller": true, "blockOwnerDeletion": true}]);
        }
        if let Some((_, ts)) = &p.deleting {
            meta["deletionTimestamp"] = json!(ts);
            meta["deletionGracePeriodSeconds"] = json!(30);
        }
        let scheduled = !p.node.is_empty() && p.ready_at.is_some();
        let phase = if scheduled { "Running" } else { "Pending" };
        let ready = if self.pod_ready(p, now) {
            "True"
        } else {
            "False"
        };
        let mut spec = json!({"containers": [{"name": "main", "image": "registry.invalid/stand-in:1"}],
            "terminationGracePeriodSeconds": 30});
        if !p.node.is_empty() {
            spec["nodeName"] = json!(p.node);
        }
        json!({
            "kind": "Pod", "apiVersion": "v1", "metadata": meta, "spec": spec,
            "status": {"phase": phase, "conditions": [
                {"type": "PodScheduled", "status": if p.node.is_empty() { "False" } else { "True" }},
                {"type": "Ready", "status": ready},
            ]},
        })
    }

    pub(super) fn node_view(&self, n: &Node) -> NodeView {
        NodeView {
            name: n.name.clone(),
            role: n.role,
            etcd: n.etcd,
            version: n.sim.version.clone(),
            staged: n.sim.staged.clone(),
            boot_id: n.sim.boot_id.clone(),
            ready: n.sim.ready(),
            unschedulable: n.unschedulable,
            labels: n.labels.clone(),
            annotations: n.annotations.clone(),
            boots: n.sim.boots,
            resource_version: n.rv,
            fault: n.sim.fault,
        }
    }

    /// A node by name (panics naming it when absent).
    pub fn node(&self, name: &str) -> NodeView {
        let n = self.nodes.get(name);
        self.node_view(n.unwrap_or_else(|| panic!("stand-in API: no node {name}")))
    }

    pub fn nodes(&self) -> Vec<NodeView> {
        self.nodes.values().map(|n| self.node_view(n)).collect()
    }

    pub fn pods(&self) -> Vec<PodView> {
        let now = Instant::now();
        let view = |p: &Pod| PodView {
            namespace: p.ns.clone(),
            name: p.name.clone(),
            node: p.node.clone(),
            owner: p.owner.as_ref().map(|o| o.kind.to_string()),
            mirror: p.annotations.contains_key(super::MIRROR),
            ready: self.pod_ready(p, now),
            terminating: p.deleting.is_some(),
        };
        self.pods.values().map(view).collect()
    }

    pub fn requests(&self) -> &[Request] {
        &self.log
    }

    pub fn disruptions(&self) -> &[Disruption] {
        &self.disruptions
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
