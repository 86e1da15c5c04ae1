//! `${var}` templating of the config_url: which values exist and how they are encoded.

use super::mac;
use crate::agent::AgentEnv;

/// Values for `${mac}`, `${uuid}`, `${serial}` and `${hostname}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Identity {
    pub mac: Option<String>,
    pub uuid: Option<String>,
    pub serial: Option<String>,
    pub hostname: Option<String>,
}

fn read_trim(p: std::path::PathBuf) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

impl Identity {
    /// Reads the boot MAC ([`mac::choose`]) and the DMI ids under the root.
    pub fn probe(env: &AgentEnv, hostname: Option<String>) -> Identity {
        Identity {
            mac: mac::choose(env),
            uuid: read_trim(env.path("sys/class/dmi/id/product_uuid"))
                .map(|u| u.to_ascii_lowercase()),
            serial: read_trim(env.path("sys/class/dmi/id/product_serial")),
            hostname: hostname.or_else(|| read_trim(env.path("etc/hostname"))),
        }
    }
}

/// RFC 3986 percent-encoding: every byte except the unreserved `A-Z a-z 0-9 - . _ ~`, so a
/// value (a DMI serial with `/` or spaces, a MAC's `:`) cannot change the URL's structure.
pub fn percent_encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Expands `${var}` (case-insensitive) with percent-encoded values; an unknown or unavailable
/// variable is an error.
pub fn expand(url: &str, id: &Identity) -> Result<String, String> {
    let shown = crate::redact::url(url);
    let mut out = String::new();
    let mut rest = url;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| format!("unclosed `${{` in {shown}"))?
            + start;
        let name = rest[start + 2..end].to_ascii_lowercase();
        let val = match name.as_str() {
            "mac" => &id.mac,
            "uuid" => &id.uuid,
            "serial" => &id.serial,
            "hostname" => &id.hostname,
            _ => return Err(format!("unknown variable ${{{name}}} in {shown}; known: ${{mac}} ${{uuid}} ${{serial}} ${{hostname}}")),
        };
        let val = val
            .as_deref()
            .ok_or_else(|| format!("${{{name}}} in {shown} is not available on this machine"))?;
        out.push_str(&percent_encode(val));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templating() {
        let id = Identity {
            mac: Some("52:54:00:aa:bb:cc".into()),
            uuid: None,
            serial: Some("S 1/2?x".into()),
            hostname: Some("h-1.x_y~z".into()),
        };
        assert_eq!(
            expand("http://x/${mac}/${SERIAL}-${hostname}.json", &id).unwrap(),
            "http://x/52%3A54%3A00%3Aaa%3Abb%3Acc/S%201%2F2%3Fx-h-1.x_y~z.json"
        );
        assert!(expand("http://x/${uuid}", &id)
            .unwrap_err()
            .contains("not available"));
        assert!(expand("http://x/${ip}", &id)
            .unwrap_err()
            .contains("unknown variable"));
        assert_eq!(percent_encode("é"), "%C3%A9");
    }
}
