//! Requests and answers shared by config_url and phone_home: capped bodies, error text with
//! the URL left out, and the phone-home POST.

use std::io::Read;

use super::FetchError;
use crate::agent::ladder::effective::Effective;
use crate::agent::AgentEnv;

/// POSTs the status to `agent.phone_home`; a failure is a warning (the URL shown redacted).
pub fn phone_home(env: &AgentEnv, e: &Effective, body: Vec<u8>) -> Option<String> {
    let url = e.agent.phone_home.as_deref()?;
    let who = format!("phone_home {}", crate::redact::url(url));
    let ca = match e.agent.config_ca.as_deref() {
        Some(v) => {
            let origin = e.merged.source_of("agent.config_ca").unwrap_or("config");
            match super::ExtraCa::load(env, v, origin) {
                Ok(ca) => Some(ca),
                Err(err) => return Some(format!("{who}: {err}")),
            }
        }
        None => None,
    };
    let pin = e
        .agent
        .config_tls_sha256
        .as_deref()
        .and_then(super::spki::parse_pin);
    let client = match super::trust::client(ca.as_ref(), pin) {
        Ok(c) => c,
        Err(err) => return Some(format!("{who}: {err}")),
    };
    let r = client
        .post(url)
        .timeout(std::time::Duration::from_secs(
            e.agent.http_timeout_s.max(1),
        ))
        .header("content-type", "application/json")
        .body(body)
        .send();
    match r {
        Ok(r) => {
            let status = r.status();
            let read = read_capped(r, super::PHONE_HOME_BODY_CAP, &who);
            match (status.is_success(), read) {
                (true, Ok(_)) => None,
                (true, Err(err)) => Some(err.to_string()),
                (false, _) => Some(format!("{who}: HTTP {status}")),
            }
        }
        Err(err) => Some(format!("{who}: {}", describe(err))),
    }
}

/// Reads at most `cap` bytes of the body; more is an error, and the rest is never read.
pub fn read_capped(
    r: reqwest::blocking::Response,
    cap: u64,
    who: &str,
) -> Result<Vec<u8>, FetchError> {
    let too_large = |declared: String| FetchError::TooLarge {
        who: who.to_string(),
        cap,
        declared,
    };
    if let Some(len) = r.content_length().filter(|&l| l > cap) {
        return Err(too_large(format!(" (Content-Length {len})")));
    }
    let mut body = Vec::new();
    r.take(cap + 1)
        .read_to_end(&mut body)
        .map_err(|e| FetchError::Body {
            who: who.to_string(),
            reason: e.to_string(),
        })?;
    if body.len() as u64 > cap {
        return Err(too_large(String::new()));
    }
    Ok(body)
}

/// reqwest's error with its causes (the TLS reason is in the chain), the URL redacted.
pub fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut s = e.to_string();
    let mut cur = std::error::Error::source(&e);
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s = format!("{s}: {m}");
        }
        cur = c.source();
    }
    s
}
