//! Parsing a k3os `config.yaml` (or the `k3os.*` kernel arguments) into [`K3osConfig`], with
//! k3os's coercions: loose key names ([`super::names`]), a single string where a list is
//! expected, scalar map values read as strings, `"true"` as a boolean.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::names::{canonical, snake};
use super::K3osError;

/// What a field holds, for coercion.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    Str,
    Bool,
    List,
    Map,
    Obj(&'static [(&'static str, Kind)]),
    ObjList(&'static [(&'static str, Kind)]),
}
use Kind::*;

/// k3os's `File`.
const FILE: &[(&str, Kind)] = &[
    ("encoding", Str),
    ("content", Str),
    ("owner", Str),
    ("path", Str),
    ("permissions", Str),
];
/// k3os's `Wifi`; `pass` and `password` also name `passphrase` there.
const WIFI: &[(&str, Kind)] = &[("name", Str), ("passphrase", Str)];
const INSTALL: &[(&str, Kind)] = &[
    ("forceEfi", Bool),
    ("device", Str),
    ("configUrl", Str),
    ("silent", Bool),
    ("isoUrl", Str),
    ("powerOff", Bool),
    ("noFormat", Bool),
    ("debug", Bool),
    ("tty", Str),
];
const K3OS: &[(&str, Kind)] = &[
    ("dataSources", List),
    ("modules", List),
    ("sysctls", Map),
    ("ntpServers", List),
    ("dnsNameservers", List),
    ("wifi", ObjList(WIFI)),
    ("password", Str),
    ("serverUrl", Str),
    ("token", Str),
    ("labels", Map),
    ("k3sArgs", List),
    ("environment", Map),
    ("taints", List),
    ("install", Obj(INSTALL)),
];
/// k3os's `CloudConfig`, the document root.
pub(super) const ROOT: &[(&str, Kind)] = &[
    ("sshAuthorizedKeys", List),
    ("writeFiles", ObjList(FILE)),
    ("hostname", Str),
    ("k3os", Obj(K3OS)),
    ("runCmd", List),
    ("bootCmd", List),
    ("initCmd", List),
];

