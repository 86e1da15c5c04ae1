//! How objects look: their JSON as the API renders it, and the views tests read.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use super::scenario::Labels;
use super::world::{Node, Pod, World};
use super::{Disruption, NodeView, PodView, Request};

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
