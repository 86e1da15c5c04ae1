//! Paths, verbs and selectors: which handler answers a request, with the API's Status bodies.

use std::time::Instant;

use serde_json::{json, Value};

use super::eviction::{delete_pod, evict, pdb_json};
use super::patch::patch_node;
use super::world::World;

/// Status code and body (a JSON string value is sent as text/plain).
pub(super) type Resp = (u16, Value);

/// A `Status` failure body, as the API sends with every error.
pub(super) fn status(code: u16, reason: &str, message: String) -> Resp {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code});
    (code, body)
}

fn decode(s: &str) -> String {
    let s = s.replace('+', " ");
    percent_encoding::percent_decode_str(&s)
        .decode_utf8_lossy()
        .into_owned()
}

/// One `key=value` term of a field or label selector.
struct Term {
    key: String,
    op: &'static str,
    value: String,
}

fn terms(sel: &str) -> Vec<Term> {
    sel.split(',')
        .filter(|t| !t.trim().is_empty())
        .map(|t| {
            let t = t.trim();
            for op in ["!=", "==", "="] {
                if let Some((k, v)) = t.split_once(op) {
                    let op = if op == "!=" { "!=" } else { "=" };
                    return Term {
                        key: k.trim().into(),
                        op,
                        value: v.trim().into(),
                    };
                }
            }
            match t.strip_prefix('!') {
                Some(k) => Term {
                    key: k.into(),
                    op: "!",
                    value: String::new(),
                },
                None => Term {
                    key: t.into(),
                    op: "exists",
                    value: String::new(),
                },
            }
        })
        .collect()
}

fn term_ok(t: &Term, have: Option<&str>) -> bool {
    match t.op {
        "=" => have == Some(t.value.as_str()),
        "!=" => have != Some(t.value.as_str()),
        "exists" => have.is_some(),
        _ => have.is_none(),
    }
}

/// Filters list `items` by the query's fieldSelector (over `fields`) and labelSelector.
fn select(
    items: Vec<Value>,
    query: &[(String, String)],
    fields: &[&str],
) -> Result<Vec<Value>, Resp> {
    let get = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.as_str());
    let field_terms = terms(get("fieldSelector").unwrap_or(""));
    for t in &field_terms {
        if !fields.contains(&t.key.as_str()) || !matches!(t.op, "=" | "!=") {
            return Err(status(
                400,
                "BadRequest",
                format!(
                    "unable to parse requirement: field label not supported: {}",
                    t.key
                ),
            ));
        }
    }
    let label_terms = terms(get("labelSelector").unwrap_or(""));
    if label_terms
        .iter()
        .any(|t| t.key.contains(' ') || t.key.contains('('))
    {
        return Err(status(
            400,
            "BadRequest",
            "stand-in API: set-based label selectors are not modelled".into(),
        ));
    }
    Ok(items
        .into_iter()
        .filter(|o| {
            let field = |k: &str| {
                let p = format!("/{}", k.replace('.', "/"));
                o.pointer(&p).map(|v| {
                    v.as_str()
                        .map(String::from)
                        .unwrap_or_else(|| v.to_string())
                })
            };
            let fields_ok = field_terms.iter().all(|t| {
                let have = field(&t.key)
                    .or_else(|| (t.key == "spec.unschedulable").then(|| "false".into()));
                let have = have.or_else(|| (t.key == "spec.nodeName").then(String::new));
                term_ok(t, have.as_deref())
            });
            let labels_ok = label_terms.iter().all(|t| {
                term_ok(
                    t,
                    o.pointer("/metadata/labels")
                        .and_then(|l| l.get(&t.key))
                        .and_then(Value::as_str),
                )
            });
            fields_ok && labels_ok
        })
        .collect())
}

fn list(w: &World, kind: &str, api: &str, items: Vec<Value>) -> Resp {
    let items: Vec<Value> = items
        .into_iter()
        .map(|mut o| {
            let m = o.as_object_mut().unwrap();
            m.remove("kind");
            m.remove("apiVersion");
            o
        })
        .collect();
    (
        200,
        json!({"kind": kind, "apiVersion": api, "metadata": {"resourceVersion": w.rv().to_string()}, "items": items}),
    )
}

fn not_found() -> Resp {
    status(
        404,
        "NotFound",
        "the server could not find the requested resource".into(),
    )
}

