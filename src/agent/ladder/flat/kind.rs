//! The type of the value at a flat path, read from the JSON Schemas the repository generates
//! for NodeConfig and the agent settings (`docs/schema/*.schema.json`, [`crate::schema`]), so
//! `agent/ready_timeout_s` holding `300` is a number and `host/hostname` holding `300` a string.

use std::sync::OnceLock;

use serde_json::{Map, Value};

/// How a value is written in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// The text as is.
    Str,
    /// A whole number.
    Int,
    Num,
    /// `true` or `false`.
    Bool,
    /// One item per line, each of the inner kind.
    List(Box<Kind>),
    /// A JSON object (an empty map is written `{}`; a non-empty one is a directory).
    Object,
    /// The schema leaves the type open (bundle `values`): JSON when the text is JSON, else a
    /// string.
    Any,
}

/// A flat path that names no value of the schemas.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown path `{path}`: {why}")]
pub struct UnknownPath {
    pub path: String,
    pub why: String,
}

struct Schemas {
    node: Value,
    agent: Value,
}

fn schemas() -> &'static Schemas {
    static S: OnceLock<Schemas> = OnceLock::new();
    S.get_or_init(|| Schemas {
        node: serde_json::to_value(schemars::schema_for!(crate::nodecfg::NodeConfig))
            .expect("schema serializes"),
        agent: serde_json::to_value(schemars::schema_for!(
            crate::agent::ladder::settings::AgentSettings
        ))
        .expect("schema serializes"),
    })
}

/// What a (sub)schema describes.
enum Shape<'a> {
    /// A struct: its fields.
    Fields(&'a Map<String, Value>),
    /// A map with values of this schema.
    MapOf(&'a Value),
    Any,
    Leaf(Kind),
}

fn is_null(s: &Value) -> bool {
    s.get("type").and_then(Value::as_str) == Some("null")
}

fn shape<'a>(root: &'a Value, s: &'a Value, depth: u8) -> Shape<'a> {
    if depth > 32 || *s == Value::Bool(true) || s.as_object().is_some_and(Map::is_empty) {
        return Shape::Any;
    }
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/definitions/").unwrap_or(r);
        return match root.get("definitions").and_then(|d| d.get(name)) {
            Some(d) => shape(root, d, depth + 1),
            None => Shape::Any,
        };
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(alts) = s.get(key).and_then(Value::as_array) {
            let alts: Vec<&Value> = alts.iter().filter(|a| !is_null(a)).collect();
            if let [one] = alts[..] {
                return shape(root, one, depth + 1);
            }
            // Enums of strings (`oneOf` of one-value enums).
            let all_str = alts
                .iter()
                .all(|a| matches!(shape(root, a, depth + 1), Shape::Leaf(Kind::Str)));
            return if all_str && !alts.is_empty() {
                Shape::Leaf(Kind::Str)
            } else {
                Shape::Any
            };
        }
    }
    let types: Vec<&str> = match s.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ if s.get("enum").is_some() => return Shape::Leaf(Kind::Str),
        _ => return Shape::Any,
    };
    let types: Vec<&str> = types.into_iter().filter(|t| *t != "null").collect();
    match types[..] {
        ["string"] => Shape::Leaf(Kind::Str),
        ["integer"] => Shape::Leaf(Kind::Int),
        ["number"] => Shape::Leaf(Kind::Num),
        ["boolean"] => Shape::Leaf(Kind::Bool),
        ["array"] => {
            let item = match s.get("items") {
                Some(i) => match shape(root, i, depth + 1) {
                    Shape::Leaf(Kind::List(_)) | Shape::Fields(_) | Shape::MapOf(_) => Kind::Object,
                    Shape::Leaf(k) => k,
                    Shape::Any => Kind::Any,
                },
                None => Kind::Any,
            };
            Shape::Leaf(Kind::List(Box::new(item)))
        }
        ["object"] => match (s.get("properties"), s.get("additionalProperties")) {
            (Some(Value::Object(p)), _) => Shape::Fields(p),
            (None, Some(Value::Bool(false))) => Shape::Leaf(Kind::Object),
            (None, Some(a)) => Shape::MapOf(a),
            (None, None) => Shape::MapOf(&Value::Bool(true)),
            _ => Shape::Any,
        },
        _ => Shape::Any,
    }
}

/// The kind of value at `keys` (`["agent", "ready_timeout_s"]`): NodeConfig's schema, with
/// `agent` the agent settings'.
pub fn kind_at(keys: &[String]) -> Result<Kind, UnknownPath> {
    let s = schemas();
    let unknown = |why: String| UnknownPath {
        path: super::flat_path(keys),
        why,
    };
    let (root, rest) = match keys.first().map(String::as_str) {
        None => return Err(unknown("the path is empty".into())),
        Some("agent") => (&s.agent, &keys[1..]),
        Some(_) => (&s.node, keys),
    };
    let mut cur = root;
    for (i, k) in rest.iter().enumerate() {
        let at = super::flat_path(&keys[..keys.len() - rest.len() + i]);
        cur = match shape(root, cur, 0) {
            Shape::Fields(fields) => match fields.get(k) {
                Some(f) => f,
                None => {
                    let mut names: Vec<&str> = fields.keys().map(String::as_str).collect();
                    if at.is_empty() {
                        names.push("agent");
                    }
                    let under = if at.is_empty() {
                        "at the top".to_string()
                    } else {
                        format!("under `{at}`")
                    };
                    return Err(unknown(format!(
                        "no key `{k}` {under}; the keys there are {} (docs/schema/)",
                        names.join(", ")
                    )));
                }
            },
            Shape::MapOf(v) => v,
            Shape::Any => return Ok(Kind::Any),
            Shape::Leaf(_) => {
                return Err(unknown(format!(
                    "`{at}` is a single value, not a directory of values"
                )))
            }
        };
    }
    Ok(match shape(root, cur, 0) {
        Shape::Leaf(k) => k,
        Shape::Fields(_) | Shape::MapOf(_) => Kind::Object,
        Shape::Any => Kind::Any,
    })
}
