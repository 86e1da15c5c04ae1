//! The local, file-based rungs of the ladder: image defaults and the embed area.

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
        Ok(b) => {
            let src = format!("image defaults /{IMAGE_DEFAULTS}");
            let doc = json_layer(&b, &src)?.tree;
            let (tree, src) = super::image_defaults::select(doc, env, &src)?;
            Ok(Some(Layer::uniform(tree, &src)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!(
            "image defaults /{IMAGE_DEFAULTS}: reading {}: {e}",
            path.display()
        )),
    }
}

/// What the first stamped embed area holds: its config layer and its extra kernel arguments.
pub struct EmbedFound {
    pub desc: String,
    pub layer: Option<Layer>,
    pub kargs: Vec<String>,
}

/// Reads the first stamped embed area, in the carrier order of [`EMBED_PATHS`]. Pristine areas
/// are skipped; a corrupt one is an error, never silently ignored.
pub fn embed(env: &AgentEnv) -> Result<Option<EmbedFound>, String> {
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
        let found = crate::image::embed::read_path(&path).map_err(|e| {
            format!("{desc}: {e}; restamp it with `kateskit image customize` or clear it with `kateskit image reset`")
        })?;
        let Some(area) = found else { continue };
        let layer = match &area.node_config_json {
            Some(json) => Some(json_layer(json.as_bytes(), &desc)?),
            None => None,
        };
        return Ok(Some(EmbedFound {
            desc,
            layer,
            kargs: area.kargs,
        }));
    }
    Ok(None)
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
