//! A parsed k3os config mapped onto the agent's config tree (the same JSON tree every rung of
//! the ladder produces), plus the report of what has no equivalent.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::config::K3osConfig;
use super::K3osError;
use crate::agent::ladder::merge::Layer;

/// A k3os key that was not carried over, and why. Never holds a secret value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unmapped {
    /// The key as k3os names it (`k3os.wifi`, `write_files[2] /etc/conf.d/x`).
    pub key: String,
    /// The file or kernel arguments it came from.
    pub source: String,
    pub reason: String,
}

impl std::fmt::Display for Unmapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: k3os key {} not applied: {}",
            self.source, self.key, self.reason
        )
    }
}

/// The mapped layer and the report.
#[derive(Debug, Clone)]
pub struct Mapped {
    pub layer: Layer,
    pub unmapped: Vec<Unmapped>,
}

/// Where `k3os.modules` goes: systemd-modules-load reads it at boot.
pub const MODULES_FILE: &str = "/etc/modules-load.d/k3os.conf";

pub(super) struct Out<'a> {
    tree: Value,
    origin: BTreeMap<String, String>,
    unmapped: Vec<Unmapped>,
    pub(super) src: &'a str,
}

impl Out<'_> {
    fn set(&mut self, path: &str, v: Value, key: &str) {
        let mut cur = &mut self.tree;
        let segs: Vec<&str> = path.split('.').collect();
        for (i, s) in segs.iter().enumerate() {
            let m = cur.as_object_mut().expect("objects along the path");
            if i + 1 == segs.len() {
                m.insert(s.to_string(), v);
                break;
            }
            cur = m.entry(*s).or_insert_with(|| Value::Object(Map::new()));
        }
        self.origin
            .insert(path.to_string(), format!("{} {key}", self.src));
    }

    fn push(&mut self, path: &str, v: Value, key: &str) {
        let mut cur = crate::agent::ladder::merge::get(&self.tree, path)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        cur.push(v);
        self.set(path, Value::Array(cur), key);
    }

    fn label(&mut self, kv: &str, key: &str) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let mut labels = crate::agent::ladder::merge::get(&self.tree, "node.labels")
            .cloned()
            .unwrap_or_else(|| json!({}));
        labels[k] = json!(v);
        self.set("node.labels", labels, key);
    }

    pub(super) fn report(&mut self, key: &str, reason: &str) {
        self.unmapped.push(Unmapped {
            key: key.into(),
            source: self.src.into(),
            reason: reason.into(),
        });
    }
}

/// Maps `cfg` (read from `src`) onto the agent's config tree.
pub fn map(cfg: &K3osConfig, src: &str) -> Result<Mapped, K3osError> {
    let mut o = Out {
        tree: json!({}),
        origin: BTreeMap::new(),
        unmapped: Vec::new(),
        src,
    };
    for k in &cfg.unknown {
        o.report(k, "not a k3os config key (k3os ignores it too)");
    }
    if let Some(h) = &cfg.hostname {
        o.set("host.hostname", json!(h), "hostname");
    }
    let (fetched, keys): (Vec<_>, Vec<_>) = cfg
        .ssh_authorized_keys
        .iter()
        .partition(|k| k.starts_with("github:") || k.starts_with("gitlab:"));
    for k in fetched {
        o.report(&format!("ssh_authorized_keys {k}"), "keys are not fetched from GitHub or GitLab at boot; put the public key itself in the list");
    }
    if !keys.is_empty() {
        o.set(
            "host.ssh_authorized_keys",
            json!(keys),
            "ssh_authorized_keys",
        );
    }
    let files = super::files::write_files(&mut o, cfg)?;
    if !files.is_empty() {
        o.set("agent.write_files", Value::Array(files), "write_files");
    }
    for (key, list) in [
        ("run_cmd", &cfg.run_cmd),
        ("boot_cmd", &cfg.boot_cmd),
        ("init_cmd", &cfg.init_cmd),
    ] {
        if !list.is_empty() {
            o.report(key, "commands are not run; put the step in a systemd unit through the image's NixOS configuration");
        }
    }
    k3os_section(&mut o, cfg);
    let origin = leaf_origins(&o.tree, &o.origin);
    let layer = Layer {
        tree: o.tree,
        origin,
    };
    Ok(Mapped {
        layer,
        unmapped: o.unmapped,
    })
}