/// A k3os config, keys in snake_case (the README's spelling).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct K3osConfig {
    pub ssh_authorized_keys: Vec<String>,
    pub write_files: Vec<File>,
    pub hostname: Option<String>,
    pub k3os: K3os,
    pub run_cmd: Vec<String>,
    pub boot_cmd: Vec<String>,
    pub init_cmd: Vec<String>,
    /// Keys k3os itself would ignore (dotted paths as written): reported, never mapped.
    #[serde(skip)]
    pub unknown: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct K3os {
    pub data_sources: Vec<String>,
    pub modules: Vec<String>,
    pub sysctls: BTreeMap<String, String>,
    pub ntp_servers: Vec<String>,
    pub dns_nameservers: Vec<String>,
    pub wifi: Vec<Wifi>,
    pub password: Option<String>,
    pub server_url: Option<String>,
    pub token: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub k3s_args: Vec<String>,
    pub environment: BTreeMap<String, String>,
    pub taints: Vec<String>,
    pub install: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Wifi {
    pub name: String,
    pub passphrase: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct File {
    pub encoding: String,
    pub content: String,
    pub owner: String,
    pub path: String,
    pub permissions: String,
}

/// Parses a config.yaml; `src` names it in errors.
pub fn parse_yaml(bytes: &[u8], src: &str) -> Result<K3osConfig, K3osError> {
    let v: Value = serde_yaml_ng::from_slice(bytes).map_err(|e| K3osError::Yaml {
        src: src.into(),
        at: e
            .location()
            .map(|l| format!(" line {} column {}", l.line(), l.column()))
            .unwrap_or_default(),
        msg: e.to_string(),
    })?;
    from_value(v, src)
}

/// Parses an already decoded tree (YAML, or the kernel arguments).
pub fn from_value(v: Value, src: &str) -> Result<K3osConfig, K3osError> {
    let v = if v.is_null() {
        Value::Object(Map::new())
    } else {
        v
    };
    let mut unknown = Vec::new();
    let norm = normalize(v, ROOT, "", src, &mut unknown)?;
    let mut cfg: K3osConfig = serde_json::from_value(norm).map_err(|e| K3osError::Shape {
        src: src.into(),
        key: String::new(),
        expected: e.to_string(),
    })?;
    cfg.unknown = unknown;
    Ok(cfg)
}

fn normalize(
    v: Value,
    schema: &[(&str, Kind)],
    path: &str,
    src: &str,
    unknown: &mut Vec<String>,
) -> Result<Value, K3osError> {
    let Value::Object(m) = v else {
        return Err(shape(src, path, "a mapping of keys"));
    };
    let fields: Vec<&str> = schema.iter().map(|(f, _)| *f).collect();
    let mut out = Map::new();
    for (k, v) in m {
        // `key:` with no value is absent, as in k3os.
        if v.is_null() {
            continue;
        }
        // An empty key (`"": x`, or a tag with no name) is still named in the report.
        let key_path = join(path, if k.is_empty() { "\"\"" } else { &k });
        let field = canonical(&k, &fields).or_else(|| {
            // k3os's Wifi: `pass` and `password` name the passphrase.
            (fields.contains(&"passphrase") && (k == "pass" || k == "password"))
                .then_some("passphrase")
        });
        let Some(field) = field else {
            unknown.push(key_path);
            continue;
        };
        let kind = schema.iter().find(|(f, _)| *f == field).expect("listed").1;
        let name = snake(field);
        // The exact spelling wins over a loose one; otherwise the first in the document.
        if out.contains_key(&name) && k != name {
            unknown.push(format!("{key_path} (also set as {})", join(path, &name)));
            continue;
        }
        let fp = join(path, &name);
        let v = coerce(v, kind, &fp, src, unknown)?;
        out.insert(name, v);
    }
    Ok(Value::Object(out))
}

fn coerce(
    v: Value,
    kind: Kind,
    path: &str,
    src: &str,
    unknown: &mut Vec<String>,
) -> Result<Value, K3osError> {
    Ok(match (kind, v) {
        (_, Value::Null) => Value::Null,
        (Str, v) => Value::String(scalar(v).ok_or_else(|| shape(src, path, "a string"))?),
        (Bool, Value::Bool(b)) => Value::Bool(b),
        (Bool, Value::String(s)) => Value::Bool(s == "true"),
        (Bool, _) => return Err(shape(src, path, "true or false")),
        (List, Value::Array(a)) => Value::Array(
            a.into_iter()
                .map(|x| scalar(x).map(Value::String))
                .collect::<Option<_>>()
                .ok_or_else(|| shape(src, path, "a list of strings"))?,
        ),
        (List, v) => Value::Array(vec![Value::String(
            scalar(v).ok_or_else(|| shape(src, path, "a list of strings"))?,
        )]),
        (Map, Value::Object(m)) => {
            let mut out = Map::new();
            for (k, v) in m {
                let s = scalar(v).ok_or_else(|| shape(src, &join(path, &k), "a string"))?;
                out.insert(k, Value::String(s));
            }
            Value::Object(out)
        }
        (Map, _) => return Err(shape(src, path, "a mapping of strings")),
        (Obj(s), v) => normalize(v, s, path, src, unknown)?,
        (ObjList(s), v) => {
            let items = match v {
                Value::Array(a) => a,
                other => vec![other],
            };
            let mut out = Vec::new();
            for (i, it) in items.into_iter().enumerate() {
                out.push(normalize(it, s, &format!("{path}[{i}]"), src, unknown)?);
            }
            Value::Array(out)
        }
    })
}

/// A scalar as k3os's `convert.ToString` renders it.
fn scalar(v: Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn shape(src: &str, key: &str, expected: &str) -> K3osError {
    K3osError::Shape {
        src: src.into(),
        key: key.into(),
        expected: expected.into(),
    }
}

fn join(path: &str, k: &str) -> String {
    if path.is_empty() {
        k.to_string()
    } else {
        format!("{path}.{k}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_names_and_coercions_as_k3os_reads_them() {
        let y = "sshAuthorizedKeys: ssh-ed25519 AAA\nk3os:\n  datasource: aws\n  sysctl:\n    vm.max_map_count: 262144\n  dns_nameserver: [1.1.1.1]\n  wifi:\n  - name: home\n    pass: secret\n  install:\n    force_efi: \"true\"\n  k3sArgs: server\nbogus: 1\n";
        let c = parse_yaml(y.as_bytes(), "t").unwrap();
        assert_eq!(c.ssh_authorized_keys, ["ssh-ed25519 AAA"]);
        assert_eq!(c.k3os.data_sources, ["aws"]);
        assert_eq!(c.k3os.sysctls["vm.max_map_count"], "262144");
        assert_eq!(c.k3os.dns_nameservers, ["1.1.1.1"]);
        assert_eq!(c.k3os.wifi[0].passphrase, "secret");
        assert_eq!(c.k3os.install["force_efi"], Value::Bool(true));
        assert_eq!(c.k3os.k3s_args, ["server"]);
        assert_eq!(c.unknown, ["bogus"]);
        let c = parse_yaml(b"hostname:\nssh_authorized_keys:\nk3os:\n", "t").unwrap();
        assert_eq!(c, K3osConfig::default());
    }

    #[test]
    fn wrong_shapes_name_the_key() {
        let e = parse_yaml(b"k3os:\n  labels: [a]\n", "f.yaml").unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.yaml: k3os.labels: expected a mapping of strings; fix that key"
        );
        let e = parse_yaml(b"k3os: [\n", "f.yaml").unwrap_err().to_string();
        assert!(e.starts_with("f.yaml: line 2"), "{e}");
    }
}
