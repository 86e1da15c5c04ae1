//! Kernel command line: `kateskit.*` keys become a config layer (docs/cmdline.md).
//!
//! Arguments are split as Linux splits them (`argsplit`), then on the first `=`; a bare key means
//! `true`; keys are dotted paths, `[...]` quotes a map key (`node.labels[a.b/c]=x`);
//! repeating a key, or a `[]` suffix, builds a list.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::agent::ladder::merge::{self, Layer};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CmdlineError {
    #[error("kernel command line ({src}): the double quote at byte {at} of {key} is never closed, so Linux reads the rest of the line as its value: close the quote or remove it")]
    Quote { src: String, at: usize, key: String },
    #[error("kernel command line ({src}): the double quote at byte {at} of argument `{arg}` is never closed, so Linux reads the rest of the line as its value, including {keys}: close that quote or move the kateskit arguments before it")]
    Swallowed {
        src: String,
        at: usize,
        arg: String,
        keys: String,
    },
    #[error("kernel command line ({src}): {key} comes after `--`, where Linux passes arguments to init instead of reading them as kernel parameters: move it before `--`")]
    AfterInit { src: String, key: String },
    #[error("kernel argument {arg} ({src}): {reason}")]
    Key {
        arg: String,
        src: String,
        reason: String,
    },
}

/// Short forms for the most used keys.
pub const ALIASES: [(&str, &str); 10] = [
    ("role", "node.role"),
    ("name", "node.name"),
    ("hostname", "host.hostname"),
    ("token", "secrets.token"),
    ("server", "k3s.server_url"),
    ("ssh_key", "host.ssh_authorized_keys[]"),
    ("config_url", "agent.config_url"),
    ("config_sha256", "agent.config_sha256"),
    ("config_tls_sha256", "agent.config_tls_sha256"),
    ("phone_home", "agent.phone_home"),
];

pub use crate::agent::ladder::argsplit::checked as split;

