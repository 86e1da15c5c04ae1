//! Partial config trees and their deep merge, with the source of every leaf remembered.
//!
//! Objects merge key by key; scalars and arrays replace whatever a lower layer had. A leaf's
//! path is written `a.b.c`, with `[key]` for keys that contain `.` or `/` (label names).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// One source of configuration: its JSON tree and a description per leaf path. `Debug`
/// shows the tree with every value under `secrets` redacted.
#[derive(Clone, Default)]
pub struct Layer {
    pub tree: Value,
    /// Leaf path → where it came from, e.g. `kernel argument kateskit.node.role=x (from /proc/cmdline)`.
    pub origin: BTreeMap<String, String>,
}

impl Layer {
    /// A layer whose every leaf comes from the same place (a file, a URL).
    pub fn uniform(tree: Value, source: &str) -> Layer {
        let mut origin = BTreeMap::new();
        for p in leaf_paths(&tree) {
            origin.insert(p, source.to_string());
        }
        Layer { tree, origin }
    }

    pub fn is_empty(&self) -> bool {
        !matches!(&self.tree, Value::Object(m) if !m.is_empty())
    }
}

/// Formats one path segment, bracketing keys that would be ambiguous.
pub fn segment(key: &str) -> String {
    if key.is_empty()
        || key.contains('.')
        || key.contains('/')
        || key.contains('[')
        || key.contains(']')
    {
        format!("[{key}]")
    } else {
        key.to_string()
    }
}

/// Joins a parent path and a key.
pub fn join(parent: &str, key: &str) -> String {
    let seg = segment(key);
    match (parent.is_empty(), seg.starts_with('[')) {
        (true, _) => seg,
        (false, true) => format!("{parent}{seg}"),
        (false, false) => format!("{parent}.{seg}"),
    }
}

/// Every leaf path of a tree (arrays and scalars are leaves, as are empty objects).
pub fn leaf_paths(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(v, "", &mut |p, _| out.push(p.to_string()));
    out
}

/// Visits every leaf with its path.
pub fn walk(v: &Value, path: &str, f: &mut dyn FnMut(&str, &Value)) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                walk(child, &join(path, k), f);
            }
        }
        _ if path.is_empty() => {}
        _ => f(path, v),
    }
}

/// Merges `upper` over `lower` in place; returns the leaf paths `upper` replaced or added.
pub fn merge_into(lower: &mut Value, upper: &Value) {
    match (lower, upper) {
        (Value::Object(l), Value::Object(u)) => {
            for (k, uv) in u {
                match l.get_mut(k) {
                    Some(lv) if lv.is_object() && uv.is_object() => merge_into(lv, uv),
                    _ => {
                        l.insert(k.clone(), uv.clone());
                    }
                }
            }
        }
        (l, u) => *l = u.clone(),
    }
}

/// The merged result of several layers, lowest priority first. `Debug` redacts `secrets`.
#[derive(Clone, Default)]
pub struct Merged {
    pub tree: Value,
    /// Effective leaf path → the source that set it.
    pub origin: BTreeMap<String, String>,
}

impl Merged {
    pub fn new() -> Merged {
        Merged {
            tree: Value::Object(Map::new()),
            origin: BTreeMap::new(),
        }
    }

    /// Applies one more layer on top.
    pub fn push(&mut self, layer: &Layer) {
        merge_into(&mut self.tree, &layer.tree);
        // Each leaf of the result came from this layer if the layer has it as a leaf, else
        // it kept its earlier source (an empty object in the layer adds nothing).
        let mine: std::collections::BTreeSet<String> =
            leaf_paths(&layer.tree).into_iter().collect();
        let mut origin = BTreeMap::new();
        for p in leaf_paths(&self.tree) {
            let src = if mine.contains(&p) {
                layer.origin.get(&p)
            } else {
                self.origin.get(&p)
            };
            origin.insert(p, src.cloned().unwrap_or_else(|| "unknown source".into()));
        }
        self.origin = origin;
    }

    /// The source of the value at `path`, or of the first leaf under it.
    pub fn source_of(&self, path: &str) -> Option<&str> {
        if let Some(s) = self.origin.get(path) {
            return Some(s);
        }
        self.origin
            .iter()
            .find(|(p, _)| is_under(p, path))
            .map(|(_, s)| s.as_str())
    }
}

/// A tree with every leaf under `secrets` replaced, for `Debug`.
fn redacted(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(s) = v.get_mut(crate::redact::SECRETS_KEY) {
        blank(s);
    }
    v
}

fn blank(v: &mut Value) {
    match v {
        Value::Object(m) => m.values_mut().for_each(blank),
        Value::Array(a) => a.iter_mut().for_each(blank),
        other => *other = Value::String(crate::secret::REDACTED.into()),
    }
}