fn k3os_section(o: &mut Out, cfg: &K3osConfig) {
    let k = &cfg.k3os;
    if !k.data_sources.is_empty() {
        o.report("k3os.data_sources", "cloud metadata services are not probed; use a config drive (KATESKIT or CIDATA) or agent.config_url");
    }
    if !k.modules.is_empty() {
        let mut content = k.modules.join("\n");
        content.push('\n');
        let f = json!({"path": MODULES_FILE, "content": content});
        o.push("agent.write_files", f, "k3os.modules");
    }
    if !k.sysctls.is_empty() {
        o.set("agent.sysctls", json!(k.sysctls), "k3os.sysctls");
    }
    if !k.ntp_servers.is_empty() {
        o.set("host.ntp_servers", json!(k.ntp_servers), "k3os.ntp_servers");
    }
    if !k.dns_nameservers.is_empty() {
        o.report(
            "k3os.dns_nameservers",
            "connman fallback DNS has no equivalent; DNS comes from DHCP or node.network.dns",
        );
    }
    for w in &k.wifi {
        o.report(
            &format!("k3os.wifi {}", w.name),
            "Wi-Fi is not configured; connect the node by Ethernet",
        );
    }
    if k.password.is_some() {
        o.report(
            "k3os.password",
            "password logins are off; log in with an SSH key (host.ssh_authorized_keys)",
        );
    }
    for key in k.install.keys() {
        o.report(
            &format!("k3os.install.{key}"),
            "installation is done by `kateskit install` (docs/install.md), not at boot",
        );
    }
    if !k.environment.is_empty() {
        let names: Vec<&str> = k.environment.keys().map(String::as_str).collect();
        o.report(&format!("k3os.environment {}", names.join(", ")), "no equivalent: set the variables in the image's NixOS configuration (e.g. networking.proxy)");
    }
    let args = super::k3s_args::parse(&k.k3s_args);
    let role = args.role.or(if k.server_url.is_some() {
        Some("agent")
    } else if k.token.is_some() {
        Some("server")
    } else {
        None
    });
    if let Some(r) = role {
        let key = if args.role.is_some() {
            "k3os.k3s_args"
        } else if k.server_url.is_some() {
            "k3os.server_url"
        } else {
            "k3os.token"
        };
        o.set("node.role", json!(r), key);
    }
    if let Some(u) = &k.server_url {
        o.set("k3s.server_url", json!(u), "k3os.server_url");
    }
    if let Some(t) = &k.token {
        o.set("secrets.token", json!(t), "k3os.token");
    }
    for (l, v) in &k.labels {
        o.label(&format!("{l}={v}"), "k3os.labels");
    }
    for t in &k.taints {
        o.push("node.taints", json!(t), "k3os.taints");
    }
    for a in args.mapped {
        let key = format!("k3os.k3s_args {}", a.flag);
        match (a.path, a.value) {
            ("node.labels", Value::String(kv)) => o.label(&kv, &key),
            (p, v) if a.list => o.push(p, v, &key),
            (p, v) => o.set(p, v, &key),
        }
    }
    for u in args.unmapped {
        o.report(
            &format!("k3os.k3s_args {u}"),
            "no NodeConfig equivalent for this k3s flag",
        );
    }
}

/// The ladder attributes leaves (`node.labels.zone`, `agent.sysctls[kernel.printk]`): each leaf
/// gets the origin of the key that set it.
fn leaf_origins(tree: &Value, set: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for leaf in crate::agent::ladder::merge::leaf_paths(tree) {
        let src = set.iter().rev().find(|(k, _)| {
            leaf == **k
                || leaf
                    .strip_prefix(k.as_str())
                    .is_some_and(|r| r.starts_with('.') || r.starts_with('['))
        });
        if let Some((_, src)) = src {
            out.insert(leaf, src.clone());
        }
    }
    out
}
