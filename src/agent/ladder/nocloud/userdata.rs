//! NoCloud `user-data`: which formats are read, and the `#cloud-config` keys that map.

use std::io::Read;

use serde_json::json;
use serde_yaml_ng::Value as Yaml;

use super::{key_str, kind, mapping, strings, yaml, Mapped};

/// Keys that run commands: refused, since KatesKit does not run shell from removable media.
const COMMAND_KEYS: [&str; 2] = ["bootcmd", "runcmd"];

/// The user-data formats read; the others are refused by name.
enum Format {
    Empty,
    CloudConfig,
    /// Text whose first line names no format cloud-init knows.
    Unknown,
}

/// What kind of user-data a document is (cloud-init's `user_data.py` starts).
fn format(b: &[u8]) -> Result<Format, &'static str> {
    let text = String::from_utf8_lossy(&b[..b.len().min(256)]);
    let first = text
        .lines()
        .next()
        .unwrap_or("")
        .trim_end()
        .to_ascii_lowercase();
    if first.starts_with("#cloud-config-archive") {
        return Err("a #cloud-config-archive");
    }
    if first.starts_with("#cloud-config") {
        return Ok(Format::CloudConfig);
    }
    if first.starts_with("#include") {
        return Err("an #include list (more user-data fetched from URLs)");
    }
    if first.starts_with("#!") {
        return Err("a script (#!)");
    }
    for (tag, what) in [
        ("#cloud-boothook", "a #cloud-boothook"),
        ("#part-handler", "a #part-handler"),
        ("## template:", "a Jinja template"),
    ] {
        if first.starts_with(tag) {
            return Err(what);
        }
    }
    let lower = text.to_ascii_lowercase();
    if lower.starts_with("content-type:") || lower.starts_with("mime-version:") {
        return Err("a MIME multipart document");
    }
    if b.iter().all(u8::is_ascii_whitespace) {
        return Ok(Format::Empty);
    }
    Ok(Format::Unknown)
}

/// Maps `user-data` into `m`; gzip-compressed user-data is decompressed first, as cloud-init does.
pub fn map(m: &mut Mapped, bytes: &[u8], src: &str) -> Result<(), String> {
    let mut owned = Vec::new();
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(bytes)
            .take(16 << 20)
            .read_to_end(&mut owned)
            .map_err(|e| format!("{src}: gzip-compressed user-data does not decompress: {e}"))?;
        &owned[..]
    } else {
        bytes
    };
    match format(bytes) {
        Err(what) => Err(format!(
            "{src}: user-data is {what}, which KatesKit does not read; give a single #cloud-config \
             document (KatesKit maps its keys, docs/agent.md \"NoCloud mapping\")"
        )),
        Ok(Format::Empty) => Ok(()),
        Ok(Format::Unknown) => {
            m.warnings.push(format!(
                "{src}: not a #cloud-config document (its first line names no format cloud-init knows); ignored"
            ));
            Ok(())
        }
        Ok(Format::CloudConfig) => {
            let tagged = serde_yaml_ng::from_slice::<Yaml>(&super::local_binary_tags(bytes)).ok();
            cloud_config(m, &yaml(bytes, src)?, tagged.as_ref(), src)
        }
    }
}

fn cloud_config(
    m: &mut Mapped,
    doc: &Yaml,
    tagged: Option<&Yaml>,
    src: &str,
) -> Result<(), String> {
    let doc = mapping(doc, src)?;
    if let Some(k) = COMMAND_KEYS.iter().find(|k| doc.contains_key(**k)) {
        return Err(format!(
            "{src}: `{k}` runs shell commands, which KatesKit does not do from a config drive; \
             remove it (write files with write_files, and set hostname, SSH keys, NTP and the \
             time zone with their keys)"
        ));
    }
    let get = |k: &str| doc.get(k);
    let ksrc = |k: &str| format!("{src} {k}");
    let preserve = get("preserve_hostname").and_then(Yaml::as_bool) == Some(true);
    if preserve {
        for k in ["host.hostname", "agent.fqdn"] {
            let (sec, key) = k.split_once('.').expect("dotted");
            if let Some(obj) = m.layer.tree.get_mut(sec).and_then(|v| v.as_object_mut()) {
                obj.remove(key);
            }
            m.layer.origin.remove(k);
        }
    } else {
        super::logins::hostname(
            m,
            get("hostname"),
            get("fqdn"),
            get("prefer_fqdn_over_hostname"),
            src,
        )?;
    }
    let mut keys: Vec<String> = match m.get("host", "ssh_authorized_keys") {
        Some(v) => serde_json::from_value(v.clone()).unwrap_or_default(),
        None => Vec::new(),
    };
    let mut key_srcs: Vec<String> = m
        .layer
        .origin
        .get("host.ssh_authorized_keys")
        .cloned()
        .into_iter()
        .collect();
    for (k, v) in doc {
        let key = key_str(k);
        match key.as_str() {
            "hostname" | "fqdn" | "prefer_fqdn_over_hostname" | "preserve_hostname" => {}
            "ssh_authorized_keys" => {
                keys.extend(strings(v, &ksrc(&key))?);
                key_srcs.push(ksrc(&key));
            }
            "users" => {
                if super::logins::users(m, v, &ksrc(&key), &mut keys)? {
                    key_srcs.push(ksrc(&key));
                }
            }
            "write_files" => {
                let t = tagged.and_then(|t| t.get("write_files"));
                let files = super::files::map(v, t, &ksrc(&key))?;
                m.set("agent", "write_files", json!(files), &ksrc(&key));
            }
            "timezone" => {
                let Some(tz) = v.as_str() else {
                    return Err(format!(
                        "{}: expected a zone name like Europe/Berlin, found {}",
                        ksrc(&key),
                        kind(v)
                    ));
                };
                m.set("host", "timezone", json!(tz), &ksrc(&key));
            }
            "ntp" => ntp(m, v, &ksrc(&key))?,
            other => m.unmapped(src, other, "no KatesKit equivalent"),
        }
    }
    if !key_srcs.is_empty() {
        keys.dedup();
        m.set(
            "host",
            "ssh_authorized_keys",
            json!(keys),
            &key_srcs.join(" + "),
        );
    }
    Ok(())
}