impl std::fmt::Debug for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layer")
            .field("tree", &redacted(&self.tree))
            .field("origin", &self.origin)
            .finish()
    }
}

impl std::fmt::Debug for Merged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Merged")
            .field("tree", &redacted(&self.tree))
            .field("origin", &self.origin)
            .finish()
    }
}

/// True if `p` lies strictly below `parent`.
pub fn is_under(p: &str, parent: &str) -> bool {
    if parent.is_empty() {
        return !p.is_empty();
    }
    p.len() > parent.len()
        && p.starts_with(parent)
        && matches!(p.as_bytes()[parent.len()], b'.' | b'[')
}

/// Looks up a value by a dotted path (no bracket segments needed for the agent's own keys).
pub fn get<'a>(v: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted.split('.').try_fold(v, |cur, k| cur.get(k))
}

/// Parses a JSON object layer; errors say `<source>: line L column C: ...`.
pub fn json_layer(bytes: &[u8], source: &str) -> Result<Layer, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| {
        let pos = format!(" at line {} column {}", e.line(), e.column());
        let msg = e.to_string();
        format!(
            "{source}: line {} column {}: {}; fix the JSON there",
            e.line(),
            e.column(),
            msg.strip_suffix(&pos).unwrap_or(&msg)
        )
    })?;
    if !v.is_object() {
        return Err(format!(
            "{source}: expected a JSON object (a full or partial NodeConfig), found {}",
            kind(&v)
        ));
    }
    Ok(Layer::uniform(v, source))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_merge_scalars_and_arrays_replace() {
        let mut m = Merged::new();
        m.push(&Layer::uniform(
            json!({"a": {"x": 1, "y": [1, 2]}, "b": "low"}),
            "low",
        ));
        m.push(&Layer::uniform(json!({"a": {"y": [3]}, "c": true}), "high"));
        assert_eq!(
            m.tree,
            json!({"a": {"x": 1, "y": [3]}, "b": "low", "c": true})
        );
        assert_eq!(m.source_of("a.x"), Some("low"));
        assert_eq!(m.source_of("a.y"), Some("high"));
        assert_eq!(m.source_of("c"), Some("high"));
        assert_eq!(m.source_of("a"), Some("low"));
    }

    #[test]
    fn scalar_over_object_drops_old_attribution() {
        let mut m = Merged::new();
        m.push(&Layer::uniform(json!({"a": {"x": 1}}), "low"));
        m.push(&Layer::uniform(json!({"a": 5}), "high"));
        assert_eq!(m.origin.len(), 1);
        assert_eq!(m.source_of("a"), Some("high"));
    }

    #[test]
    fn empty_object_keeps_lower_attribution() {
        let mut m = Merged::new();
        m.push(&Layer::uniform(json!({"a": {"x": 1}}), "low"));
        m.push(&Layer::uniform(json!({"a": {}}), "high"));
        assert_eq!(m.source_of("a.x"), Some("low"));
        assert_eq!(m.origin.len(), 1);
    }

    #[test]
    fn empty_keys_are_attributed_too() {
        let mut m = Merged::new();
        m.push(&Layer::uniform(json!({"": 1, "a": {"": 2}}), "src"));
        assert_eq!(leaf_paths(&m.tree), vec!["[]", "a[]"]);
        assert_eq!(m.origin.len(), 2);
    }

    #[test]
    fn debug_redacts_secrets() {
        let mut m = Merged::new();
        let l = Layer::uniform(json!({"secrets": {"token": "LEAK", "x": ["LEAK"]}}), "s");
        m.push(&l);
        let shown = format!("{l:?} {m:?}");
        assert!(
            !shown.contains("LEAK") && shown.contains("token"),
            "{shown}"
        );
    }

    #[test]
    fn dotted_keys_are_bracketed() {
        let paths = leaf_paths(&json!({"node": {"labels": {"topology.kubernetes.io/zone": "a"}}}));
        assert_eq!(paths, vec!["node.labels[topology.kubernetes.io/zone]"]);
        assert!(is_under("node.labels[x.y]", "node.labels"));
        assert!(!is_under("node.labelsx", "node.labels"));
    }

    #[test]
    fn json_errors_name_source_and_position() {
        let e = json_layer(b"{\n  \"node\": {,}\n}", "config drive /dev/sdb").unwrap_err();
        assert_eq!(
            e,
            "config drive /dev/sdb: line 2 column 12: key must be a string; fix the JSON there"
        );
        let e = json_layer(b"[1]", "x").unwrap_err();
        assert_eq!(
            e,
            "x: expected a JSON object (a full or partial NodeConfig), found an array"
        );
    }
}
