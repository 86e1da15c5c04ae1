//! PodDisruptionBudgets (status as the disruption controller computes it), the policy/v1
//! eviction subresource, and pod deletion.

use std::time::Instant;

use serde_json::{json, Value};

use super::routes::{status, Resp};
use super::scenario::Labels;
use super::world::{now_rfc3339, Pdb, Pod, World};
use super::Disruption;

/// A PDB's computed status.
pub(super) struct Budget {
    pub expected: i64,
    pub desired: i64,
    pub healthy: i64,
    pub allowed: i64,
}

/// Whether a LabelSelector selects `labels` (policy/v1: `{}` selects all, absent none).
pub(super) fn selects(sel: Option<&Value>, labels: &Labels) -> bool {
    let Some(Value::Object(sel)) = sel else {
        return false;
    };
    let eq = sel.get("matchLabels").and_then(Value::as_object);
    let eq_ok = eq
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str());
    let exprs = sel.get("matchExpressions").and_then(Value::as_array);
    let expr_ok = exprs.into_iter().flatten().all(|e| {
        let key = e["key"].as_str().unwrap_or("");
        let values: Vec<&str> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let have = labels.get(key).map(String::as_str);
        match e["operator"].as_str() {
            Some("In") => have.is_some_and(|h| values.contains(&h)),
            Some("NotIn") => !have.is_some_and(|h| values.contains(&h)),
            Some("Exists") => have.is_some(),
            Some("DoesNotExist") => have.is_none(),
            _ => false,
        }
    });
    eq_ok && expr_ok
}

/// An IntOrString against `total`, percentages rounded up (GetScaledValueFromIntOrPercent).
fn scaled(v: &Value, total: i64) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => {
            let pct: i64 = s.strip_suffix('%')?.parse().ok()?;
            Some((pct * total + 99) / 100)
        }
        _ => None,
    }
}

fn matching<'a>(w: &'a World, pdb: &'a Pdb) -> impl Iterator<Item = &'a Pod> {
    w.pods
        .values()
        .filter(move |p| p.ns == pdb.ns && selects(pdb.spec.get("selector"), &p.labels))
}

/// The disruption controller's arithmetic. An integer `minAvailable` counts matching pods;
/// `maxUnavailable` and a percentage `minAvailable` count the replicas of the pods'
/// ReplicaSets; a pod without a scalable controller there fails safe to 0 allowed.
pub(super) fn budget(w: &World, pdb: &Pdb, now: Instant) -> Budget {
    let pods: Vec<&Pod> = matching(w, pdb).collect();
    let healthy = pods.iter().filter(|p| w.pod_ready(p, now)).count() as i64;
    let min = pdb.spec.get("minAvailable");
    let by_pods = matches!(min, Some(Value::Number(_)));
    let (expected, scalable) = if by_pods {
        (pods.len() as i64, true)
    } else {
        let mut seen: Vec<&str> = Vec::new();
        let mut ok = true;
        for p in &pods {
            match &p.owner {
                Some(o) if o.kind == "ReplicaSet" => {
                    if !seen.contains(&o.uid.as_str()) {
                        seen.push(&o.uid);
                    }
                }
                _ => ok = false,
            }
        }
        let replicas = w
            .controllers
            .iter()
            .filter(|c| seen.contains(&c.uid.as_str()))
            .map(|c| i64::from(c.replicas))
            .sum();
        (replicas, ok)
    };
    let desired = match (min, pdb.spec.get("maxUnavailable")) {
        (Some(m), _) => scaled(m, expected).unwrap_or(expected),
        (None, Some(m)) => (expected - scaled(m, expected).unwrap_or(0)).max(0),
        (None, None) => expected,
    };
    let allowed = if scalable {
        (healthy - desired).max(0)
    } else {
        0
    };
    Budget {
        expected,
        desired,
        healthy,
        allowed,
    }
}

pub(super) fn pdb_json(w: &World, pdb: &Pdb, now: Instant) -> Value {
    let b = budget(w, pdb, now);
    let (st, reason) = if b.allowed > 0 {
        ("True", "SufficientPods")
    } else {
        ("False", "InsufficientPods")
    };
    json!({
        "kind": "PodDisruptionBudget", "apiVersion": "policy/v1",
        "metadata": {"name": pdb.name, "namespace": pdb.ns, "uid": pdb.uid,
            "resourceVersion": w.rv().to_string(), "generation": 1},
        "spec": pdb.spec,
        "status": {"observedGeneration": 1, "disruptionsAllowed": b.allowed,
            "currentHealthy": b.healthy, "desiredHealthy": b.desired, "expectedPods": b.expected,
            "conditions": [{"type": "DisruptionAllowed", "status": st, "reason": reason,
                "message": "", "observedGeneration": 1, "lastTransitionTime": now_rfc3339()}]},
    })
}

