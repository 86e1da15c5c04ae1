//! Reading the few fields of Node, Pod and PodDisruptionBudget objects the rollout needs, from
//! their JSON (a typed model of the whole API would be most of a Kubernetes client).

use std::collections::BTreeMap;

use serde_json::Value;

/// The label k3s puts on servers (value `"true"`).
pub const CONTROL_PLANE_LABEL: &str = "node-role.kubernetes.io/control-plane";
/// The label k3s puts on servers running embedded etcd (value `"true"`).
pub const ETCD_LABEL: &str = "node-role.kubernetes.io/etcd";
/// The annotation the kubelet puts on static (mirror) pods: they cannot be evicted.
pub const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

pub fn name(o: &Value) -> &str {
    o.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub fn namespace(o: &Value) -> &str {
    o.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default")
}

pub fn uid(o: &Value) -> &str {
    o.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub fn annotation<'a>(o: &'a Value, key: &str) -> Option<&'a str> {
    o.pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

pub fn label<'a>(o: &'a Value, key: &str) -> Option<&'a str> {
    o.pointer("/metadata/labels")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

pub fn labels(o: &Value) -> BTreeMap<String, String> {
    o.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect()
}

/// `status.conditions[type=Ready].status == "True"`.
pub fn node_ready(node: &Value) -> bool {
    node.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
        .and_then(|c| c.get("status"))
        .and_then(Value::as_str)
        == Some("True")
}

pub fn boot_id(node: &Value) -> &str {
    node.pointer("/status/nodeInfo/bootID")
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub fn unschedulable(node: &Value) -> bool {
    node.pointer("/spec/unschedulable")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

pub fn is_control_plane(node: &Value) -> bool {
    label(node, CONTROL_PLANE_LABEL) == Some("true")
}

pub fn is_etcd(node: &Value) -> bool {
    label(node, ETCD_LABEL) == Some("true")
}

/// DaemonSet pods come back at once on the same node and mirror pods belong to the kubelet:
/// a drain leaves both alone, as `kubectl drain --ignore-daemonsets` does.
pub fn pod_skipped_by_drain(pod: &Value) -> Option<&'static str> {
    if annotation(pod, MIRROR_ANNOTATION).is_some() {
        return Some("mirror pod");
    }
    let ds = pod
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|o| o.get("kind").and_then(Value::as_str) == Some("DaemonSet"));
    ds.then_some("DaemonSet pod")
}

/// Finished pods hold nothing a drain protects.
pub fn pod_finished(pod: &Value) -> bool {
    matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    )
}

/// Whether a PDB's `spec.selector` (matchLabels and matchExpressions) selects these labels.
/// An empty selector selects every pod of the namespace (policy/v1 semantics).
pub fn selector_matches(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    let ml_ok = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str());
    let me_ok = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .all(|e| {
            let key = e.get("key").and_then(Value::as_str).unwrap_or("");
            let values: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let have = labels.get(key).map(String::as_str);
            match e.get("operator").and_then(Value::as_str) {
                Some("In") => have.is_some_and(|h| values.contains(&h)),
                Some("NotIn") => have.is_none_or(|h| !values.contains(&h)),
                Some("Exists") => have.is_some(),
                Some("DoesNotExist") => have.is_none(),
                _ => false,
            }
        });
    ml_ok && me_ok
}

/// The PDBs (same namespace, selector matches) that cover a pod.
pub fn pdbs_for<'a>(pdbs: &'a [Value], pod: &Value) -> Vec<&'a Value> {
    let labels = labels(pod);
    pdbs.iter()
        .filter(|p| namespace(p) == namespace(pod))
        .filter(|p| {
            p.pointer("/spec/selector")
                .is_some_and(|s| selector_matches(s, &labels))
        })
        .collect()
}

pub fn disruptions_allowed(pdb: &Value) -> i64 {
    pdb.pointer("/status/disruptionsAllowed")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectors_match_labels_and_expressions() {
        let l: BTreeMap<String, String> = [("app".to_string(), "web".to_string())].into();
        assert!(selector_matches(
            &json!({"matchLabels": {"app": "web"}}),
            &l
        ));
        assert!(!selector_matches(
            &json!({"matchLabels": {"app": "db"}}),
            &l
        ));
        assert!(selector_matches(&json!({}), &l));
        let e =
            json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "x"]}]});
        assert!(selector_matches(&e, &l));
        let e = json!({"matchExpressions": [{"key": "tier", "operator": "Exists"}]});
        assert!(!selector_matches(&e, &l));
    }

    #[test]
    fn drain_skips_daemonset_and_mirror_pods_only() {
        let ds = json!({"metadata": {"ownerReferences": [{"kind": "DaemonSet", "name": "x"}]}});
        let mirror = json!({"metadata": {"annotations": {MIRROR_ANNOTATION: "abc"}}});
        let rs = json!({"metadata": {"ownerReferences": [{"kind": "ReplicaSet", "name": "x"}]}});
        assert_eq!(pod_skipped_by_drain(&ds), Some("DaemonSet pod"));
        assert_eq!(pod_skipped_by_drain(&mirror), Some("mirror pod"));
        assert_eq!(pod_skipped_by_drain(&rs), None);
    }
}
