//! When a config_url serves the owner's bytes: its URL and a pin both come from the owner's
//! sources. The pin is either `agent.config_sha256` (of the body) or, on an https:// URL,
//! `agent.config_tls_sha256` (of the server's key: only the holder of that key can answer).

use serde_json::Value;

use crate::agent::ladder::merge;

/// True when the merged config_url and its pin are the ones the owner's rungs set.
pub fn owner_pinned(owner: &Value, merged: &Value) -> bool {
    let get = |t: &Value, k: &str| merge::get(t, k).cloned();
    let same = |k: &str| get(owner, k).is_some() && get(owner, k) == get(merged, k);
    if !same("agent.config_url") {
        return false;
    }
    let https = get(merged, "agent.config_url")
        .and_then(|v| {
            v.as_str()
                .map(|s| s.to_ascii_lowercase().starts_with("https://"))
        })
        .unwrap_or(false);
    same("agent.config_sha256") || (https && same("agent.config_tls_sha256"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_body_pin_or_a_key_pin_on_https() {
        let pin = "a".repeat(64);
        let url = |u: &str, k: &str| json!({"agent": {"config_url": u, k: pin}});
        let tls = url("https://192.0.2.1/c", "config_tls_sha256");
        assert!(owner_pinned(&tls, &tls));
        let body = url("http://192.0.2.1/c", "config_sha256");
        assert!(owner_pinned(&body, &body));
        // A key pin says nothing about a plain http answer.
        let plain = url("http://192.0.2.1/c", "config_tls_sha256");
        assert!(!owner_pinned(&plain, &plain));
        // A URL from a lower rung replaced by another source is not the owner's.
        let other =
            json!({"agent": {"config_url": "https://198.51.100.9/c", "config_tls_sha256": pin}});
        assert!(!owner_pinned(&tls, &other));
        assert!(!owner_pinned(&json!({}), &tls));
    }
}