fn record(w: &mut World, verb: &'static str, ns: &str, name: &str, code: u16) {
    let Some(p) = w.pods.get(&(ns.to_string(), name.to_string())) else {
        return;
    };
    let d = Disruption {
        at: w.start.elapsed(),
        verb,
        namespace: ns.into(),
        pod: name.into(),
        node: p.node.clone(),
        owner: p.owner.as_ref().map(|o| o.kind.to_string()),
        mirror: p.annotations.contains_key(super::MIRROR),
        status: code,
    };
    w.disruptions.push(d);
}

/// Starts a graceful deletion (no-op for a pod already terminating).
fn terminate(w: &mut World, key: &(String, String), now: Instant) {
    let grace = w.timings.grace;
    let rv = w.bump();
    let p = w.pods.get_mut(key).unwrap();
    if p.deleting.is_none() {
        p.deleting = Some((now + grace, now_rfc3339()));
        p.rv = rv;
    }
}

/// POST /api/v1/namespaces/NS/pods/NAME/eviction.
pub(super) fn evict(w: &mut World, ns: &str, name: &str, body: &[u8]) -> Resp {
    let ev: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return status(400, "BadRequest", format!("error decoding Eviction: {e}")),
    };
    let api = ev["apiVersion"].as_str().unwrap_or("");
    if ev["kind"] != "Eviction" || !matches!(api, "policy/v1" | "policy/v1beta1") {
        return status(
            400,
            "BadRequest",
            format!("expected policy/v1 Eviction, got {api} {}", ev["kind"]),
        );
    }
    if ev.pointer("/metadata/name").and_then(Value::as_str) != Some(name) {
        return status(
            400,
            "BadRequest",
            "name in URL does not match name in Eviction object".into(),
        );
    }
    let key = (ns.to_string(), name.to_string());
    let now = Instant::now();
    let Some(pod) = w.pods.get(&key).cloned() else {
        return status(404, "NotFound", format!("pods \"{name}\" not found"));
    };
    let ok = (
        201,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    );
    if pod.deleting.is_some() || pod.node.is_empty() || pod.ready_at.is_none() {
        record(w, "evict", ns, name, 201);
        terminate(w, &key, now);
        return ok;
    }
    let pdbs: Vec<usize> = (0..w.pdbs.len())
        .filter(|&i| w.pdbs[i].ns == ns && selects(w.pdbs[i].spec.get("selector"), &pod.labels))
        .collect();
    if pdbs.len() > 1 {
        record(w, "evict", ns, name, 500);
        return status(500, "InternalError", "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.".into());
    }
    if let Some(&i) = pdbs.first() {
        let b = budget(w, &w.pdbs[i], now);
        let unhealthy_ok = !w.pod_ready(&pod, now) && b.healthy >= b.desired;
        if b.allowed <= 0 && !unhealthy_ok {
            record(w, "evict", ns, name, 429);
            let pdb = &w.pdbs[i].name;
            let mut r = status(
                429,
                "TooManyRequests",
                "Cannot evict pod as it would violate the pod's disruption budget.".into(),
            );
            r.1["details"] = json!({"causes": [{"reason": "DisruptionBudget", "message":
                format!("The disruption budget {pdb} needs {} healthy pods and has {} currently", b.desired, b.healthy)}]});
            return r;
        }
    }
    record(w, "evict", ns, name, 201);
    terminate(w, &key, now);
    ok
}

/// DELETE /api/v1/namespaces/NS/pods/NAME: 200 with the terminating pod.
pub(super) fn delete_pod(w: &mut World, ns: &str, name: &str) -> Resp {
    let key = (ns.to_string(), name.to_string());
    if !w.pods.contains_key(&key) {
        return status(404, "NotFound", format!("pods \"{name}\" not found"));
    }
    record(w, "delete", ns, name, 200);
    let now = Instant::now();
    terminate(w, &key, now);
    (200, w.pod_json(&w.pods[&key], now))
}
