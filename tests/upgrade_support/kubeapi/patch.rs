//! PATCH on Nodes: the merge patch of RFC 7386 (and strategic merge patch, identical for the
//! maps and scalars a node's labels, annotations and `spec.unschedulable` are), then the
//! API's decoding and validation of the result.

use serde_json::{Map, Value};

use super::routes::{status, Resp};
use super::scenario::Labels;
use super::world::World;

/// Total size limit of a node's annotations (keys and values), as ObjectMeta validation has.
const ANNOTATIONS_MAX: usize = 256 * 1024;

/// RFC 7386: objects merge key by key, `null` deletes, anything else replaces.
pub(super) fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
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

/// The first strategic-merge directive (`$patch`, `$retainKeys`, ...) in `v`.
fn directive(v: &Value) -> Option<String> {
    match v {
        Value::Object(m) => m.iter().find_map(|(k, v)| {
            if k.starts_with('$') {
                Some(k.clone())
            } else {
                directive(v)
            }
        }),
        Value::Array(a) => a.iter().find_map(directive),
        _ => None,
    }
}

/// A label or annotation map after the patch: absent/null is empty, values must be strings.
fn string_map(v: Option<&Value>, field: &str) -> Result<Labels, String> {
    match v {
        None | Some(Value::Null) => Ok(Labels::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Err(format!(
                    "json: cannot unmarshal {} into Go struct field ObjectMeta.{field} of type string",
                    kind(other)
                )),
            })
            .collect(),
        Some(other) => Err(format!(
            "json: cannot unmarshal {} into Go struct field ObjectMeta.{field} of type map[string]string",
            kind(other)
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::Null => "null",
    }
}

/// Why `key` is not a qualified name (`[prefix/]name`), if it is not.
pub(super) fn bad_key(key: &str) -> Option<String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        let ok = !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|l| {
                !l.is_empty()
                    && l.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            });
        if !ok {
            return Some("prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character".into());
        }
    }
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && edge(name.chars().next())
        && edge(name.chars().last());
    (!ok).then(|| "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character".into())
}

fn bad_label_value(v: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    !v.is_empty()
        && (v.len() > 63
            || !v
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            || !edge(v.chars().next())
            || !edge(v.chars().last()))
}

/// What a patch may not change (everything but labels, annotations, unschedulable and the
/// taint that follows it); status is dropped, as the main resource ignores it.
fn fixed_part(node: &Value) -> Value {
    let mut v = node.clone();
    let o = v.as_object_mut().unwrap();
    o.remove("status");
    if let Some(Value::Object(m)) = o.get_mut("metadata") {
        for k in ["labels", "annotations", "resourceVersion", "managedFields"] {
            m.remove(k);
        }
    }
    if let Some(Value::Object(s)) = o.get_mut("spec") {
        s.remove("unschedulable");
        s.remove("taints");
    }
    v
}

/// PATCH /api/v1/nodes/NAME with `content_type` and `body`.
pub(super) fn patch_node(
    w: &mut World,
    name: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Resp {
    let media = content_type.map(|c| c.split(';').next().unwrap_or("").trim());
    let strategic = match media {
        Some("application/merge-patch+json") => false,
        Some("application/strategic-merge-patch+json") => true,
        _ => return status(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json".into()),
    };
    let Some(node) = w.nodes.get(name) else {
        return status(404, "NotFound", format!("nodes \"{name}\" not found"));
    };
    let patch: Value = match serde_json::from_slice(body) {
        Ok(p @ Value::Object(_)) => p,
        Ok(_) => {
            return status(
                400,
                "BadRequest",
                "json: cannot unmarshal into Go value of type map[string]interface {}".into(),
            )
        }
        Err(e) => return status(400, "BadRequest", format!("error decoding patch: {e}")),
    };
    if strategic {
        if let Some(d) = directive(&patch) {
            return status(
                400,
                "BadRequest",
                format!("stand-in API: strategic merge directive {d} is not modelled"),
            );
        }
    }
    if let Some(want) = patch
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
    {
        if want != node.rv.to_string() {
            return status(409, "Conflict", format!("Operation cannot be fulfilled on nodes \"{name}\": the object has been modified; please apply your changes to the latest version and try again"));
        }
    }
    let before = w.node_json(node);
    let mut after = before.clone();
    merge(&mut after, &patch);
    if fixed_part(&after) != fixed_part(&before) {
        return status(422, "Invalid", format!("Node \"{name}\" is invalid: stand-in API: a patch may change only metadata.labels, metadata.annotations and spec.unschedulable"));
    }
    let labels = string_map(after.pointer("/metadata/labels"), "labels");
    let annotations = string_map(after.pointer("/metadata/annotations"), "annotations");
    let (labels, annotations) = match (labels, annotations) {
        (Ok(l), Ok(a)) => (l, a),
        (Err(e), _) | (_, Err(e)) => return status(400, "BadRequest", e),
    };
    let unschedulable = match after.pointer("/spec/unschedulable") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return status(400, "BadRequest", format!("json: cannot unmarshal {} into Go struct field NodeSpec.spec.unschedulable of type bool", kind(other))),
    };
    let invalid = |field: &str, value: &str, why: String| {
        status(
            422,
            "Invalid",
            format!("Node \"{name}\" is invalid: {field}: Invalid value: \"{value}\": {why}"),
        )
    };
    for (k, v) in &labels {
        if let Some(why) = bad_key(k) {
            return invalid("metadata.labels", k, why);
        }
        if bad_label_value(v) {
            return invalid("metadata.labels", v, "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character".into());
        }
    }
    for k in annotations.keys() {
        if let Some(why) = bad_key(k) {
            return invalid("metadata.annotations", k, why);
        }
    }
    let size: usize = annotations.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > ANNOTATIONS_MAX {
        return status(422, "Invalid", format!("Node \"{name}\" is invalid: metadata.annotations: Too long: must have at most {ANNOTATIONS_MAX} bytes"));
    }
    let n = w.nodes.get(name).unwrap();
    let same =
        n.labels == labels && n.annotations == annotations && n.unschedulable == unschedulable;
    if !same {
        let rv = w.bump();
        let n = w.nodes.get_mut(name).unwrap();
        if n.unschedulable != unschedulable {
            n.cordoned_at = super::world::now_rfc3339();
        }
        (n.labels, n.annotations, n.unschedulable, n.rv) = (labels, annotations, unschedulable, rv);
    }
    (200, w.node_json(&w.nodes[name]))
}
