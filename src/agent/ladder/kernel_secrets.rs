//! Secrets on the running kernel's command line.
//!
//! `/proc/cmdline` is world-readable, in every container too (pods see the host's kernel
//! command line), so a token there is readable by every workload on the node. A server token
//! grants the whole cluster (it joins servers and reads the bootstrap CAs): on a server it is
//! refused. An agent token only joins agents, so it is a warning. Kernel arguments stamped into
//! the embed area never reach `/proc/cmdline` and are fine. Values are never shown.

use serde_json::Value;

use crate::agent::ladder::merge;
use crate::spec::Role;

/// `secrets.*` keys that are not secret: the CA hash and the Ceph fsid are public facts.
const PUBLIC: [&str; 2] = ["secrets.ca_hash", "secrets.ceph_fsid"];

/// The secret leaf paths (`secrets.token`, ...) in a command-line layer's tree.
pub fn secret_paths(layer: &Value) -> Vec<String> {
    merge::leaf_paths(layer)
        .into_iter()
        .filter(|p| merge::is_under(p, "secrets") && !PUBLIC.contains(&p.as_str()))
        .collect()
}

/// Refuses secrets from the kernel command line `src` on a server; on an agent returns the
/// warning to report. `paths` are the keys set there, never their values.
pub fn check(paths: &[String], role: Role, src: &str) -> Result<Option<String>, String> {
    if paths.is_empty() {
        return Ok(None);
    }
    let keys = paths.join(", ");
    match role {
        Role::Server => Err(format!(
            "kernel command line {src}: {keys} is set there, but {src} is readable by every \
             process and pod on this node, and a server token grants the whole cluster; \
             refusing to use it. Stamp it into the image instead: `kateskit image customize \
             --karg kateskit.token=...` (embed kernel arguments never reach {src}) or the \
             embedded node config (`image customize --cluster DIR --node NAME`), and remove it \
             from the boot loader's command line"
        )),
        Role::Agent => Ok(Some(format!(
            "kernel command line {src}: {keys} is readable by every process and pod on this \
             node; an agent token only joins agents, so it is used, but stamp it with \
             `kateskit image customize --karg` or the embedded node config instead"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn public_secrets_keys_are_not_flagged() {
        let t = json!({"secrets": {"token": "K10x::server:y", "ca_hash": "ab", "ceph_fsid": "f"},
                       "node": {"role": "server"}});
        assert_eq!(secret_paths(&t), vec!["secrets.token".to_string()]);
    }

    #[test]
    fn a_server_refuses_and_an_agent_warns_without_the_value() {
        let p = vec!["secrets.token".to_string()];
        let e = check(&p, Role::Server, "/proc/cmdline").unwrap_err();
        assert!(e.contains("secrets.token") && e.contains("--karg"), "{e}");
        let w = check(&p, Role::Agent, "/proc/cmdline").unwrap().unwrap();
        assert!(w.contains("secrets.token") && w.contains("readable"), "{w}");
        assert_eq!(check(&[], Role::Server, "/proc/cmdline"), Ok(None));
    }
}