/// Splits a dotted key into segments, honouring `[...]`; a trailing `[]` marks a list.
fn segments(key: &str) -> Result<(Vec<String>, bool), String> {
    let (key, list) = match key.strip_suffix("[]") {
        Some(k) => (k, true),
        None => (key, false),
    };
    let mut segs = Vec::new();
    let mut cur = String::new();
    let mut chars = key.chars();
    while let Some(c) = chars.next() {
        match c {
            '.' => segs.push(std::mem::take(&mut cur)),
            '[' => {
                if !cur.is_empty() {
                    segs.push(std::mem::take(&mut cur));
                }
                let inner: String = chars.by_ref().take_while(|&c| c != ']').collect();
                if inner.is_empty() {
                    return Err("empty `[]` inside the key".into());
                }
                segs.push(inner);
                match chars.clone().next() {
                    Some('.') => {
                        chars.next();
                    }
                    None => {}
                    Some(c) => return Err(format!("unexpected `{c}` after `]`")),
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() || segs.is_empty() {
        segs.push(cur);
    }
    if segs.iter().any(|s| s.is_empty()) {
        return Err("empty path segment (two dots in a row, or a trailing dot)".into());
    }
    Ok((segs, list))
}

/// One key's path segments, list marker, original arguments and values.
type Group = (Vec<String>, bool, Vec<String>, Vec<Value>);

/// The `kateskit.*` arguments as a config layer; other arguments are ignored.
pub fn layer(args: &[(String, Option<String>)], src: &str) -> Result<Layer, CmdlineError> {
    // Group repeated keys, keeping first-seen order.
    let mut groups: Vec<Group> = Vec::new();
    for (k, v) in args {
        let Some(rest) = k.strip_prefix("kateskit.") else {
            continue;
        };
        // `kateskit.install.*` belongs to the live installer (docs/install.md), not to the node.
        if rest.starts_with("install.") {
            continue;
        }
        let rest = ALIASES
            .iter()
            .find(|(a, _)| *a == rest)
            .map(|(_, full)| *full)
            .unwrap_or(rest);
        // Secret values never appear in messages, the status or the console.
        let arg = match v {
            Some(v) => crate::redact::karg(&format!("{k}={v}")),
            None => k.clone(),
        };
        let (segs, list) = segments(rest).map_err(|reason| CmdlineError::Key {
            arg: arg.clone(),
            src: src.into(),
            reason,
        })?;
        let value = match v {
            None => Value::Bool(true),
            Some(v) => Value::String(v.clone()),
        };
        match groups.iter_mut().find(|g| g.0 == segs) {
            Some(g) => {
                g.2.push(arg);
                g.3.push(value);
            }
            None => groups.push((segs, list, vec![arg], vec![value])),
        }
    }
    let mut root = Value::Object(Map::new());
    let mut origin = BTreeMap::new();
    for (segs, list, argv, mut values) in groups {
        let value = if list || values.len() > 1 {
            Value::Array(values)
        } else {
            values.remove(0)
        };
        let mut path = String::new();
        let mut cur = &mut root;
        for (i, s) in segs.iter().enumerate() {
            path = merge::join(&path, s);
            let obj = match cur {
                Value::Object(m) => m,
                _ => {
                    let reason = format!("`{}` is both a value and a parent of other keys", path);
                    return Err(CmdlineError::Key {
                        arg: argv[0].clone(),
                        src: src.into(),
                        reason,
                    });
                }
            };
            if i + 1 == segs.len() {
                if obj.contains_key(s) {
                    let reason = format!("`{path}` is also set as a parent of other keys");
                    return Err(CmdlineError::Key {
                        arg: argv[0].clone(),
                        src: src.into(),
                        reason,
                    });
                }
                obj.insert(s.clone(), value.clone());
                break;
            }
            cur = obj
                .entry(s.clone())
                .or_insert_with(|| Value::Object(Map::new()));
        }
        let word = if argv.len() > 1 {
            "kernel arguments"
        } else {
            "kernel argument"
        };
        origin.insert(path, format!("{word} {} (from {src})", argv.join(", ")));
    }
    Ok(Layer { tree: root, origin })
}

/// Gives command-line strings the type of the value they replace (`shape`): `true`/`false` for
/// booleans, numbers for numbers, a one-element list for lists.
pub fn coerce(v: &mut Value, shape: Option<&Value>) {
    match (v, shape) {
        (Value::Object(m), s) => {
            for (k, child) in m.iter_mut() {
                coerce(child, s.and_then(|s| s.get(k)));
            }
        }
        (v @ Value::String(_), Some(Value::Array(_))) => *v = Value::Array(vec![v.take()]),
        (v @ Value::String(_), Some(Value::Number(_))) => {
            if let Some(n) = v.as_str().and_then(|s| s.parse::<u64>().ok()) {
                *v = Value::from(n);
            }
        }
        (v @ Value::String(_), Some(Value::Bool(_)) | None) => match v.as_str() {
            Some("true") => *v = Value::Bool(true),
            Some("false") => *v = Value::Bool(false),
            _ => {}
        },
        (Value::Bool(true), Some(Value::String(_))) => {}
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(line: &str) -> Result<Layer, CmdlineError> {
        layer(&split(line, "test")?, "test")
    }

    #[test]
    fn installer_keys_are_not_node_config() {
        let l =
            parse("kateskit.install.device=auto kateskit.install.wipe=SER1 kateskit.role=agent")
                .unwrap();
        assert_eq!(l.tree, json!({ "node": { "role": "agent" } }));
    }

    #[test]
    fn quoting_dotted_keys_lists_and_bare_flags() {
        let l = parse(r#"console=ttyS0 kateskit.role=agent kateskit.ssh_key="ssh-ed25519 AAA a@b" kateskit.node.labels[topology.kubernetes.io/zone]=r1 kateskit.k3s.tls_sans=a kateskit.k3s.tls_sans=b kateskit.agent.debug"#).unwrap();
        assert_eq!(
            l.tree,
            json!({"node": {"role": "agent", "labels": {"topology.kubernetes.io/zone": "r1"}}, "host": {"ssh_authorized_keys": ["ssh-ed25519 AAA a@b"]}, "k3s": {"tls_sans": ["a", "b"]}, "agent": {"debug": true}})
        );
        assert_eq!(
            l.origin["node.role"],
            "kernel argument kateskit.role=agent (from test)"
        );
        assert_eq!(
            l.origin["k3s.tls_sans"],
            "kernel arguments kateskit.k3s.tls_sans=a, kateskit.k3s.tls_sans=b (from test)"
        );
        assert!(l
            .origin
            .contains_key("node.labels[topology.kubernetes.io/zone]"));
    }

    #[test]
    fn broken_quoting_and_bad_keys_are_errors() {
        assert_eq!(
            parse(r#"kateskit.hostname="abc"#).unwrap_err(),
            CmdlineError::Quote {
                src: "test".into(),
                at: 18,
                key: "kateskit.hostname".into()
            }
        );
        let e = parse(r#"quiet foo="a b kateskit.token=K10x::node:pw kateskit.role=agent"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("argument `foo`") && e.contains("kateskit.token, kateskit.role"),
            "{e}"
        );
        assert!(!e.contains("K10x") && !e.contains("pw"), "{e}");
        let e = parse("kateskit.role=agent -- kateskit.name=n1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("kateskit.name comes after `--`"), "{e}");
        assert!(parse("kateskit.node..role=x")
            .unwrap_err()
            .to_string()
            .contains("empty path segment"));
        let e = parse("kateskit.node=x kateskit.node.role=y")
            .unwrap_err()
            .to_string();
        assert!(e.contains("kateskit.node") && e.contains("both"), "{e}");
    }

    #[test]
    fn secret_values_are_not_echoed() {
        let l = parse("kateskit.token=K10abc::node:hunter2").unwrap();
        assert_eq!(l.tree["secrets"]["token"], "K10abc::node:hunter2");
        assert_eq!(
            l.origin["secrets.token"],
            "kernel argument kateskit.token=<redacted> (from test)"
        );
        for line in [
            "kateskit.secrets=hunter2",
            "kateskit.secrets[token]=hunter2",
        ] {
            let shown = format!("{:?}", parse(line).map(|l| l.origin));
            assert!(!shown.contains("hunter2"), "{shown}");
        }
    }

    #[test]
    fn coerce_follows_lower_layer_shape() {
        let mut v = json!({"a": "true", "b": "7", "c": "x", "d": "false"});
        coerce(&mut v, Some(&json!({"a": false, "b": 1, "c": ["y"]})));
        assert_eq!(v, json!({"a": true, "b": 7, "c": ["x"], "d": false}));
    }
}
