//! The `config_url` rung and the `phone_home` POST: templating from the machine's identity,
//! bounded retries with backoff, the SHA-256 pin, which servers are trusted ([`trust`]) and how
//! much of an answer is read.

mod http;
pub mod mac;
pub mod spki;
mod template;
pub mod trust;

use std::time::Duration;

use sha2::{Digest, Sha256};

pub use http::{describe, phone_home, read_capped};
pub use template::{expand, percent_encode, Identity};
pub use trust::ExtraCa;

/// Largest config_url body read; a longer one is cut there and refused.
pub const CONFIG_BODY_CAP: u64 = 4 << 20;
/// Largest phone_home answer read (it is only checked for success).
pub const PHONE_HOME_BODY_CAP: u64 = 64 << 10;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{who}: plain http:// can be read and changed by anyone on the network path, and this config can set the node's SSH keys, token and files; set config_sha256 to the body's SHA-256, or serve it over https://")]
    PlainHttp { who: String },
    #[error("{who}: only http:// and https:// URLs are supported")]
    Scheme { who: String },
    #[error("{setting}: {reason}")]
    Ca { setting: String, reason: String },
    #[error("building HTTP client: {0}")]
    Client(String),
    #[error("{who}: HTTP {status}; the server has no config at this URL (check the URL and its ${{...}} variables)")]
    Missing { who: String, status: String },
    #[error("{who}: the body is larger than {cap} bytes{declared}; a node config is far smaller: check the URL")]
    TooLarge {
        who: String,
        cap: u64,
        declared: String,
    },
    #[error("{who}: {reason}")]
    Redirect { who: String, reason: String },
    #[error("{who}: reading body: {reason}")]
    Body { who: String, reason: String },
    #[error("{who}: {reason}")]
    Pin { who: String, reason: String },
    /// `202 Accepted`: the server knows the machine but holds its config until it is approved.
    #[error("{who}: {reason} (the server answered 202 Accepted; approve the machine, e.g. `kateskit netboot approve MAC --node NAME`)")]
    Pending { who: String, reason: String },
    #[error("{who}: no usable answer after {attempts} attempts (last: {last}); check the network and the server")]
    Exhausted {
        who: String,
        attempts: u64,
        last: String,
    },
}

/// What to fetch and how hard to try.
#[derive(Debug, Clone)]
pub struct FetchPlan {
    pub url: String,
    /// Where the URL came from, for messages.
    pub source: String,
    pub sha256: Option<String>,
    /// `agent.config_ca`, trusted in addition to the system store.
    pub ca: Option<ExtraCa>,
    /// `agent.config_tls_sha256`: the SHA-256 of the server's public key, trusted alone.
    pub tls_pin: Option<[u8; 32]>,
    pub timeout: Duration,
    pub retries: u64,
}

impl FetchPlan {
    fn who(&self) -> String {
        format!(
            "config_url {} (from {})",
            crate::redact::url(&self.url),
            self.source
        )
    }

    /// Refuses what must never be fetched: a scheme other than http(s), plain http without a
    /// pin. Done before anything else happens for the fetch (early network, connection).
    pub fn check(&self) -> Result<(), FetchError> {
        let scheme = self
            .url
            .split_once("://")
            .map(|(s, _)| s.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("https") => Ok(()),
            Some("http") if self.sha256.is_some() => Ok(()),
            Some("http") => Err(FetchError::PlainHttp { who: self.who() }),
            _ => Err(FetchError::Scheme { who: self.who() }),
        }
    }
}

/// The pause before retry `attempt` (1-based): 0.25 s doubling, at most 5 s.
pub fn backoff_ms(attempt: u64) -> u64 {
    (250u64 << (attempt - 1).min(5)).min(5_000)
}

/// Fetches the body; plain http without a pin is refused before any connection, 4xx answers,
/// oversized bodies, refused redirects and pin mismatches fail at once, other failures are retried.
pub fn fetch(plan: &FetchPlan) -> Result<Vec<u8>, FetchError> {
    plan.check()?;
    let who = plan.who();
    let client = trust::client(plan.ca.as_ref(), plan.tls_pin)?;
    let mut last = String::new();
    for attempt in 0..=plan.retries {
        if attempt > 0 {
            let ms = backoff_ms(attempt);
            tracing::info!("retrying {who} in {ms} ms ({last})");
            std::thread::sleep(Duration::from_millis(ms));
        }
        match client.get(&plan.url).timeout(plan.timeout).send() {
            Ok(r) if r.status() == reqwest::StatusCode::ACCEPTED => {
                let body = read_capped(r, PHONE_HOME_BODY_CAP, &who).unwrap_or_default();
                return Err(FetchError::Pending {
                    who,
                    reason: pending_reason(&body),
                });
            }
            Ok(r) if r.status().is_success() => {
                let body = read_capped(r, CONFIG_BODY_CAP, &who)?;
                check_pin(&body, plan.sha256.as_deref()).map_err(|reason| FetchError::Pin {
                    who: who.clone(),
                    reason,
                })?;
                return Ok(body);
            }
            Ok(r) if r.status().is_client_error() && r.status().as_u16() != 429 => {
                return Err(FetchError::Missing {
                    who,
                    status: r.status().to_string(),
                });
            }
            Ok(r) => last = format!("HTTP {}", r.status()),
            Err(e) if e.is_redirect() => {
                return Err(FetchError::Redirect {
                    who,
                    reason: describe(e),
                })
            }
            Err(e) if e.is_timeout() => {
                last = format!("timed out after {} s", plan.timeout.as_secs_f32())
            }
            Err(e) => last = describe(e),
        }
    }
    Err(FetchError::Exhausted {
        who,
        attempts: plan.retries + 1,
        last,
    })
}

/// The `reason` of a `{"state":"pending","reason":...}` body, cut to one short printable line
/// (the server is not trusted to write to the console); `pending approval` without one.
pub fn pending_reason(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let r: String = v["reason"]
        .as_str()
        .unwrap_or("pending approval")
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    if r.trim().is_empty() {
        "pending approval".into()
    } else {
        r
    }
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

/// An agent environment rooted at `root`, its command line in `root/cmdline`.
#[cfg(test)]
pub(crate) fn test_env(root: &std::path::Path) -> crate::agent::AgentEnv {
    crate::agent::AgentEnv {
        root: root.into(),
        cmdline: root.join("cmdline"),
        ..crate::agent::AgentEnv::from_env()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_reasons_are_one_short_line() {
        assert_eq!(pending_reason(b""), "pending approval");
        assert_eq!(
            pending_reason(br#"{"state":"pending","reason":"pending approval"}"#),
            "pending approval"
        );
        let long = format!(r#"{{"reason":"a\u001b[2Jb{}"}}"#, "x".repeat(500));
        let r = pending_reason(long.as_bytes());
        assert!(r.starts_with("a[2Jb") && r.len() == 200, "{r}");
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
