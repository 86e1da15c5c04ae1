//! The local, file-based rungs of the ladder: image defaults and the embed area.

use std::io::Read;
use std::path::Path;

use serde_json::Value;

use super::tree::Layer;
use super::AgentEnv;

/// Where the image's Nix module writes the defaults, relative to the root.
pub const IMAGE_DEFAULTS: &str = "etc/kateskit/image.json";
/// Embed area locations, in search order, relative to the root.
pub const EMBED_PATHS: [&str; 3] = [
    "run/kateskit/embed.img",
    "iso/kateskit/embed.img",
    "dev/disk/by-partlabel/KATESKIT-EMBED",
];
/// The largest embed area (the raw-disk partition).
const EMBED_MAX: u64 = 1 << 20;

/// Parses a JSON object layer; errors say `<source>: line L column C: ...`.
pub fn json_layer(bytes: &[u8], source: &str) -> Result<Layer, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| {
        let pos = format!(" at line {} column {}", e.line(), e.column());
        let msg = e.to_string();
        format!(
            "{source}: line {} column {}: {}; fix the JSON there",
            e.line(),
            e.column(),
            msg.strip_suffix(&pos).unwrap_or(&msg)
        )
    })?;
    if !v.is_object() {
        return Err(format!(
            "{source}: expected a JSON object (a full or partial NodeConfig), found {}",
            kind(&v)
        ));
    }
    Ok(Layer::uniform(v, source))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `/etc/kateskit/image.json`, written into the image at build time.
pub fn image_defaults(env: &AgentEnv) -> Result<Option<Layer>, String> {
    let path = env.path(IMAGE_DEFAULTS);
    match std::fs::read(&path) {
        Ok(b) => json_layer(&b, &format!("image defaults /{IMAGE_DEFAULTS}")).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!(
            "image defaults /{IMAGE_DEFAULTS}: reading {}: {e}",
            path.display()
        )),
    }
}

/// The raw payload of the first embed area found, with a description of where it was.
///
/// This is the one place that knows the carrier; it reads the area as plain NodeConfig JSON
/// padded with zeros (all zeros = pristine, no config).
pub fn embed_payload(env: &AgentEnv) -> Result<Option<(String, Vec<u8>)>, String> {
    let candidates: Vec<(String, std::path::PathBuf)> = match &env.embed_override {
        Some(p) => vec![(
            format!("embed area {} (KATESKIT_EMBED)", p.display()),
            p.clone(),
        )],
        None => EMBED_PATHS
            .iter()
            .map(|rel| (format!("embed area /{rel}"), env.path(rel)))
            .collect(),
    };
    for (desc, path) in candidates {
        if !path.exists() {
            continue;
        }
        let bytes = read_prefix(&path, EMBED_MAX)
            .map_err(|e| format!("{desc}: reading {}: {e}", path.display()))?;
        let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        if end == 0 {
            continue;
        }
        return Ok(Some((desc, bytes[..end].to_vec())));
    }
    Ok(None)
}

fn read_prefix(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    std::fs::File::open(path)?.take(max).read_to_end(&mut out)?;
    Ok(out)
}

/// The embed area as a layer.
pub fn embed(env: &AgentEnv) -> Result<Option<Layer>, String> {
    match embed_payload(env)? {
        Some((desc, bytes)) => json_layer(&bytes, &desc).map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_name_source_and_position() {
        let e = json_layer(b"{\n  \"node\": {,}\n}", "config drive /dev/sdb").unwrap_err();
        assert_eq!(
            e,
            "config drive /dev/sdb: line 2 column 12: key must be a string; fix the JSON there"
        );
        let e = json_layer(b"[1]", "x").unwrap_err();
        assert_eq!(
            e,
            "x: expected a JSON object (a full or partial NodeConfig), found an array"
        );
    }
}
