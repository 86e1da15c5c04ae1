//! Telling a k3os config from a JSON NodeConfig layer (a config_url body may be either).

use serde_json::Value;

use super::config::ROOT;
use super::names::canonical;

/// True if `bytes` look like a k3os config rather than JSON: YAML whose root holds one of
/// k3os's top-level keys (in any spelling) and no NodeConfig section.
pub fn looks_like_k3os(bytes: &[u8]) -> bool {
    let Ok(v) = serde_yaml_ng::from_slice::<Value>(bytes) else {
        return false;
    };
    let Some(m) = v.as_object() else { return false };
    let fields: Vec<&str> = ROOT.iter().map(|(f, _)| *f).collect();
    let kateskit = ["apiVersion", "node", "host", "agent", "secrets", "cluster"];
    !m.keys().any(|k| kateskit.contains(&k.as_str()))
        && m.keys().any(|k| canonical(k, &fields).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_k3os_yaml_but_not_nodeconfig_json() {
        assert!(looks_like_k3os(b"k3os:\n  token: x\n"));
        assert!(looks_like_k3os(b"ssh_authorized_keys: [a]\n"));
        assert!(!looks_like_k3os(br#"{"node": {"role": "agent"}}"#));
        assert!(!looks_like_k3os(br#"{"host": {"hostname": "x"}}"#));
        assert!(!looks_like_k3os(b"[1]"));
    }
}
