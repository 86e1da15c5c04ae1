//! The `config_url` rung: the URL the lower rungs name, expanded for this machine, fetched
//! (trust and pinning as docs/agent.md "Fetching" says) and merged on top.

use std::time::Duration;

use crate::agent::ladder::fetch::{self, FetchPlan, Identity};
use crate::agent::ladder::merge::{self, Layer};
use crate::agent::ladder::trust::{self, Source};
use crate::agent::ladder::{push, trusted, Ladder};
use crate::agent::AgentEnv;

/// The config_url to fetch, if any, expanded for this machine.
pub fn plan(env: &AgentEnv, l: &Ladder) -> Result<Option<FetchPlan>, String> {
    let t = &l.merged.tree;
    let Some(raw) = merge::get(t, "agent.config_url").and_then(|v| v.as_str()) else {
        return Ok(None);
    };
    let source = l
        .merged
        .source_of("agent.config_url")
        .unwrap_or("config")
        .to_string();
    let hostname = merge::get(t, "host.hostname")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let url = fetch::expand(raw, &Identity::probe(env, hostname))
        .map_err(|e| format!("{source}: {e}"))?;
    let num = |k: &str, d: u64| merge::get(t, k).and_then(|v| v.as_u64()).unwrap_or(d);
    let sha256 = merge::get(t, "agent.config_sha256")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    if let Some(pin) = &sha256 {
        if pin.len() != 64 || !pin.chars().all(|c| c.is_ascii_hexdigit()) {
            let src = l
                .merged
                .source_of("agent.config_sha256")
                .unwrap_or("config");
            return Err(format!(
                "{src}: config_sha256 `{pin}` is not 64 hex characters"
            ));
        }
    }
    let ca = match merge::get(t, "agent.config_ca").and_then(|v| v.as_str()) {
        Some(v) => {
            let origin = l.merged.source_of("agent.config_ca").unwrap_or("config");
            Some(fetch::ExtraCa::load(env, v, origin).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    let tls_pin = match merge::get(t, "agent.config_tls_sha256").and_then(|v| v.as_str()) {
        Some(v) => {
            let src = l
                .merged
                .source_of("agent.config_tls_sha256")
                .unwrap_or("config");
            let pin = fetch::spki::parse_pin(v).ok_or_else(|| {
                format!(
                    "{src}: config_tls_sha256 `{v}` is not 64 hex characters (the SHA-256 of the \
                     server certificate's SubjectPublicKeyInfo, as `kateskit netboot serve` prints it)"
                )
            })?;
            Some(pin)
        }
        None => None,
    };
    let plan = FetchPlan {
        url,
        source,
        sha256,
        ca,
        tls_pin,
        timeout: Duration::from_secs(num("agent.http_timeout_s", 10).max(1)),
        retries: num("agent.fetch_retries", 4),
    };
    plan.check().map_err(|e| e.to_string())?;
    Ok(Some(plan))
}

/// Merges a fetched config_url body on top, as its trust allows (the fetch, and the wait while
/// the server answers 202, are `phases::pending`'s).
pub fn apply(plan: &FetchPlan, body: &[u8], l: &mut Ladder) -> Result<(), String> {
    let desc = format!("config_url {}", crate::redact::url(&plan.url));
    let mut src = if l.owner_pinned {
        Source::PinnedConfigUrl
    } else {
        Source::ConfigUrl
    };
    // A YAML k3os config instead of JSON (docs/migrate-k3os.md).
    let layer = if crate::k3os::looks_like_k3os(body) {
        src = trust::k3os_on(src);
        let (layer, notes) = crate::agent::ladder::k3os::config_layer(body, &desc)?;
        l.warnings.extend(notes);
        layer.unwrap_or_else(|| Layer::uniform(serde_json::json!({}), &desc))
    } else {
        crate::agent::ladder::merge::json_layer(body, &desc)?
    };
    let layer = trusted(l, src, &desc, layer);
    push(l, "config_url", Some(layer));
    Ok(())
}
