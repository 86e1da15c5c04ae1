//! NoCloud `meta-data`: instance-id, local-hostname (or hostname), public-keys.

use serde_json::json;
use serde_yaml_ng::Value as Yaml;

use super::{key_str, kind, mapping, split_fqdn, strings, yaml, Mapped};

/// Sets the short host name and, for an FQDN, `agent.fqdn` (cloud-init sets both).
pub fn set_hostname(m: &mut Mapped, name: &str, src: &str) -> Result<(), String> {
    let (short, fqdn) = split_fqdn(name);
    if short.is_empty() {
        return Err(format!(
            "{src}: the host name is empty; give a name like node1 or node1.example.org"
        ));
    }
    m.set("host", "hostname", json!(short), src);
    if let Some(f) = fqdn {
        m.set("agent", "fqdn", json!(f), src);
    }
    Ok(())
}

/// `public-keys` in the forms cloud-init's DataSourceNoCloud accepts (`normalize_pubkey_data`):
/// a string (one key per line), a list, or a map of name → key or list of keys.
pub fn public_keys(v: &Yaml, src: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut push_text = |s: &str| {
        out.extend(
            s.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string),
        )
    };
    match v {
        Yaml::Mapping(map) => {
            for (name, keys) in map {
                let sub = format!("{src}.{}", key_str(name));
                for k in strings(keys, &sub)? {
                    push_text(&k);
                }
            }
        }
        Yaml::String(_) | Yaml::Sequence(_) | Yaml::Null => {
            for k in strings(v, src)? {
                push_text(&k);
            }
        }
        other => {
            return Err(format!(
                "{src}: expected a key, a list of keys or a map of name to keys, found {}",
                kind(other)
            ))
        }
    }
    Ok(out)
}

/// Maps `meta-data` into `m`.
pub fn map(m: &mut Mapped, bytes: &[u8], src: &str) -> Result<(), String> {
    let doc = yaml(bytes, src)?;
    let doc = mapping(&doc, src)?;
    for (k, v) in doc {
        let key = key_str(k);
        let ksrc = format!("{src} {key}");
        match key.as_str() {
            "instance-id" => {
                let id = match v {
                    Yaml::String(s) => s.clone(),
                    Yaml::Number(n) => n.to_string(),
                    other => {
                        return Err(format!("{ksrc}: expected a string, found {}", kind(other)))
                    }
                };
                m.set("agent", "instance_id", json!(id), &ksrc);
            }
            // cloud-init prefers local-hostname; `hostname` is read when it is absent.
            "local-hostname" | "hostname" => {
                if key == "hostname" && doc.contains_key("local-hostname") {
                    continue;
                }
                let Some(name) = v.as_str() else {
                    return Err(format!("{ksrc}: expected a host name, found {}", kind(v)));
                };
                set_hostname(m, name, &ksrc)?;
            }
            "public-keys" => {
                let keys = public_keys(v, &ksrc)?;
                if !keys.is_empty() {
                    m.set("host", "ssh_authorized_keys", json!(keys), &ksrc);
                }
            }
            "network-interfaces" => m.unmapped(
                src,
                &key,
                "Debian ifupdown syntax; give a network-config file (version 1 or 2) instead",
            ),
            other => m.unmapped(src, other, "no KatesKit equivalent"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(doc: &str) -> Mapped {
        let mut m = Mapped::new();
        map(&mut m, doc.as_bytes(), "md").unwrap();
        m
    }

    #[test]
    fn fqdn_sets_short_name_and_fqdn() {
        let m = run("instance-id: i-1\nlocal-hostname: web1.example.org\n");
        assert_eq!(m.layer.tree["host"]["hostname"], "web1");
        assert_eq!(m.layer.tree["agent"]["fqdn"], "web1.example.org");
        assert_eq!(m.layer.tree["agent"]["instance_id"], "i-1");
        assert_eq!(m.layer.origin["host.hostname"], "md local-hostname");
    }

    #[test]
    fn local_hostname_wins_over_hostname() {
        let m = run("hostname: b\nlocal-hostname: a\n");
        assert_eq!(m.layer.tree["host"]["hostname"], "a");
        let m = run("hostname: b\n");
        assert_eq!(m.layer.tree["host"]["hostname"], "b");
    }

    #[test]
    fn public_keys_in_every_form() {
        for doc in [
            "public-keys: ssh-ed25519 AAAA1 a\n",
            "public-keys: [ssh-ed25519 AAAA1 a]\n",
            "public-keys: {one: ssh-ed25519 AAAA1 a}\n",
            "public-keys: {one: [ssh-ed25519 AAAA1 a]}\n",
        ] {
            let m = run(doc);
            assert_eq!(
                m.layer.tree["host"]["ssh_authorized_keys"],
                json!(["ssh-ed25519 AAAA1 a"]),
                "{doc}"
            );
        }
        let m = run("public-keys: |\n  ssh-ed25519 AAAA1 a\n  ssh-rsa BBBB b\n");
        assert_eq!(
            m.layer.tree["host"]["ssh_authorized_keys"],
            json!(["ssh-ed25519 AAAA1 a", "ssh-rsa BBBB b"])
        );
    }

    #[test]
    fn unknown_keys_are_reported() {
        let m = run("dsmode: local\nnetwork-interfaces: x\n");
        assert_eq!(m.warnings.len(), 2, "{:?}", m.warnings);
        assert!(m.warnings[0].starts_with("md: `dsmode` is not mapped"));
    }
}
