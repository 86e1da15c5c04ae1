//! The trust model: which config source may set which keys, and when. One table, consulted by
//! the ladder and checked against the table in docs/agent.md ("Trust model").
//!
//! The kernel command line, the stamped embed area and the image defaults are the owner's and
//! may set anything on every boot. A config drive (removable media) and `config_url` configure
//! an unstamped node on its first boot; on a stamped node they never set the protected keys,
//! and after the first successful run (the identity record exists) drives are not read unless
//! the owner's config says `agent.config_drive = "always"`.

use serde_json::{Map, Value};

use super::tree::{self, Layer};

/// Where a config layer came from, as far as trust is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    ImageDefaults,
    EmbedArea,
    KernelCmdline,
    EmbedKargs,
    ConfigDrive,
    ConfigUrl,
    /// A config_url whose URL and SHA-256 pin both come from the owner's sources: its bytes
    /// are the owner's.
    PinnedConfigUrl,
}

impl Source {
    pub const ALL: [Source; 7] = [
        Source::ImageDefaults,
        Source::EmbedArea,
        Source::KernelCmdline,
        Source::EmbedKargs,
        Source::ConfigDrive,
        Source::ConfigUrl,
        Source::PinnedConfigUrl,
    ];

    /// The name the docs' table uses.
    pub fn name(self) -> &'static str {
        match self {
            Source::ImageDefaults => "image defaults",
            Source::EmbedArea => "embed area",
            Source::KernelCmdline => "kernel command line",
            Source::EmbedKargs => "embed kernel arguments",
            Source::ConfigDrive => "config drive",
            Source::ConfigUrl => "config_url",
            Source::PinnedConfigUrl => "config_url pinned by the owner",
        }
    }
}

/// Classes of keys with different trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyClass {
    /// Who the node is and who may log in or write files as root: [`PROTECTED`].
    Protected,
    /// Settings that decide which sources are read: [`OWNER_ONLY`].
    OwnerOnly,
    /// Everything else (hostname, timezone, labels, ...).
    Other,
}

impl KeyClass {
    pub const ALL: [KeyClass; 3] = [KeyClass::Protected, KeyClass::OwnerOnly, KeyClass::Other];

    pub fn name(self) -> &'static str {
        match self {
            KeyClass::Protected => "protected",
            KeyClass::OwnerOnly => "owner-only",
            KeyClass::Other => "other",
        }
    }
}

/// Keys a config drive or config_url never sets on a stamped node (a path and everything below).
pub const PROTECTED: [&str; 6] = [
    "secrets",
    "k3s.server_url",
    "k3s.server_urls",
    "host.ssh_authorized_keys",
    "agent.write_files",
    "storage",
];
/// Keys only the owner's sources set, on any node.
pub const OWNER_ONLY: [&str; 1] = ["agent.config_drive"];

/// The boot a source is read on, and whether the owner stamped this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    FirstBootUnstamped,
    FirstBootStamped,
    LaterBootUnstamped,
    LaterBootStamped,
}

impl When {
    pub const ALL: [When; 4] = [
        When::FirstBootUnstamped,
        When::FirstBootStamped,
        When::LaterBootUnstamped,
        When::LaterBootStamped,
    ];

    pub fn new(first_boot: bool, stamped: bool) -> When {
        match (first_boot, stamped) {
            (true, false) => When::FirstBootUnstamped,
            (true, true) => When::FirstBootStamped,
            (false, false) => When::LaterBootUnstamped,
            (false, true) => When::LaterBootStamped,
        }
    }

    fn index(self) -> usize {
        When::ALL.iter().position(|w| *w == self).expect("listed")
    }
}

/// May a source set a key class at a given boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Yes,
    No,
    /// Only when the owner's config sets `agent.config_drive = "always"`.
    IfAlways,
}

impl Access {
    pub fn name(self) -> &'static str {
        match self {
            Access::Yes => "yes",
            Access::No => "no",
            Access::IfAlways => "if always",
        }
    }
}

