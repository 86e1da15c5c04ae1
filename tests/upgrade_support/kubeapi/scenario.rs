//! What the API holds at start: nodes, controllers and their pods, bare and mirror pods, PDBs.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::world::{Owner, Pdb, Pod, World};
use super::{Role, Timings};

/// A builder for the starting state; pass it to [`super::KubeApi::start`].
#[derive(Debug, Clone, Default)]
pub struct Scenario {
    pub(super) nodes: Vec<(String, Role, String, bool)>,
    pub(super) replica_sets: Vec<(String, String, u32, Labels)>,
    pub(super) daemon_sets: Vec<(String, String, Labels)>,
    pub(super) pods: Vec<(String, String, String, Labels, bool)>,
    pub(super) pdbs: Vec<(String, String, Value)>,
    pub(super) timings: Timings,
    pub(super) no_initial_status: bool,
}

pub(super) type Labels = BTreeMap<String, String>;

fn labels(l: &[(&str, &str)]) -> Labels {
    l.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Scenario {
    pub fn new() -> Scenario {
        Scenario::default()
    }

    /// A k3s server running `version`, with embedded etcd.
    pub fn server(mut self, name: &str, version: &str) -> Scenario {
        self.nodes
            .push((name.into(), Role::Server, version.into(), true));
        self
    }

    /// A k3s agent running `version`.
    pub fn agent(mut self, name: &str, version: &str) -> Scenario {
        self.nodes
            .push((name.into(), Role::Agent, version.into(), false));
        self
    }

    /// Makes server `name` a control-plane-only server (no `node-role.kubernetes.io/etcd`).
    pub fn no_etcd(mut self, name: &str) -> Scenario {
        let n = self.nodes.iter_mut().find(|n| n.0 == name);
        n.unwrap_or_else(|| panic!("no_etcd: no node {name}")).3 = false;
        self
    }

    /// A ReplicaSet of `replicas` Ready pods labelled `l`, spread over the nodes in order
    /// (declare the nodes first).
    pub fn replica_set(
        mut self,
        ns: &str,
        name: &str,
        replicas: u32,
        l: &[(&str, &str)],
    ) -> Scenario {
        self.replica_sets
            .push((ns.into(), name.into(), replicas, labels(l)));
        self
    }

    /// A DaemonSet: one Ready pod labelled `l` on every node.
    pub fn daemon_set(mut self, ns: &str, name: &str, l: &[(&str, &str)]) -> Scenario {
        self.daemon_sets.push((ns.into(), name.into(), labels(l)));
        self
    }

    /// A Ready pod with no controller on `node`.
    pub fn pod(mut self, ns: &str, name: &str, node: &str, l: &[(&str, &str)]) -> Scenario {
        self.pods
            .push((ns.into(), name.into(), node.into(), labels(l), false));
        self
    }

    /// A static pod's mirror on `node` (annotation `kubernetes.io/config.mirror`).
    pub fn mirror_pod(mut self, ns: &str, name: &str, node: &str) -> Scenario {
        self.pods
            .push((ns.into(), name.into(), node.into(), Labels::new(), true));
        self
    }

    /// A policy/v1 PDB with `minAvailable: n` selecting `l`.
    pub fn pdb_min_available(self, ns: &str, name: &str, l: &[(&str, &str)], n: i64) -> Scenario {
        let spec = json!({"minAvailable": n, "selector": {"matchLabels": labels(l)}});
        self.pdb(ns, name, spec)
    }

    /// A policy/v1 PDB with `maxUnavailable: n` selecting `l`.
    pub fn pdb_max_unavailable(self, ns: &str, name: &str, l: &[(&str, &str)], n: i64) -> Scenario {
        let spec = json!({"maxUnavailable": n, "selector": {"matchLabels": labels(l)}});
        self.pdb(ns, name, spec)
    }

    /// A PDB with any `spec` (e.g. `{"minAvailable": "50%", "selector": {...}}`).
    pub fn pdb(mut self, ns: &str, name: &str, spec: Value) -> Scenario {
        let ok = spec.get("minAvailable").is_some() != spec.get("maxUnavailable").is_some();
        assert!(
            ok,
            "PDB {ns}/{name}: exactly one of minAvailable and maxUnavailable"
        );
        self.pdbs.push((ns.into(), name.into(), spec));
        self
    }

    pub fn timings(mut self, t: Timings) -> Scenario {
        self.timings = t;
        self
    }

    /// Nodes start without the `boot` status a watcher reports after every boot (a cluster
    /// whose nodes never ran `kateskit node watch`).
    pub fn without_initial_status(mut self) -> Scenario {
        self.no_initial_status = true;
        self
    }

    pub(super) fn build(self) -> World {
        let mut w = World::new(self.timings);
        for (name, role, version, etcd) in &self.nodes {
            w.add_node(name, *role, version, *etcd, !self.no_initial_status);
        }
        let names: Vec<String> = self.nodes.iter().map(|n| n.0.clone()).collect();
        let mut next = 0;
        for (ns, name, replicas, l) in &self.replica_sets {
            let rs = w.add_replica_set(ns, name, *replicas, l.clone());
            for _ in 0..*replicas {
                let node = names.get(next % names.len().max(1)).cloned();
                next += 1;
                let pod = w.controller_pod(&rs, node.unwrap_or_default());
                w.insert_pod(pod);
            }
        }
        for (ns, name, l) in &self.daemon_sets {
            let ds = w.add_daemon_set(ns, name, l.clone());
            for node in &names {
                let pod = w.controller_pod(&ds, node.clone());
                w.insert_pod(pod);
            }
        }
        for (ns, name, node, l, mirror) in self.pods {
            assert!(names.contains(&node), "pod {ns}/{name}: no node {node}");
            let mut pod = Pod::new(&mut w, &ns, &name, node, l, None::<Owner>);
            if mirror {
                pod.annotations
                    .insert(super::MIRROR.into(), format!("{:032x}", w.next_uid()));
            }
            w.insert_pod(pod);
        }
        for (ns, name, spec) in self.pdbs {
            let uid = w.uid();
            w.pdbs.push(Pdb {
                ns,
                name,
                uid,
                spec,
            });
        }
        w
    }
}
