//! The STAND-IN's routes: node GET/list/merge-PATCH, pods on a node, one pod, evictions, PDBs.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::tls::Req;
use super::{Logged, Node, Pod, State};

/// How long an evicted pod terminates before it is gone.
pub const GRACE: Duration = Duration::from_millis(200);

fn status(code: u16, reason: &str, message: &str) -> (u16, String) {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                      "message": message, "reason": reason, "code": code});
    (code, body.to_string())
}

pub fn node_json(n: &Node) -> Value {
    let mut labels = serde_json::Map::new();
    if n.server {
        labels.insert(
            "node-role.kubernetes.io/control-plane".into(),
            "true".into(),
        );
        labels.insert("node-role.kubernetes.io/etcd".into(), "true".into());
    }
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": n.name, "labels": labels, "annotations": n.annotations},
        "spec": {"unschedulable": n.unschedulable},
        "status": {
            "conditions": [{"type": "Ready", "status": if n.ready { "True" } else { "False" }}],
            "nodeInfo": {"bootID": n.boot_id},
        },
    })
}

fn pod_json(p: &Pod) -> Value {
    let mut meta = json!({"name": p.name, "namespace": p.ns, "uid": p.uid, "labels": p.labels});
    if let Some(kind) = p.owner {
        meta["ownerReferences"] = json!([{"kind": kind, "name": "owner"}]);
    }
    if p.mirror {
        meta["annotations"] = json!({"kubernetes.io/config.mirror": "x"});
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta,
           "spec": {"nodeName": p.node}, "status": {"phase": "Running"}})
}

/// Live pods a PDB selects, minus its minAvailable.
pub fn allowed(st: &State, pdb: &super::Pdb) -> i64 {
    let live = st
        .pods
        .iter()
        .filter(|p| p.ns == pdb.ns && p.gone_at.is_none())
        .filter(|p| pdb.selector.iter().all(|(k, v)| p.labels.get(k) == Some(v)))
        .count() as i64;
    (live - pdb.min_available).max(0)
}

/// RFC 7386.
fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().unwrap();
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

pub fn handle(state: &Mutex<State>, started: Instant, req: Req) -> (u16, String) {
    let mut st = state.lock().unwrap();
    let (code, body) = route(&mut st, &req);
    let t = started.elapsed().as_secs_f64();
    st.log.push(Logged {
        t,
        method: req.method.clone(),
        path: req.target.clone(),
        body: String::from_utf8_lossy(&req.body).to_string(),
        status: code,
    });
    (code, body)
}

fn route(st: &mut State, req: &Req) -> (u16, String) {
    let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (req.method.as_str(), seg.as_slice()) {
        ("GET", ["api", "v1", "nodes"]) => {
            let items: Vec<Value> = st.nodes.values().map(node_json).collect();
            (200, json!({"kind": "NodeList", "items": items}).to_string())
        }
        ("GET", ["api", "v1", "nodes", name]) => match st.nodes.get(*name) {
            Some(n) => (200, node_json(n).to_string()),
            None => status(404, "NotFound", &format!("nodes \"{name}\" not found")),
        },
        ("PATCH", ["api", "v1", "nodes", name]) => {
            if req.content_type != "application/merge-patch+json" {
                return status(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown format",
                );
            }
            let Ok(patch) = serde_json::from_slice::<Value>(&req.body) else {
                return status(400, "BadRequest", "body is not JSON");
            };
            let Some(n) = st.nodes.get(*name) else {
                return status(404, "NotFound", &format!("nodes \"{name}\" not found"));
            };
            let mut obj = node_json(n);
            merge(&mut obj, &patch);
            let was = n.unschedulable;
            let n = st.nodes.get_mut(*name).unwrap();
            n.unschedulable = obj
                .pointer("/spec/unschedulable")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            n.annotations = obj
                .pointer("/metadata/annotations")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let out = node_json(n).to_string();
            if !was && n.unschedulable && st.on_cordon.as_ref().is_some_and(|(w, _)| w == name) {
                let (_, f) = st.on_cordon.take().unwrap();
                f();
            }
            (200, out)
        }
        ("GET", ["api", "v1", "pods"]) => {
            let q = query.replace("%3D", "=").replace("%3d", "=");
            let on = q.strip_prefix("fieldSelector=spec.nodeName=");
            let items: Vec<Value> = st
                .pods
                .iter()
                .filter(|p| on.is_none_or(|n| p.node == n))
                .map(pod_json)
                .collect();
            (200, json!({"kind": "PodList", "items": items}).to_string())
        }
        ("GET", ["api", "v1", "namespaces", ns, "pods", name]) => {
            match st.pods.iter().find(|p| p.ns == *ns && p.name == *name) {
                Some(p) => (200, pod_json(p).to_string()),
                None => status(404, "NotFound", &format!("pods \"{name}\" not found")),
            }
        }
        ("POST", ["api", "v1", "namespaces", ns, "pods", name, "eviction"]) => {
            let Some(i) = st.pods.iter().position(|p| p.ns == *ns && p.name == *name) else {
                return status(404, "NotFound", &format!("pods \"{name}\" not found"));
            };
            let pod = st.pods[i].clone();
            if pod.owner == Some("DaemonSet") || pod.mirror {
                st.bad_evictions.push(format!("{ns}/{name}"));
            }
            let blocked = st.pdbs.iter().any(|b| {
                b.ns == pod.ns
                    && b.selector.iter().all(|(k, v)| pod.labels.get(k) == Some(v))
                    && allowed(st, b) == 0
            });
            if blocked {
                return status(
                    429,
                    "TooManyRequests",
                    "Cannot evict pod as it would violate the pod's disruption budget.",
                );
            }
            if pod.gone_at.is_none() {
                st.pods[i].gone_at = Some(Instant::now() + GRACE);
            }
            (
                201,
                json!({"kind": "Status", "status": "Success", "code": 201}).to_string(),
            )
        }
        ("GET", ["apis", "policy", "v1", "poddisruptionbudgets"]) => {
            let items: Vec<Value> = st
                .pdbs
                .iter()
                .map(|b| {
                    json!({"metadata": {"name": b.name, "namespace": b.ns},
                           "spec": {"minAvailable": b.min_available, "selector": {"matchLabels": b.selector}},
                           "status": {"disruptionsAllowed": allowed(st, b)}})
                })
                .collect();
            (
                200,
                json!({"kind": "PodDisruptionBudgetList", "items": items}).to_string(),
            )
        }
        _ => status(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ),
    }
}