/// `agent.config_drive`: when config drives (and embed partitions on other disks) are read.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum DrivePolicy {
    /// Until the node's identity is recorded (the default).
    #[default]
    FirstBoot,
    /// On every boot (still never the protected keys on a stamped node).
    Always,
    /// Never.
    Never,
}

impl DrivePolicy {
    pub const VALUES: [&str; 3] = ["first-boot", "always", "never"];

    pub fn parse(v: &str) -> Option<DrivePolicy> {
        match v {
            "first-boot" => Some(DrivePolicy::FirstBoot),
            "always" => Some(DrivePolicy::Always),
            "never" => Some(DrivePolicy::Never),
            _ => None,
        }
    }
}

use Access::{IfAlways, No, Yes};

/// The trust table: (source, key class) → access at each [`When`], in [`When::ALL`] order.
pub const TABLE: [(Source, KeyClass, [Access; 4]); 21] = [
    (
        Source::ImageDefaults,
        KeyClass::Protected,
        [Yes, Yes, Yes, Yes],
    ),
    (
        Source::ImageDefaults,
        KeyClass::OwnerOnly,
        [Yes, Yes, Yes, Yes],
    ),
    (Source::ImageDefaults, KeyClass::Other, [Yes, Yes, Yes, Yes]),
    (Source::EmbedArea, KeyClass::Protected, [Yes, Yes, Yes, Yes]),
    (Source::EmbedArea, KeyClass::OwnerOnly, [Yes, Yes, Yes, Yes]),
    (Source::EmbedArea, KeyClass::Other, [Yes, Yes, Yes, Yes]),
    (
        Source::KernelCmdline,
        KeyClass::Protected,
        [Yes, Yes, Yes, Yes],
    ),
    (
        Source::KernelCmdline,
        KeyClass::OwnerOnly,
        [Yes, Yes, Yes, Yes],
    ),
    (Source::KernelCmdline, KeyClass::Other, [Yes, Yes, Yes, Yes]),
    (
        Source::EmbedKargs,
        KeyClass::Protected,
        [Yes, Yes, Yes, Yes],
    ),
    (
        Source::EmbedKargs,
        KeyClass::OwnerOnly,
        [Yes, Yes, Yes, Yes],
    ),
    (Source::EmbedKargs, KeyClass::Other, [Yes, Yes, Yes, Yes]),
    (
        Source::ConfigDrive,
        KeyClass::Protected,
        [Yes, No, IfAlways, No],
    ),
    (Source::ConfigDrive, KeyClass::OwnerOnly, [No, No, No, No]),
    (
        Source::ConfigDrive,
        KeyClass::Other,
        [Yes, Yes, IfAlways, IfAlways],
    ),
    (Source::ConfigUrl, KeyClass::Protected, [Yes, No, Yes, No]),
    (Source::ConfigUrl, KeyClass::OwnerOnly, [No, No, No, No]),
    (Source::ConfigUrl, KeyClass::Other, [Yes, Yes, Yes, Yes]),
    (
        Source::PinnedConfigUrl,
        KeyClass::Protected,
        [Yes, Yes, Yes, Yes],
    ),
    (
        Source::PinnedConfigUrl,
        KeyClass::OwnerOnly,
        [No, No, No, No],
    ),
    (
        Source::PinnedConfigUrl,
        KeyClass::Other,
        [Yes, Yes, Yes, Yes],
    ),
];

/// The table's entry for a source and key class at a boot.
pub fn access(src: Source, class: KeyClass, when: When) -> Access {
    TABLE
        .iter()
        .find(|(s, c, _)| *s == src && *c == class)
        .map(|(_, _, a)| a[when.index()])
        .expect("the table covers every source and key class")
}

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
        Yes => true,
        No => false,
        IfAlways => policy == DrivePolicy::Always,
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
                if let Some(c) = prune(child, &tree::join(path, k), keep, dropped) {
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