fn not_allowed(method: &str) -> Resp {
    status(
        405,
        "MethodNotAllowed",
        format!("the server does not allow this method on the requested resource ({method})"),
    )
}

const POD_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "status.phase",
];

/// Answers one authenticated request.
pub(super) fn dispatch(
    w: &mut World,
    method: &str,
    target: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Resp {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query: Vec<(String, String)> = query
        .split('&')
        .filter(|q| !q.is_empty())
        .map(|q| {
            let (k, v) = q.split_once('=').unwrap_or((q, ""));
            (decode(k), decode(v))
        })
        .collect();
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let now = Instant::now();
    let r = match parts.as_slice() {
        ["version"] => (
            200,
            json!({"major": "1", "minor": "31", "gitVersion": "v1.31.4+k3s1",
            "gitCommit": "a562d090b0bd5cd0e4d5ea44a1bd4d39e0ac2d4b", "gitTreeState": "clean",
            "buildDate": "2024-12-12T00:00:00Z", "goVersion": "go1.22.9", "compiler": "gc",
            "platform": "linux/amd64"}),
        ),
        ["readyz"] | ["livez"] | ["healthz"] => (200, json!("ok")),
        ["api", "v1", "nodes"] => {
            let items = w.nodes.values().map(|n| w.node_json(n)).collect();
            select(items, &query, &["metadata.name", "spec.unschedulable"])
                .map(|i| list(w, "NodeList", "v1", i))
                .unwrap_or_else(|e| e)
        }
        ["api", "v1", "nodes", name] => match method {
            "GET" => match w.nodes.get(*name) {
                Some(n) => (200, w.node_json(n)),
                None => status(404, "NotFound", format!("nodes \"{name}\" not found")),
            },
            "PATCH" => patch_node(w, name, content_type, body),
            m => not_allowed(m),
        },
        ["api", "v1", "pods"] | ["api", "v1", "namespaces", _, "pods"] => {
            let ns = parts.get(3).copied();
            let items = w
                .pods
                .values()
                .filter(|p| ns.is_none_or(|n| p.ns == n))
                .map(|p| w.pod_json(p, now))
                .collect();
            select(items, &query, POD_FIELDS)
                .map(|i| list(w, "PodList", "v1", i))
                .unwrap_or_else(|e| e)
        }
        ["api", "v1", "namespaces", ns, "pods", name] => match method {
            "GET" => match w.pods.get(&(ns.to_string(), name.to_string())) {
                Some(p) => (200, w.pod_json(p, now)),
                None => status(404, "NotFound", format!("pods \"{name}\" not found")),
            },
            "DELETE" => delete_pod(w, ns, name),
            m => not_allowed(m),
        },
        ["api", "v1", "namespaces", ns, "pods", name, "eviction"] => match method {
            "POST" => evict(w, ns, name, body),
            m => not_allowed(m),
        },
        ["apis", "policy", "v1", "poddisruptionbudgets"]
        | ["apis", "policy", "v1", "namespaces", _, "poddisruptionbudgets"] => {
            let ns = parts.get(4).copied();
            let items = w
                .pdbs
                .iter()
                .filter(|p| ns.is_none_or(|n| p.ns == n))
                .map(|p| pdb_json(w, p, now))
                .collect();
            select(items, &query, &["metadata.name", "metadata.namespace"])
                .map(|i| list(w, "PodDisruptionBudgetList", "policy/v1", i))
                .unwrap_or_else(|e| e)
        }
        ["apis", "policy", "v1", "namespaces", ns, "poddisruptionbudgets", name] => {
            match w.pdbs.iter().find(|p| p.ns == *ns && p.name == *name) {
                Some(p) => (200, pdb_json(w, p, now)),
                None => status(
                    404,
                    "NotFound",
                    format!("poddisruptionbudgets.policy \"{name}\" not found"),
                ),
            }
        }
        _ => not_found(),
    };
    let own_verbs = matches!(
        parts.as_slice(),
        ["api", "v1", "namespaces", _, "pods", _, "eviction"]
            | ["api", "v1", "nodes", _]
            | ["api", "v1", "namespaces", _, "pods", _]
    );
    if method != "GET" && r.0 != 405 && !own_verbs {
        return not_allowed(method);
    }
    r
}
