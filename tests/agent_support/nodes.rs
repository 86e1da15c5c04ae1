//! Node objects in the k3s STAND-IN's API (not Kubernetes), as strict as the API server for
//! what the health gate and the upgrade watcher use: `GET /api/v1/nodes/NAME` answers the
//! stored Node or 404 with a NotFound Status; `PATCH` takes only a JSON merge patch
//! (`Content-Type: application/merge-patch+json`, else 415), applies it as RFC 7386 says,
//! refuses annotation values that are not strings (400, as ObjectMeta decoding does) and
//! records it; `GET /readyz` answers what the test set. Only once a test registers a node is
//! the API strict about names: until then the stand-in answers any node as `Opts::node_ready`.

use std::collections::BTreeMap;

use serde_json::{json, Value};

#[derive(Debug)]
pub struct Nodes {
    pub objects: BTreeMap<String, Value>,
    /// (node, merge patch) of every accepted PATCH, in arrival order.
    pub patches: Vec<(String, Value)>,
    /// The answer to `GET /readyz`.
    pub readyz: (u16, String),
}

impl Default for Nodes {
    fn default() -> Nodes {
        Nodes {
            objects: BTreeMap::new(),
            patches: Vec::new(),
            readyz: (200, "ok".into()),
        }
    }
}

fn status(code: u16, reason: &str, message: String) -> (u16, String) {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code,
    });
    (code, body.to_string())
}

/// RFC 7386: objects merge key by key, `null` deletes, anything else replaces.
pub fn merge(target: &mut Value, patch: &Value) {
    let Some(p) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
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

impl Nodes {
    /// Registers a Node whose Ready condition is `ready` ("True", "False", "Unknown").
    pub fn add(&mut self, name: &str, ready: &str, boot_id: &str) {
        let node = json!({
            "kind": "Node", "apiVersion": "v1",
            "metadata": {"name": name, "annotations": {}},
            "spec": {},
            "status": {
                "conditions": [
                    {"type": "MemoryPressure", "status": "False"},
                    {"type": "Ready", "status": ready, "reason": "KubeletReady"},
                ],
                "nodeInfo": {"bootID": boot_id},
            },
        });
        self.objects.insert(name.into(), node);
    }

    pub fn set_ready(&mut self, name: &str, ready: &str) {
        let n = self.objects.get_mut(name).expect("registered node");
        for c in n["status"]["conditions"].as_array_mut().unwrap() {
            if c["type"] == "Ready" {
                c["status"] = ready.into();
            }
        }
    }

    pub fn annotate(&mut self, name: &str, key: &str, value: &str) {
        let n = self.objects.get_mut(name).expect("registered node");
        n["metadata"]["annotations"][key] = value.into();
    }

    pub fn annotation(&self, name: &str, key: &str) -> Option<String> {
        self.objects[name]["metadata"]["annotations"][key]
            .as_str()
            .map(str::to_string)
    }

    /// Answers `/readyz` and `/api/v1/nodes/...` once a node is registered; `None` otherwise.
    pub fn handle(
        &mut self,
        method: &str,
        path: &str,
        head: &str,
        body: &[u8],
    ) -> Option<(u16, String)> {
        if path == "/readyz" && method == "GET" && !self.objects.is_empty() {
            return Some(self.readyz.clone());
        }
        let name = path.strip_prefix("/api/v1/nodes/")?;
        if self.objects.is_empty() {
            return None;
        }
        let name = name.split('?').next().unwrap_or(name).to_string();
        let Some(node) = self.objects.get_mut(&name) else {
            return Some(status(
                404,
                "NotFound",
                format!("nodes \"{name}\" not found"),
            ));
        };
        Some(match method {
            "GET" => (200, node.to_string()),
            "PATCH" => {
                let ctype = head.lines().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-type")
                        .then(|| v.trim().to_string())
                });
                if ctype.as_deref() != Some("application/merge-patch+json") {
                    return Some(status(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {ctype:?})")));
                }
                let Ok(patch) = serde_json::from_slice::<Value>(body) else {
                    return Some(status(400, "BadRequest", "the patch is not JSON".into()));
                };
                if let Some(a) = patch
                    .pointer("/metadata/annotations")
                    .and_then(Value::as_object)
                {
                    if a.values().any(|v| !(v.is_string() || v.is_null())) {
                        return Some(status(400, "BadRequest", "json: cannot unmarshal into Go struct field ObjectMeta.metadata.annotations of type string".into()));
                    }
                }
                merge(node, &patch);
                self.patches.push((name, patch));
                (200, node.to_string())
            }
            _ => status(405, "MethodNotAllowed", format!("{method} {path}")),
        })
    }
}
