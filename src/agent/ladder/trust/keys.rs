//! Key classes and the filter that drops from a layer what its source may not set.

use serde_json::{Map, Value};

use super::{access, Access, DrivePolicy, KeyClass, Source, When};
use crate::agent::ladder::merge::{self, Layer};

/// Keys a config drive or config_url never sets on a stamped node (a path and everything below).
/// `bundle` because Helm values run pods as cluster-admin on a server; `agent.sysctls`
/// because a sysctl such as `kernel.core_pattern` runs a program as root.
pub const PROTECTED: [&str; 8] = [
    "secrets",
    "k3s.server_url",
    "k3s.server_urls",
    "host.ssh_authorized_keys",
    "agent.write_files",
    "storage",
    "bundle",
    "agent.sysctls",
];
/// Keys only the owner's sources set, on any node: which drives are read, and which server's
/// key config_url and phone_home trust.
pub const OWNER_ONLY: [&str; 2] = ["agent.config_drive", "agent.config_tls_sha256"];

/// True if `a` is `b` or lies below it (`a.b` under `a`, `a[x]` under `a`).
fn under(a: &str, b: &str) -> bool {
    a == b
        || a.strip_prefix(b)
            .is_some_and(|r| r.starts_with('.') || r.starts_with('['))
}

/// The class of a leaf path. A leaf above a protected key (`k3s` set to a scalar) would
/// replace it, so it counts as protected too.
pub fn key_class(path: &str) -> KeyClass {
    let hits = |keys: &[&str]| keys.iter().any(|k| under(path, k) || under(k, path));
    if hits(&OWNER_ONLY) {
        KeyClass::OwnerOnly
    } else if hits(&PROTECTED) {
        KeyClass::Protected
    } else {
        KeyClass::Other
    }
}

/// Whether `src` may set keys of `class` now.
pub fn allowed(src: Source, class: KeyClass, when: When, policy: DrivePolicy) -> bool {
    match access(src, class, when) {
        Access::Yes => true,
        Access::No => false,
        Access::IfAlways => policy == DrivePolicy::Always,
    }
}

/// The layer without the leaves `src` may not set; returns the dropped leaf paths (never
/// their values).
pub fn filter(layer: &Layer, src: Source, when: When, policy: DrivePolicy) -> (Layer, Vec<String>) {
    let mut dropped = Vec::new();
    let keep = |p: &str| allowed(src, key_class(p), when, policy);
    let tree = prune(&layer.tree, "", &keep, &mut dropped).unwrap_or(Value::Object(Map::new()));
    let origin = layer
        .origin
        .iter()
        .filter(|(p, _)| !dropped.iter().any(|d| under(p, d)))
        .map(|(p, s)| (p.clone(), s.clone()))
        .collect();
    (Layer { tree, origin }, dropped)
}

fn prune(
    v: &Value,
    path: &str,
    keep: &dyn Fn(&str) -> bool,
    dropped: &mut Vec<String>,
) -> Option<Value> {
    match v {
        Value::Object(m) if !m.is_empty() => {
            let mut out = Map::new();
            for (k, child) in m {
                if let Some(c) = prune(child, &merge::join(path, k), keep, dropped) {
                    out.insert(k.clone(), c);
                }
            }
            (!out.is_empty() || path.is_empty()).then_some(Value::Object(out))
        }
        _ if path.is_empty() => Some(v.clone()),
        _ if keep(path) => Some(v.clone()),
        _ => {
            dropped.push(path.to_string());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classes_cover_parents_and_children() {
        assert_eq!(key_class("secrets.token"), KeyClass::Protected);
        assert_eq!(key_class("k3s"), KeyClass::Protected);
        assert_eq!(key_class("k3s.server_urls"), KeyClass::Protected);
        assert_eq!(key_class("k3s.server_url_x"), KeyClass::Other);
        assert_eq!(key_class("storage.osd_disks"), KeyClass::Protected);
        assert_eq!(key_class("agent.config_drive"), KeyClass::OwnerOnly);
        assert_eq!(key_class("host.hostname"), KeyClass::Other);
    }

    #[test]
    fn filter_drops_protected_leaves_and_names_them() {
        let l = Layer::uniform(
            json!({"host": {"hostname": "h", "ssh_authorized_keys": ["k"]}, "secrets": {"token": "t"}}),
            "drive",
        );
        let (out, dropped) = filter(
            &l,
            Source::ConfigDrive,
            When::FirstBootStamped,
            DrivePolicy::FirstBoot,
        );
        assert_eq!(out.tree, json!({"host": {"hostname": "h"}}));
        assert_eq!(dropped, ["host.ssh_authorized_keys", "secrets.token"]);
        assert_eq!(out.origin.keys().collect::<Vec<_>>(), ["host.hostname"]);
    }
}
