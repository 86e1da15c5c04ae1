//! Defaults and derivations applied after the merge (docs/agent.md "Defaults"): every
//! NodeConfig field a partial config leaves out gets a documented value, so the only inputs a
//! machine needs are its role's essentials. Each filled leaf is recorded with the source
//! `default` or `derived (<why>)`, which the config tree and `sources` show.

use serde_json::{json, Value};

use crate::agent::ladder::fetch::mac;
use crate::agent::ladder::merge::{self, Merged};
use crate::agent::AgentEnv;
use crate::spec;

/// Host names a fresh system carries before anyone named it: never a node name.
const PLACEHOLDER_HOSTNAMES: [&str; 5] =
    ["", "(none)", "localhost", "localhost.localdomain", "nixos"];

fn text(t: &Value, path: &str) -> Option<String> {
    merge::get(t, path)
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The first label of a host name, lower-cased: what k3s would take as the node name.
fn short(hostname: &str) -> String {
    hostname
        .split('.')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// The host name the system already knows: the kernel's (set by `ip=` or an initrd), else a
/// DHCP lease's; placeholders do not count.
fn known_hostname(env: &AgentEnv) -> Option<(String, String)> {
    let real = |s: &str| !PLACEHOLDER_HOSTNAMES.contains(&s.trim());
    let kernel = env.path("proc/sys/kernel/hostname");
    if let Some(h) = std::fs::read_to_string(&kernel).ok().filter(|h| real(h)) {
        return Some((h.trim().to_string(), "the kernel host name".into()));
    }
    let leases = env.path("run/systemd/netif/leases");
    let mut files: Vec<_> = std::fs::read_dir(leases)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files.iter().find_map(|f| {
        let body = std::fs::read_to_string(f).ok()?;
        let h = body.lines().find_map(|l| l.strip_prefix("HOSTNAME="))?;
        real(h).then(|| (h.trim().to_string(), "the DHCP lease's host name".into()))
    })
}

/// `node-<last 3 MAC bytes>` of the link `${mac}` stands for (`fetch::mac::choose`).
fn mac_name(env: &AgentEnv) -> (String, String) {
    match mac::choose(env) {
        Some(m) => (
            format!("node-{}", m.split(':').skip(3).collect::<String>()),
            format!("no host name given; from MAC {m}"),
        ),
        None => (
            "node-000000".into(),
            "no host name given and no physical link found".into(),
        ),
    }
}

/// The node and host names: each from the other when only one is given, else from the host
/// name the system knows, else from the MAC.
fn names(env: &AgentEnv, t: &Value) -> Vec<(String, Value, String)> {
    let mut out = Vec::new();
    let (name, host) = (text(t, "node.name"), text(t, "host.hostname"));
    match (&name, &host) {
        (Some(_), Some(_)) => {}
        (Some(n), None) => out.push(("host.hostname".into(), json!(n), "from node.name".into())),
        (None, Some(h)) => out.push((
            "node.name".into(),
            json!(short(h)),
            format!("from host.hostname {h}"),
        )),
        (None, None) => {
            let (h, why) = known_hostname(env).unwrap_or_else(|| mac_name(env));
            out.push(("host.hostname".into(), json!(h), why.clone()));
            out.push(("node.name".into(), json!(short(&h)), why));
        }
    }
    out
}

/// `(path, value, why)` for every derived leaf; `why` empty means a plain default.
fn fills(env: &AgentEnv, t: &Value) -> Vec<(String, Value, String)> {
    let mut out = names(env, t);
    let has = |p: &str| merge::get(t, p).is_some_and(|v| !v.is_null());
    let joins = has("k3s.server_url");
    if !has("node.role") && joins {
        let why = "k3s.server_url is set: this machine joins as an agent";
        out.push(("node.role".into(), json!("agent"), why.into()));
    }
    let server = text(t, "node.role").as_deref() == Some("server");
    let (init, why) = if server && !joins {
        (true, "a server without k3s.server_url starts the cluster")
    } else {
        (false, "this node joins a running cluster")
    };
    out.push(("k3s.cluster_init".into(), json!(init), why.into()));
    let links = mac::physical(env);
    let why = if links.is_empty() {
        "no physical network link found".to_string()
    } else {
        format!(
            "physical links {}",
            links
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let macs: Vec<&str> = links.iter().map(|(_, m)| m.as_str()).collect();
    out.push(("node.macs".into(), json!(macs), why));
    if let Some(tok) = text(t, "secrets.token") {
        let hash = crate::pki::Token::parse(&tok)
            .map(|t| t.ca_hash)
            .unwrap_or_default();
        let why = if hash.is_empty() {
            "the token pins no CA"
        } else {
            "the CA hash inside secrets.token"
        };
        out.push(("secrets.ca_hash".into(), json!(hash), why.into()));
        out.push(("secrets.ceph_fsid".into(), json!(""), String::new()));
    }
    let plain = json!({
        "apiVersion": crate::nodecfg::API_VERSION,
        "kind": crate::nodecfg::KIND,
        "cluster": {"name": "kateskit", "domain": spec::default_domain()},
        "node": {"labels": {}, "taints": []},
        "host": {"ssh_authorized_keys": [], "timezone": spec::default_timezone(), "ntp_servers": []},
        "k3s": {
            "server_urls": [],
            "flannel_backend": spec::FlannelBackend::default().as_str(),
            "cluster_cidr": spec::default_cluster_cidr(),
            "service_cidr": spec::default_service_cidr(),
            "cluster_domain": text(t, "cluster.domain").unwrap_or_else(spec::default_domain),
            "tls_sans": [],
            "disable": [],
        },
        "storage": {"driver": spec::StorageDriver::default().as_str(), "osd_disks": []},
    });
    let mut leaves = Vec::new();
    merge::walk(&plain, "", &mut |p, v| {
        leaves.push((p.to_string(), v.clone()))
    });
    out.extend(leaves.into_iter().map(|(p, v)| (p, v, String::new())));
    out
}

/// Fills every leaf the merged layers leave out; returns the paths filled.
pub fn apply(env: &AgentEnv, merged: &mut Merged) -> Vec<String> {
    let mut filled = Vec::new();
    for (path, value, why) in fills(env, &merged.tree) {
        if merge::get(&merged.tree, &path).is_some() {
            continue;
        }
        if !insert(&mut merged.tree, &path, value) {
            continue;
        }
        let src = if why.is_empty() {
            "default".to_string()
        } else {
            format!("derived ({why})")
        };
        merged.origin.insert(path.to_string(), src);
        filled.push(path.to_string());
    }
    filled
}

/// `path: why` of every derived value, for the status.
pub fn derived(merged: &Merged) -> Vec<String> {
    merged
        .origin
        .iter()
        .filter_map(|(p, src)| {
            let why = src.strip_prefix("derived (")?.strip_suffix(')')?;
            Some(format!("{p}: {why}"))
        })
        .collect()
}

/// Sets `path` in `t`, creating objects on the way; false where a level is not an object (the
/// deserializer reports that value with its source).
fn insert(t: &mut Value, path: &str, value: Value) -> bool {
    let mut cur = t;
    let mut keys: Vec<&str> = path.split('.').collect();
    let last = keys.pop().expect("a path has a key");
    for k in keys {
        let Some(m) = cur.as_object_mut() else {
            return false;
        };
        cur = m.entry(k.to_string()).or_insert_with(|| json!({}));
    }
    match cur.as_object_mut() {
        Some(m) => {
            m.insert(last.to_string(), value);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_host_names_never_name_the_node() {
        let root = tempfile::tempdir().unwrap();
        let env = crate::agent::ladder::fetch::test_env(root.path());
        for placeholder in ["(none)\n", "localhost\n", "nixos\n"] {
            std::fs::create_dir_all(root.path().join("proc/sys/kernel")).unwrap();
            std::fs::write(root.path().join("proc/sys/kernel/hostname"), placeholder).unwrap();
            assert_eq!(known_hostname(&env), None, "{placeholder}");
        }
        let leases = root.path().join("run/systemd/netif/leases");
        std::fs::create_dir_all(&leases).unwrap();
        std::fs::write(leases.join("2"), "ADDRESS=10.0.0.5\nHOSTNAME=Rack-B4.lan\n").unwrap();
        let mut m = Merged::new();
        apply(&env, &mut m);
        assert_eq!(m.tree["host"]["hostname"], "Rack-B4.lan");
        assert_eq!(m.tree["node"]["name"], "rack-b4");
        assert_eq!(
            m.origin["node.name"],
            "derived (the DHCP lease's host name)"
        );
    }

    #[test]
    fn set_values_are_kept_and_a_non_object_level_is_left_to_the_deserializer() {
        let root = tempfile::tempdir().unwrap();
        let env = crate::agent::ladder::fetch::test_env(root.path());
        let mut m = Merged::new();
        m.tree = json!({"host": {"timezone": "Asia/Tokyo"}, "k3s": "oops"});
        let filled = apply(&env, &mut m);
        assert_eq!(m.tree["host"]["timezone"], "Asia/Tokyo");
        assert!(!filled.contains(&"host.timezone".to_string()));
        assert_eq!(m.tree["k3s"], "oops");
        assert_eq!(m.tree["node"]["name"], "node-000000");
        assert_eq!(m.origin["host.ntp_servers"], "default");
    }
}
