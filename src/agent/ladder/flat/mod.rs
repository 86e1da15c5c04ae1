//! The flat-file form of a config tree, in both directions. The agent writes its effective
//! config as one file per value under `/run/kateskit/config` and reads the same layout from
//! `/etc/kateskit/config.d`, a config drive's `config/` and `KATESKIT_VALUE_*` files
//! (docs/agent.md, "Flat-file config"). The path encoding and the value format live here
//! only, so what the writer writes is exactly what the reader reads.

pub mod env;
mod error;
pub mod input;
pub mod kind;
pub mod query;
mod walk;

use std::path::PathBuf;

use serde_json::Value;

pub use error::FlatError;
pub use kind::{kind_at, Kind, UnknownPath};

/// Encodes one key as a file name: `%` and `/` are percent-encoded, as is a leading `.` (so
/// no key becomes `.`, `..` or a hidden file). None for the empty key, which no file name
/// can hold.
pub fn encode_key(key: &str) -> Option<String> {
    if key.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(key.len());
    for (i, c) in key.chars().enumerate() {
        match c {
            '%' => out.push_str("%25"),
            '/' => out.push_str("%2F"),
            '.' if i == 0 => out.push_str("%2E"),
            c => out.push(c),
        }
    }
    Some(out)
}

/// Decodes a file name back into its key: the inverse of [`encode_key`]. `Err` says why.
pub fn decode_key(seg: &str) -> Result<String, String> {
    let mut out = String::with_capacity(seg.len());
    let mut rest = seg;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let esc = rest.get(i + 1..i + 3).unwrap_or("");
        out.push(match esc.to_ascii_uppercase().as_str() {
            "25" => '%',
            "2F" => '/',
            "2E" => '.',
            _ => {
                return Err(format!(
                    "`%{esc}` in the file name `{seg}` is not an escape: only %25 (%), %2F (/) \
                     and %2E (a leading .) are"
                ))
            }
        });
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The file path (relative to the tree's directory) of a value at `keys`; None when a key
/// cannot be a file name (the empty key).
pub fn rel_path(keys: &[String]) -> Option<PathBuf> {
    keys.iter().map(|k| encode_key(k)).collect()
}

/// The flat path of `keys` as users write it: `node/labels/topology.kubernetes.io%2Fzone`.
pub fn flat_path(keys: &[String]) -> String {
    keys.iter()
        .map(|k| encode_key(k).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("/")
}

/// Splits a flat path (`host/hostname`, segments percent-encoded) into keys.
pub fn keys_of_flat(path: &str) -> Result<Vec<String>, String> {
    let path = path.trim_matches('/');
    if path.is_empty() {
        return Err("the path is empty".into());
    }
    path.split('/').map(decode_key).collect()
}

/// Splits a tree path back into keys (`a.b[c.d]` → a, b, c.d), the inverse of
/// [`crate::agent::ladder::merge::join`].
pub fn keys_of_tree(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        match c {
            '.' if !cur.is_empty() => out.push(std::mem::take(&mut cur)),
            '.' => {}
            '[' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push(chars.by_ref().take_while(|&c| c != ']').collect());
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The tree path (`a.b[c.d]`) of `keys`.
pub fn tree_path(keys: &[String]) -> String {
    keys.iter().fold(String::new(), |p, k| {
        crate::agent::ladder::merge::join(&p, k)
    })
}

/// True when a string would read back as something else where the type is open (`true`,
/// `3`, `[1]`, `"x"`): such a string is written JSON-quoted.
fn looks_like_json(s: &str) -> bool {
    serde_json::from_str::<Value>(s).is_ok()
}

/// One item of a list, or one open-typed value, on one line (no newline).
fn render_item(kind: &Kind, v: &Value) -> String {
    match (kind, v) {
        (Kind::Any, Value::String(s)) if looks_like_json(s) => v.to_string(),
        (_, Value::String(s)) => s.clone(),
        (_, other) => other.to_string(),
    }
}

/// The file content for a value of `kind`: the text and a newline; lists one item per line.
/// None for a null the schema types (an unset optional value has no file).
pub fn render(kind: &Kind, v: &Value) -> Option<String> {
    match (kind, v) {
        (Kind::Any, Value::Null) => Some("null\n".into()),
        (_, Value::Null) => None,
        (Kind::List(item), Value::Array(items)) => Some(
            items
                .iter()
                .map(|i| format!("{}\n", render_item(item, i)))
                .collect(),
        ),
        (k, v) => Some(format!("{}\n", render_item(k, v))),
    }
}

/// Why a file's text does not fit its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadValue {
    /// 1-based line, for list items.
    pub line: Option<usize>,
    pub msg: String,
}

fn parse_item(kind: &Kind, text: &str, secret: bool) -> Result<Value, String> {
    let shown = |t: &str| {
        if secret {
            "(value not shown)".to_string()
        } else {
            format!("`{t}`")
        }
    };
    let t = text.trim();
    match kind {
        Kind::Str => Ok(Value::String(text.to_string())),
        Kind::Int => t
            .parse::<u64>()
            .map(Value::from)
            .or_else(|_| t.parse::<i64>().map(Value::from))
            .map_err(|_| {
                format!(
                    "{} is not a whole number; write digits only, e.g. 300",
                    shown(t)
                )
            }),
        Kind::Num => serde_json::from_str::<serde_json::Number>(t)
            .map(Value::Number)
            .map_err(|_| format!("{} is not a number; write e.g. 1.5", shown(t))),
        Kind::Bool => match t {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!(
                "{} is not a boolean; write true or false",
                shown(t)
            )),
        },
        Kind::Object | Kind::List(_) => {
            let v: Value = serde_json::from_str(t).map_err(|e| {
                format!(
                    "{} is not JSON ({e}); write it as JSON on one line",
                    shown(t)
                )
            })?;
            let fits = match kind {
                Kind::Object => v.is_object(),
                _ => v.is_array(),
            };
            if fits {
                Ok(v)
            } else {
                Err(format!(
                    "{} is not a JSON {}; write e.g. {}, or the values below it as files in a \
                     directory of this name",
                    shown(t),
                    if matches!(kind, Kind::Object) {
                        "object"
                    } else {
                        "array"
                    },
                    if matches!(kind, Kind::Object) {
                        "{}"
                    } else {
                        "[]"
                    },
                ))
            }
        }
        Kind::Any => Ok(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.into()))),
    }
}

/// Reads a file's text as a value of `kind`: one trailing newline is not part of the value;
/// a list holds one item per line (an empty file is the empty list). `secret` keeps the text
/// out of the error.
pub fn parse(kind: &Kind, text: &str, secret: bool) -> Result<Value, BadValue> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    match kind {
        Kind::List(_) if text.is_empty() => Ok(Value::Array(Vec::new())),
        Kind::List(item) => text
            .split('\n')
            .enumerate()
            .map(|(i, line)| {
                parse_item(item, line, secret).map_err(|msg| BadValue {
                    line: Some(i + 1),
                    msg,
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        k => parse_item(k, text, secret).map_err(|msg| BadValue { line: None, msg }),
    }
}

#[cfg(test)]
mod tests;
