//! user-data keys that name the host and who logs in: hostname/fqdn and users.

use serde_json::json;
use serde_yaml_ng::Value as Yaml;

use super::meta::set_hostname;
use super::{key_str, kind, strings, Mapped};

/// cloud-init's `get_hostname_fqdn`: `fqdn` wins, a dotted `hostname` is an FQDN.
pub fn hostname(
    m: &mut Mapped,
    hostname: Option<&Yaml>,
    fqdn: Option<&Yaml>,
    prefer: Option<&Yaml>,
    src: &str,
) -> Result<(), String> {
    let text = |v: Option<&Yaml>, k: &str| -> Result<Option<String>, String> {
        match v {
            None | Some(Yaml::Null) => Ok(None),
            Some(Yaml::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(format!(
                "{src} {k}: expected a host name, found {}",
                kind(other)
            )),
        }
    };
    let (h, f) = (text(hostname, "hostname")?, text(fqdn, "fqdn")?);
    match (h, f) {
        (h, Some(f)) => {
            set_hostname(m, &f, &format!("{src} fqdn"))?;
            if let Some(h) = h {
                m.set("host", "hostname", json!(h), &format!("{src} hostname"));
            }
        }
        (Some(h), None) => set_hostname(m, &h, &format!("{src} hostname"))?,
        (None, None) => {}
    }
    if prefer.and_then(Yaml::as_bool) == Some(true) {
        if let Some(f) = m.get("agent", "fqdn").cloned() {
            let origin = m
                .layer
                .origin
                .get("agent.fqdn")
                .cloned()
                .unwrap_or_default();
            m.set(
                "host",
                "hostname",
                f,
                &format!("{origin} (prefer_fqdn_over_hostname)"),
            );
        }
    }
    Ok(())
}

/// `users`: the keys of every entry log in as root (the only login KatesKit configures); the
/// accounts themselves are not created, which the warnings say. True if any key was found.
pub fn users(m: &mut Mapped, v: &Yaml, src: &str, keys: &mut Vec<String>) -> Result<bool, String> {
    let entries: Vec<Yaml> = match v {
        Yaml::String(s) => s
            .split(',')
            .map(|n| Yaml::String(n.trim().into()))
            .collect(),
        Yaml::Sequence(s) => s.clone(),
        other => {
            return Err(format!(
                "{src}: expected a list of users, found {}",
                kind(other)
            ))
        }
    };
    let mut found = false;
    for (i, e) in entries.iter().enumerate() {
        let esrc = format!("{src}[{i}]");
        match e {
            Yaml::String(n) if n == "default" => {}
            Yaml::String(n) => m.warnings.push(format!(
                "{esrc}: user `{n}` is not created (KatesKit configures root's SSH login only); ignored"
            )),
            Yaml::Mapping(u) => {
                let name = u.get("name").and_then(Yaml::as_str).unwrap_or("?");
                for (k, val) in u {
                    match key_str(k).as_str() {
                        "name" => {}
                        "ssh_authorized_keys" => {
                            let ks = strings(val, &format!("{esrc}.ssh_authorized_keys"))?;
                            found |= !ks.is_empty();
                            keys.extend(ks);
                        }
                        other => m.unmapped(&esrc, other, "user accounts are not created"),
                    }
                }
                if name != "root" {
                    m.warnings.push(format!(
                        "{esrc}: user `{name}` is not created; its SSH keys log in as root"
                    ));
                }
            }
            other => return Err(format!("{esrc}: expected a user name or mapping, found {}", kind(other))),
        }
    }
    Ok(found)
}
