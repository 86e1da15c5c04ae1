//! The config ladder, lowest priority first: image defaults < embed area < config drive <
//! kernel command line < config_url (docs/agent.md "Merge rules").

use std::time::Duration;

use super::effective::agent_shape;
use super::fetch::{self, FetchPlan, Identity};
use super::tree::{self, Layer, Merged};
use super::{cmdline, drive, network, sources, AgentEnv};

/// The local rungs merged, plus notes for the report.
#[derive(Debug, Clone)]
pub struct Ladder {
    pub merged: Merged,
    /// The sources that contributed, in merge order.
    pub used: Vec<String>,
    pub warnings: Vec<String>,
}

fn push(l: &mut Ladder, name: &str, layer: Option<Layer>) {
    if let Some(layer) = layer.filter(|l| !l.is_empty()) {
        l.merged.push(&layer);
        l.used.push(name.to_string());
    }
}

/// The kernel command line layers: `ip=` first, then `kateskit.*` (explicit keys win).
pub fn cmdline_layers(
    line: &str,
    src: &str,
    shape: &serde_json::Value,
) -> Result<Vec<Layer>, String> {
    let args = cmdline::split(line, src).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for (k, v) in &args {
        if k == "ip" {
            out.push(network::ip_arg(v.as_deref().unwrap_or(""), src)?);
        }
    }
    let mut l = cmdline::layer(&args, src).map_err(|e| e.to_string())?;
    cmdline::coerce(&mut l.tree, Some(shape));
    out.push(l);
    Ok(out)
}

/// Reads every local rung (no network).
pub fn local(env: &AgentEnv) -> Result<Ladder, String> {
    let mut l = Ladder {
        merged: Merged::new(),
        used: Vec::new(),
        warnings: Vec::new(),
    };
    push(&mut l, "image defaults", sources::image_defaults(env)?);
    let embed = sources::embed(env)?;
    let (embed_layer, embed_kargs) = match embed {
        Some(e) => (e.layer, Some((e.desc, e.kargs))),
        None => (None, None),
    };
    push(&mut l, "embed area", embed_layer);
    let (layer, warnings) = drive::read(env)?;
    l.warnings.extend(warnings);
    push(&mut l, "config drive", layer);
    let src = env.cmdline.display().to_string();
    match std::fs::read_to_string(&env.cmdline) {
        Ok(line) => {
            let mut shape = agent_shape();
            tree::merge_into(&mut shape, &l.merged.tree);
            for layer in cmdline_layers(&line, &src, &shape)? {
                push(&mut l, "kernel command line", Some(layer));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => l
            .warnings
            .push(format!("kernel command line {src} not found; skipped")),
        Err(e) => return Err(format!("kernel command line {src}: {e}")),
    }
    // Kernel arguments stamped into the embed area count as appended to the command line.
    if let Some((desc, kargs)) = embed_kargs.filter(|(_, k)| !k.is_empty()) {
        let mut shape = agent_shape();
        tree::merge_into(&mut shape, &l.merged.tree);
        let src = format!("{desc} (kernel arguments)");
        for layer in cmdline_layers(&kargs.join(" "), &src, &shape)? {
            push(&mut l, "kernel command line", Some(layer));
        }
    }
    l.used.dedup();
    Ok(l)
}

/// The config_url to fetch, if any, expanded for this machine.
pub fn fetch_plan(env: &AgentEnv, l: &Ladder) -> Result<Option<FetchPlan>, String> {
    let t = &l.merged.tree;
    let Some(raw) = tree::get(t, "agent.config_url").and_then(|v| v.as_str()) else {
        return Ok(None);
    };
    let source = l
        .merged
        .source_of("agent.config_url")
        .unwrap_or("config")
        .to_string();
    let hostname = tree::get(t, "host.hostname")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let url = fetch::expand(raw, &Identity::probe(env, hostname))
        .map_err(|e| format!("{source}: {e}"))?;
    let num = |k: &str, d: u64| tree::get(t, k).and_then(|v| v.as_u64()).unwrap_or(d);
    let sha256 = tree::get(t, "agent.config_sha256")
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
    let ca = match tree::get(t, "agent.config_ca").and_then(|v| v.as_str()) {
        Some(v) => {
            let origin = l.merged.source_of("agent.config_ca").unwrap_or("config");
            Some(fetch::ExtraCa::load(env, v, origin).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    let plan = FetchPlan {
        url,
        source,
        sha256,
        ca,
        timeout: Duration::from_secs(num("agent.http_timeout_s", 10).max(1)),
        retries: num("agent.fetch_retries", 4),
    };
    plan.check().map_err(|e| e.to_string())?;
    Ok(Some(plan))
}

/// Fetches the config_url rung and merges it on top.
pub fn remote(plan: &FetchPlan, l: &mut Ladder) -> Result<(), String> {
    let body = fetch::fetch(plan).map_err(|e| e.to_string())?;
    let shown = fetch::shown_url(&plan.url);
    let layer = sources::json_layer(&body, &format!("config_url {shown}"))?;
    push(l, "config_url", Some(layer));
    Ok(())
}
