//! The `config_url` rung: templating from the machine's identity, bounded retries with
//! backoff, and the optional SHA-256 pin.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::AgentEnv;

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
    /// Reads the first non-loopback MAC (by interface name) and the DMI ids under the root.
    pub fn probe(env: &AgentEnv, hostname: Option<String>) -> Identity {
        let mut names: Vec<String> = std::fs::read_dir(env.path("sys/class/net"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        let mac = names
            .iter()
            .filter(|n| n.as_str() != "lo")
            .filter_map(|n| read_trim(env.path("sys/class/net").join(n).join("address")))
            .find(|m| m != "00:00:00:00:00:00");
        Identity {
            mac: mac.map(|m| m.to_ascii_lowercase()),
            uuid: read_trim(env.path("sys/class/dmi/id/product_uuid"))
                .map(|u| u.to_ascii_lowercase()),
            serial: read_trim(env.path("sys/class/dmi/id/product_serial")),
            hostname: hostname.or_else(|| read_trim(env.path("etc/hostname"))),
        }
    }
}

/// Expands `${var}` (case-insensitive); an unknown or unavailable variable is an error.
pub fn expand(url: &str, id: &Identity) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = url;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| format!("unclosed `${{` in {url}"))?
            + start;
        let name = rest[start + 2..end].to_ascii_lowercase();
        let val = match name.as_str() {
            "mac" => &id.mac,
            "uuid" => &id.uuid,
            "serial" => &id.serial,
            "hostname" => &id.hostname,
            _ => return Err(format!("unknown variable ${{{name}}} in {url}; known: ${{mac}} ${{uuid}} ${{serial}} ${{hostname}}")),
        };
        let val = val
            .as_deref()
            .ok_or_else(|| format!("${{{name}}} in {url} is not available on this machine"))?;
        out.push_str(val);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// What to fetch and how hard to try.
#[derive(Debug, Clone)]
pub struct FetchPlan {
    pub url: String,
    /// Where the URL came from, for messages.
    pub source: String,
    pub sha256: Option<String>,
    pub timeout: Duration,
    pub retries: u64,
}

/// Fetches the body; 4xx answers and pin mismatches fail at once, other failures are retried.
pub fn fetch(plan: &FetchPlan) -> Result<Vec<u8>, String> {
    let who = format!(
        "config_url {} (from {})",
        crate::redact::url(&plan.url),
        plan.source
    );
    if !(plan.url.starts_with("http://") || plan.url.starts_with("https://")) {
        return Err(format!(
            "{who}: only http:// and https:// URLs are supported"
        ));
    }
    let client = reqwest::blocking::Client::builder()
        .timeout(plan.timeout)
        .connect_timeout(plan.timeout)
        .build()
        .map_err(|e| format!("{who}: building HTTP client: {e}"))?;
    let mut last = String::new();
    for attempt in 0..=plan.retries {
        if attempt > 0 {
            let ms = (250u64 << (attempt - 1).min(5)).min(5_000);
            tracing::info!(
                "{}",
                crate::redact::text(&format!("retrying {} in {ms} ms ({last})", plan.url))
            );
            std::thread::sleep(Duration::from_millis(ms));
        }
        match client.get(&plan.url).send() {
            Ok(r) if r.status().is_success() => {
                let body = r
                    .bytes()
                    .map_err(|e| format!("{who}: reading body: {e}"))?
                    .to_vec();
                check_pin(&body, plan.sha256.as_deref()).map_err(|m| format!("{who}: {m}"))?;
                return Ok(body);
            }
            Ok(r) if r.status().is_client_error() && r.status().as_u16() != 429 => {
                return Err(format!("{who}: HTTP {}; the server has no config at this URL (check the URL and its ${{...}} variables)", r.status()));
            }
            Ok(r) => last = format!("HTTP {}", r.status()),
            Err(e) if e.is_timeout() => {
                last = format!("timed out after {} s", plan.timeout.as_secs_f32())
            }
            Err(e) => last = format!("{e}"),
        }
    }
    Err(format!("{who}: no usable answer after {} attempts (last: {last}); check the network and the server", plan.retries + 1))
}

/// Compares the body's SHA-256 with the pin, if any.
pub fn check_pin(body: &[u8], pin: Option<&str>) -> Result<(), String> {
    let Some(pin) = pin else { return Ok(()) };
    let got = hex::encode(Sha256::digest(body));
    if got != pin.trim().to_ascii_lowercase() {
        return Err(format!("body SHA-256 is {got} but config_sha256 pins {pin}; the file changed or was tampered with — update the pin or restore the file"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templating() {
        let id = Identity {
            mac: Some("52:54:00:aa:bb:cc".into()),
            uuid: None,
            serial: Some("S1".into()),
            hostname: Some("h".into()),
        };
        assert_eq!(
            expand("http://x/${mac}/${SERIAL}-${hostname}.json", &id).unwrap(),
            "http://x/52:54:00:aa:bb:cc/S1-h.json"
        );
        assert!(expand("http://x/${uuid}", &id)
            .unwrap_err()
            .contains("not available"));
        assert!(expand("http://x/${ip}", &id)
            .unwrap_err()
            .contains("unknown variable"));
    }

    #[test]
    fn pin() {
        assert!(check_pin(
            b"abc",
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        )
        .is_ok());
        assert!(check_pin(
            b"abd",
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        )
        .unwrap_err()
        .contains("tampered"));
    }
}
