//! Per-value overrides from the agent's environment: `KATESKIT_VALUE_<path>` names a file
//! holding the one value at that path, in the flat-file format. The name is derived from the
//! keys, so it is unambiguous for keys with `_`, `.`, `-`, `/` or upper-case letters:
//!
//! - the keys are joined by `__`;
//! - in a key, `a`-`z` are written upper-case, `0`-`9` and a single inner `_` as is;
//! - every other byte (upper-case letters, `.`, `-`, `/`, `%`, non-ASCII, and a `_` at the
//!   start or end of a key or next to another `_`) is `x` and two lower-case hex digits.
//!
//! `agent/ready_timeout_s` is `KATESKIT_VALUE_AGENT__READY_TIMEOUT_S`,
//! `node/labels/topology.kubernetes.io%2Fzone` is
//! `KATESKIT_VALUE_NODE__LABELS__TOPOLOGYx2eKUBERNETESx2eIOx2fZONE`.

use std::ffi::OsString;

use serde_json::{Map, Value};

use super::input::{add_value, FILE_MAX};
use super::kind_at;
use super::FlatError;
use crate::agent::ladder::merge::Layer;
use crate::agent::AgentEnv;
use crate::fsutil;

pub const PREFIX: &str = "KATESKIT_VALUE_";

fn encode_key(key: &str) -> String {
    let b = key.as_bytes();
    let mut out = String::new();
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'a'..=b'z' => out.push(c.to_ascii_uppercase() as char),
            b'0'..=b'9' => out.push(c as char),
            b'_' if i > 0 && i + 1 < b.len() && b[i - 1] != b'_' && b[i + 1] != b'_' => {
                out.push('_')
            }
            c => out.push_str(&format!("x{c:02x}")),
        }
    }
    out
}

/// The variable that overrides the value at `keys`.
pub fn var_name(keys: &[String]) -> String {
    let body: Vec<String> = keys.iter().map(|k| encode_key(k)).collect();
    format!("{PREFIX}{}", body.join("__"))
}

fn decode_key(seg: &str) -> Option<String> {
    let mut bytes = Vec::new();
    let mut it = seg.bytes();
    while let Some(c) = it.next() {
        match c {
            b'A'..=b'Z' => bytes.push(c.to_ascii_lowercase()),
            b'0'..=b'9' | b'_' => bytes.push(c),
            b'x' => {
                let hex = [it.next()?, it.next()?];
                let hex = std::str::from_utf8(&hex).ok()?;
                if hex.bytes().any(|h| h.is_ascii_uppercase()) {
                    return None;
                }
                bytes.push(u8::from_str_radix(hex, 16).ok()?);
            }
            _ => return None,
        }
    }
    String::from_utf8(bytes).ok()
}

/// The keys a variable name stands for; the error says why it is not a valid name. Only the
/// canonical spelling is accepted, so one value has exactly one variable.
pub fn keys_of_var(name: &str) -> Result<Vec<String>, String> {
    let rule = "keys joined by __, a-z written A-Z, other characters as x and two lower-case \
                hex digits (docs/agent.md, \"Flat-file config\")";
    let body = name
        .strip_prefix(PREFIX)
        .filter(|b| !b.is_empty())
        .ok_or_else(|| format!("names no path after {PREFIX}; {rule}"))?;
    let keys = body
        .split("__")
        .map(decode_key)
        .collect::<Option<Vec<_>>>()
        .filter(|k| k.iter().all(|k| !k.is_empty()))
        .ok_or_else(|| format!("is not a valid name: {rule}"))?;
    let canonical = var_name(&keys);
    if canonical != name {
        return Err(format!(
            "is not the canonical name for `{}`: write {canonical}",
            super::flat_path(&keys)
        ));
    }
    Ok(keys)
}

/// The `KATESKIT_VALUE_*` variables among `vars` as one layer (each value's origin names the
/// variable and its file), files read under the root. A variable naming no known path, or a
/// file that is missing or does not hold a value of that path's type, is an error naming it.
pub fn overrides(
    env: &AgentEnv,
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> Result<Option<Layer>, FlatError> {
    let mut found: Vec<(String, OsString)> = vars
        .into_iter()
        .filter_map(|(k, v)| {
            let k = k.to_string_lossy().into_owned();
            k.starts_with(PREFIX).then_some((k, v))
        })
        .collect();
    if found.is_empty() {
        return Ok(None);
    }
    // In name order, so errors and origins do not depend on the environment's order.
    found.sort();
    let mut layer = Layer {
        tree: Value::Object(Map::new()),
        origin: Default::default(),
    };
    for (var, value) in found {
        let bad = |why: String| FlatError::Variable {
            var: var.clone(),
            why,
        };
        let keys = keys_of_var(&var).map_err(bad)?;
        kind_at(&keys).map_err(|e| bad(format!("{e}; it names no known path")))?;
        let file = value
            .to_str()
            .filter(|f| f.starts_with('/'))
            .ok_or_else(|| bad("must name a file by its absolute path".into()))?;
        let shown = format!("{var}={file} (environment)");
        let (bytes, mode) = fsutil::read_nofollow_mode(&env.path(file), FILE_MAX)
            .map_err(|source| {
                FlatError::Read {
                    file: shown.clone(),
                    source,
                }
                .on_root()
            })?
            .ok_or_else(|| bad(format!("names {file}, which does not exist")))?;
        let text = String::from_utf8(bytes).map_err(|_| FlatError::NotUtf8 {
            file: shown.clone(),
        })?;
        add_value(&mut layer, &keys, &text, mode, true, &shown)?;
    }
    Ok(Some(layer))
}

/// [`overrides`] from the process environment.
pub fn from_process(env: &AgentEnv) -> Result<Option<Layer>, FlatError> {
    overrides(env, std::env::vars_os())
}