/// `ntp`: servers and pools become timesyncd's `NTP=`; `enabled: false` sets none.
fn ntp(m: &mut Mapped, v: &Yaml, src: &str) -> Result<(), String> {
    let Some(map) = v.as_mapping() else {
        return Err(format!(
            "{src}: expected a mapping (servers, pools), found {}",
            kind(v)
        ));
    };
    let mut servers = Vec::new();
    let mut enabled = true;
    for (k, val) in map {
        match key_str(k).as_str() {
            "servers" | "pools" => servers.extend(strings(val, &format!("{src}.{}", key_str(k)))?),
            "enabled" => enabled = val.as_bool().unwrap_or(true),
            "ntp_client" if matches!(val.as_str(), Some("auto" | "systemd-timesyncd")) => {}
            other => m.unmapped(
                src,
                other,
                "KatesKit configures systemd-timesyncd with servers and pools only",
            ),
        }
    }
    m.set(
        "host",
        "ntp_servers",
        json!(if enabled { servers } else { Vec::new() }),
        src,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(doc: &str) -> Result<Mapped, String> {
        let mut m = Mapped::new();
        map(&mut m, doc.as_bytes(), "ud").map(|_| m)
    }

    #[test]
    fn hostname_and_fqdn_semantics() {
        let m = run("#cloud-config\nhostname: a.example.org\n").unwrap();
        assert_eq!(m.layer.tree["host"]["hostname"], "a");
        assert_eq!(m.layer.tree["agent"]["fqdn"], "a.example.org");
        let m = run("#cloud-config\nhostname: b\nfqdn: a.example.org\n").unwrap();
        assert_eq!(m.layer.tree["host"]["hostname"], "b");
        assert_eq!(m.layer.tree["agent"]["fqdn"], "a.example.org");
        let m =
            run("#cloud-config\nfqdn: a.example.org\nprefer_fqdn_over_hostname: true\n").unwrap();
        assert_eq!(m.layer.tree["host"]["hostname"], "a.example.org");
    }

    #[test]
    fn keys_from_users_and_top_level_combine() {
        let m = run("#cloud-config\nssh_authorized_keys: [k1]\nusers:\n- default\n- name: ops\n  ssh_authorized_keys: [k2]\n  sudo: ALL\n").unwrap();
        assert_eq!(
            m.layer.tree["host"]["ssh_authorized_keys"],
            json!(["k1", "k2"])
        );
        assert!(
            m.warnings
                .iter()
                .any(|w| w.contains("`sudo` is not mapped")),
            "{:?}",
            m.warnings
        );
        assert!(m
            .warnings
            .iter()
            .any(|w| w.contains("user `ops` is not created")));
    }

    #[test]
    fn commands_and_other_formats_are_refused() {
        for (doc, what) in [
            (
                "#cloud-config\nruncmd: [ls]\n",
                "`runcmd` runs shell commands",
            ),
            (
                "#cloud-config\nbootcmd: [ls]\n",
                "`bootcmd` runs shell commands",
            ),
            ("#include\nhttp://x/\n", "an #include list"),
            ("#!/bin/sh\necho\n", "a script"),
            (
                "Content-Type: multipart/mixed; boundary=x\n",
                "MIME multipart",
            ),
        ] {
            let e = run(doc).err().unwrap_or_default();
            assert!(e.starts_with("ud: ") && e.contains(what), "{doc}: {e}");
        }
    }

    #[test]
    fn ntp_and_timezone() {
        let m = run("#cloud-config\ntimezone: Europe/Paris\nntp:\n  servers: [a]\n  pools: [b]\n")
            .unwrap();
        assert_eq!(m.layer.tree["host"]["ntp_servers"], json!(["a", "b"]));
        assert_eq!(m.layer.tree["host"]["timezone"], "Europe/Paris");
    }
}
