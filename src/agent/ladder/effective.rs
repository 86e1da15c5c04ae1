//! The effective config: the merged tree deserialized into a NodeConfig plus the agent's own
//! settings, with errors that name the source of the offending value.

use serde_json::Value;

use crate::agent::ladder::merge::Merged;
use crate::nodecfg::NodeConfig;

pub use crate::agent::ladder::settings::{AgentSettings, WriteFile};

/// The config the phases act on.
#[derive(Debug, Clone)]
pub struct Effective {
    pub node: NodeConfig,
    pub agent: AgentSettings,
    pub merged: Merged,
}

/// The agent defaults as a JSON tree: gives command-line values their types.
pub fn agent_shape() -> Value {
    serde_json::json!({ "agent": AgentSettings::default() })
}

/// Prefixes an error about `path` with the source that set it.
pub fn attribute(merged: &Merged, path: &str, msg: &str) -> String {
    match merged.source_of(path) {
        Some(src) => format!("{src}: {path}: {msg}"),
        None if path.is_empty() || path == "." => format!("{msg} (no config source sets it)"),
        None => format!("{path}: {msg} (no config source sets it)"),
    }
}

fn de<T: serde::de::DeserializeOwned>(
    merged: &Merged,
    v: Value,
    prefix: &str,
) -> Result<T, String> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let inner = e.path().to_string();
        let mut path = match (prefix, inner.as_str()) {
            (p, ".") => p.to_string(),
            ("", i) => i.to_string(),
            (p, i) => format!("{p}.{i}"),
        };
        let mut msg = e.inner().to_string();
        if crate::redact::is_secret_path(&path) {
            msg = without_value(&msg);
        }
        // "unknown field `x`": point at the offending key itself.
        if let Some(field) = msg
            .strip_prefix("unknown field `")
            .and_then(|r| r.split('`').next())
        {
            if !path.ends_with(field) {
                path = if path.is_empty() {
                    field.to_string()
                } else {
                    format!("{path}.{field}")
                };
            }
        }
        attribute(merged, &path, &msg)
    })
}

/// serde's "invalid type: string \"K10...\", expected ..." with the quoted input left out.
fn without_value(msg: &str) -> String {
    for kind in ["invalid type: ", "invalid value: ", "invalid length "] {
        if let Some(rest) = msg.strip_prefix(kind) {
            let expected = rest.find(", expected").map_or("", |i| &rest[i..]);
            return format!("{kind}(value not shown){expected}");
        }
    }
    msg.to_string()
}

/// Every string under `secrets` in a config tree but the public fields: the values no
/// message may carry.
pub fn secret_values(tree: &Value) -> Vec<String> {
    let mut out = Vec::new();
    match tree.get(crate::redact::SECRETS_KEY) {
        Some(Value::Object(m)) => {
            for (k, v) in m {
                if !crate::nodecfg::NodeSecrets::PUBLIC.contains(&k.as_str()) {
                    collect_strings(v, &mut out);
                }
            }
        }
        Some(v) => collect_strings(v, &mut out),
        None => {}
    }
    out
}

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

/// Deserializes the merged tree; the error names the source of the bad value and never
/// carries a secret, nor a URL's userinfo or query.
pub fn resolve(merged: Merged) -> Result<Effective, String> {
    let secrets = secret_values(&merged.tree);
    resolve_inner(merged).map_err(|e| {
        let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        crate::redact::values(&crate::redact::text(&e), &refs)
    })
}

fn resolve_inner(merged: Merged) -> Result<Effective, String> {
    let mut tree = merged.tree.clone();
    let agent_tree = tree
        .as_object_mut()
        .and_then(|m| m.remove("agent"))
        .unwrap_or(Value::Object(Default::default()));
    let agent: AgentSettings = de(&merged, agent_tree, "agent")?;
    let node: NodeConfig = de(&merged, tree, "")?;
    if node.api_version != crate::nodecfg::API_VERSION || node.kind != crate::nodecfg::KIND {
        let msg = format!(
            "expected apiVersion {} kind {}",
            crate::nodecfg::API_VERSION,
            crate::nodecfg::KIND
        );
        return Err(attribute(&merged, "apiVersion", &msg));
    }
    Ok(Effective {
        node,
        agent,
        merged,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::ladder::merge::Layer;
    use serde_json::json;

    #[test]
    fn error_names_the_source_of_the_bad_value() {
        let mut m = Merged::new();
        m.push(&Layer::uniform(
            json!({"agent": {"http_timeout_s": 3}}),
            "image defaults",
        ));
        m.push(&Layer::uniform(
            json!({"agent": {"verify_join": "maybe"}}),
            "kernel argument kateskit.agent.verify_join=maybe",
        ));
        let e = resolve(m).unwrap_err();
        assert!(
            e.starts_with(
                "kernel argument kateskit.agent.verify_join=maybe: agent.verify_join: invalid type"
            ),
            "{e}"
        );
    }

    #[test]
    fn errors_under_secrets_carry_no_value() {
        for (tree, src) in [
            (
                json!({"secrets": "K10abc::server:LEAKMARKER"}),
                "kernel argument kateskit.secrets=<redacted>",
            ),
            (json!({"secrets": {"token": 12345678}}), "config drive"),
            (
                json!({"secrets": {"token": ["K10abc::server:LEAKMARKER"]}}),
                "config drive",
            ),
            (
                json!({"secrets": {"ca_files": "LEAKMARKER"}}),
                "config drive",
            ),
        ] {
            let mut m = Merged::new();
            m.push(&Layer::uniform(tree, src));
            let e = resolve(m).unwrap_err();
            assert!(!e.contains("LEAKMARKER") && !e.contains("12345678"), "{e}");
            assert!(e.contains("secrets"), "{e}");
        }
    }

    #[test]
    fn unknown_keys_point_at_the_key() {
        let mut m = Merged::new();
        m.push(&Layer::uniform(
            json!({"agent": {"phone_hom": "x"}}),
            "config drive /x/kateskit.json",
        ));
        let e = resolve(m).unwrap_err();
        assert!(
            e.starts_with(
                "config drive /x/kateskit.json: agent.phone_hom: unknown field `phone_hom`"
            ),
            "{e}"
        );
    }
}
