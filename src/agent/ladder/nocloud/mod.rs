//! cloud-init's NoCloud data source, mapped onto the ladder's config tree: `meta-data`,
//! `user-data` (`#cloud-config`) and `network-config` from a `CIDATA` drive. Every key that has
//! no KatesKit equivalent is reported with its source; keys that would run commands or fetch
//! more user-data are refused, never dropped (docs/agent.md "NoCloud mapping").

pub mod files;
pub mod logins;
pub mod meta;
pub mod network;
pub mod network_v1;
pub mod network_v2;
pub mod networkd;
pub mod userdata;

use serde_json::{Map, Value};
use serde_yaml_ng::Value as Yaml;

use crate::agent::ladder::merge::Layer;

/// A layer being built from one drive, with the unmapped keys found on the way.
#[derive(Default)]
pub struct Mapped {
    pub layer: Layer,
    pub warnings: Vec<String>,
}

impl Mapped {
    pub fn new() -> Mapped {
        Mapped {
            layer: Layer {
                tree: Value::Object(Map::new()),
                origin: Default::default(),
            },
            warnings: Vec::new(),
        }
    }

    /// Sets `section.key` to `v`, remembering `src` as its origin.
    pub fn set(&mut self, section: &str, key: &str, v: Value, src: &str) {
        let obj = self
            .layer
            .tree
            .as_object_mut()
            .expect("layer root is an object");
        let sec = obj
            .entry(section)
            .or_insert_with(|| Value::Object(Map::new()));
        sec.as_object_mut()
            .expect("section is an object")
            .insert(key.into(), v);
        self.layer
            .origin
            .insert(format!("{section}.{key}"), src.to_string());
    }

    pub fn get(&self, section: &str, key: &str) -> Option<&Value> {
        self.layer.tree.get(section)?.get(key)
    }

    /// Reports a key the agent does not map: named with its source, never silently dropped.
    pub fn unmapped(&mut self, src: &str, key: &str, why: &str) {
        self.warnings
            .push(format!("{src}: `{key}` is not mapped ({why}); ignored"));
    }
}

/// The files of a NoCloud drive, as read (absent files are `None`).
pub struct Drive<'a> {
    pub desc: &'a str,
    pub meta_data: Option<&'a [u8]>,
    pub user_data: Option<&'a [u8]>,
    pub network_config: Option<&'a [u8]>,
}

/// Maps a NoCloud drive to a layer (None when it sets nothing) and its warnings.
pub fn map(drive: &Drive) -> Result<(Option<Layer>, Vec<String>), String> {
    let mut m = Mapped::new();
    if let Some(b) = drive.meta_data {
        meta::map(&mut m, b, &format!("{} meta-data", drive.desc))?;
    }
    if let Some(b) = drive.user_data {
        userdata::map(&mut m, b, &format!("{} user-data", drive.desc))?;
    }
    if let Some(b) = drive.network_config {
        network::map(&mut m, b, &format!("{} network-config", drive.desc))?;
    }
    files::stamp_instance(&mut m);
    let Mapped { layer, warnings } = m;
    Ok((if layer.is_empty() { None } else { Some(layer) }, warnings))
}

/// Parses YAML, naming the source and position on error; an empty document is an empty map.
pub fn yaml(b: &[u8], src: &str) -> Result<Yaml, String> {
    let v: Yaml = serde_yaml_ng::from_slice(b).map_err(|e| match e.location() {
        Some(l) => format!(
            "{src}: line {} column {}: {e}; fix the YAML there",
            l.line(),
            l.column()
        ),
        None => format!("{src}: {e}"),
    })?;
    Ok(match v {
        Yaml::Null => Yaml::Mapping(Default::default()),
        v => v,
    })
}

/// `!!binary` written as a tag (after a space, `:`, `-`, `[` or `,`, before a space), made a
/// local tag: the YAML loader resolves `!!binary` to a core-schema tag and then drops it.
pub fn local_binary_tags(b: &[u8]) -> Vec<u8> {
    const TAG: &[u8] = b"!!binary";
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let before_ok =
            i == 0 || matches!(b[i - 1], b' ' | b'\t' | b'\n' | b':' | b'-' | b'[' | b',');
        let after = b.get(i + TAG.len());
        if before_ok && b[i..].starts_with(TAG) && after.is_none_or(|c| c.is_ascii_whitespace()) {
            out.extend_from_slice(b"!binary");
            i += TAG.len();
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// The mapping at the top of a document, or an error naming what it is instead.
pub fn mapping<'a>(v: &'a Yaml, src: &str) -> Result<&'a serde_yaml_ng::Mapping, String> {
    v.as_mapping().ok_or_else(|| {
        format!(
            "{src}: expected a mapping of keys at the top, found {}",
            kind(v)
        )
    })
}

/// A YAML key as text (non-string keys are shown as YAML).
pub fn key_str(k: &Yaml) -> String {
    match k {
        Yaml::String(s) => s.clone(),
        other => serde_yaml_ng::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

pub fn kind(v: &Yaml) -> &'static str {
    match v {
        Yaml::Null => "null",
        Yaml::Bool(_) => "a boolean",
        Yaml::Number(_) => "a number",
        Yaml::String(_) => "a string",
        Yaml::Sequence(_) => "a list",
        Yaml::Mapping(_) => "a mapping",
        Yaml::Tagged(_) => "a tagged value",
    }
}

/// A YAML value as JSON (tags dropped, non-string keys stringified).
pub fn to_json(v: &Yaml) -> Value {
    match v {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(*b),
        Yaml::Number(n) => serde_json::to_value(n).unwrap_or(Value::Null),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Sequence(s) => Value::Array(s.iter().map(to_json).collect()),
        Yaml::Mapping(m) => {
            Value::Object(m.iter().map(|(k, v)| (key_str(k), to_json(v))).collect())
        }
        Yaml::Tagged(t) => to_json(&t.value),
    }
}

/// A string, or a list of strings, as a list (cloud-init accepts both in most places).
pub fn strings(v: &Yaml, src: &str) -> Result<Vec<String>, String> {
    match v {
        Yaml::Null => Ok(Vec::new()),
        Yaml::String(s) => Ok(vec![s.clone()]),
        Yaml::Sequence(items) => items
            .iter()
            .enumerate()
            .map(|(i, it)| match it {
                Yaml::String(s) => Ok(s.clone()),
                Yaml::Number(n) => Ok(n.to_string()),
                other => Err(format!(
                    "{src}[{i}]: expected a string, found {}",
                    kind(other)
                )),
            })
            .collect(),
        other => Err(format!(
            "{src}: expected a string or a list of strings, found {}",
            kind(other)
        )),
    }
}

/// Splits an FQDN into (short name, Some(fqdn)); a short name gives (name, None).
pub fn split_fqdn(name: &str) -> (String, Option<String>) {
    let name = name.trim().trim_end_matches('.');
    match name.find('.') {
        Some(i) if i > 0 => (name[..i].to_string(), Some(name.to_string())),
        _ => (name.to_string(), None),
    }
}
