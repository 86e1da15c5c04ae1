//! The Kubernetes API part of the k3s STAND-IN: namespaces and Secrets, as strict as the real
//! API server for what the agent uses. POST answers 201 with the object, 409 `AlreadyExists`
//! with a Status body for an existing name, 404 `NotFound` for a namespace that was not created
//! (only Kubernetes' own namespaces exist at start); `stringData` is folded into base64 `data`
//! as the API does, and GET returns what was stored. It is not Kubernetes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use base64::Engine;
use serde_json::{json, Value};

/// What the stand-in API holds, and what it saw.
#[derive(Debug)]
pub struct Api {
    pub namespaces: BTreeSet<String>,
    /// (namespace, name) → the stored Secret.
    pub secrets: BTreeMap<(String, String), Value>,
    /// `METHOD path -> status`, in arrival order.
    pub log: Vec<String>,
    /// Files whose existence is recorded at the moment a Secret is created.
    pub watch: Vec<PathBuf>,
    /// For each created Secret: (name, which watched files existed then).
    pub seen_at_create: Vec<(String, Vec<bool>)>,
}

impl Default for Api {
    fn default() -> Api {
        Api {
            namespaces: ["default", "kube-system", "kube-public", "kube-node-lease"]
                .map(String::from)
                .into(),
            secrets: BTreeMap::new(),
            log: Vec::new(),
            watch: Vec::new(),
            seen_at_create: Vec::new(),
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

fn name_of(obj: &Value) -> Option<String> {
    obj.pointer("/metadata/name")
        .and_then(Value::as_str)
        .map(str::to_string)
}

impl Api {
    /// Stores a Secret directly, as if someone had created it earlier.
    pub fn insert_secret(&mut self, ns: &str, secret: Value) {
        self.namespaces.insert(ns.into());
        let name = name_of(&secret).expect("secret has a name");
        self.secrets.insert((ns.into(), name), secret);
    }

    /// Answers a request under `/api/v1/namespaces`, or `None` for other paths.
    pub fn handle(&mut self, method: &str, path: &str, body: &[u8]) -> Option<(u16, String)> {
        let rest = path.strip_prefix("/api/v1/namespaces")?;
        let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
        let obj = || serde_json::from_slice::<Value>(body);
        let out = match (method, parts.as_slice()) {
            ("POST", []) => match obj() {
                Ok(o) if o["kind"] == "Namespace" && name_of(&o).is_some() => {
                    let name = name_of(&o).unwrap();
                    if self.namespaces.insert(name.clone()) {
                        (201, o.to_string())
                    } else {
                        status(
                            409,
                            "AlreadyExists",
                            format!("namespaces \"{name}\" already exists"),
                        )
                    }
                }
                _ => status(400, "BadRequest", "not a Namespace".into()),
            },
            ("POST", [ns, "secrets"]) => self.create_secret(ns, obj().ok()),
            ("GET", [ns, "secrets", name]) => {
                match self.secrets.get(&(ns.to_string(), name.to_string())) {
                    Some(s) => (200, s.to_string()),
                    None => status(404, "NotFound", format!("secrets \"{name}\" not found")),
                }
            }
            _ => status(405, "MethodNotAllowed", format!("{method} {path}")),
        };
        self.log.push(format!("{method} {path} -> {}", out.0));
        Some(out)
    }

    fn create_secret(&mut self, ns: &str, obj: Option<Value>) -> (u16, String) {
        if !self.namespaces.contains(ns) {
            return status(404, "NotFound", format!("namespaces \"{ns}\" not found"));
        }
        let Some(mut o) = obj.filter(|o| o["kind"] == "Secret") else {
            return status(400, "BadRequest", "not a Secret".into());
        };
        let Some(name) = name_of(&o) else {
            return status(422, "Invalid", "metadata.name: Required value".into());
        };
        if let Some(other) = o.pointer("/metadata/namespace").and_then(Value::as_str) {
            if other != ns {
                return status(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request".into());
            }
        }
        let mut data = o["data"].as_object().cloned().unwrap_or_default();
        for v in data.values() {
            let ok = v
                .as_str()
                .is_some_and(|s| base64::engine::general_purpose::STANDARD.decode(s).is_ok());
            if !ok {
                return status(400, "BadRequest", "data values must be base64".into());
            }
        }
        if let Some(sd) = o.get("stringData").and_then(Value::as_object) {
            for (k, v) in sd {
                let enc =
                    base64::engine::general_purpose::STANDARD.encode(v.as_str().unwrap_or(""));
                data.insert(k.clone(), Value::String(enc));
            }
        }
        let key = (ns.to_string(), name.clone());
        if self.secrets.contains_key(&key) {
            return status(
                409,
                "AlreadyExists",
                format!("secrets \"{name}\" already exists"),
            );
        }
        let obj = o.as_object_mut().unwrap();
        obj.remove("stringData");
        obj.insert("data".into(), Value::Object(data));
        o["metadata"]["namespace"] = Value::String(ns.into());
        let seen = self.watch.iter().map(|p| p.exists()).collect();
        self.seen_at_create.push((name, seen));
        self.secrets.insert(key, o.clone());
        (201, o.to_string())
    }
}
