//! The local, file-based rungs of the ladder: image defaults and the embed area.

use serde_json::Value;

use super::tree::Layer;
use super::AgentEnv;

/// Where the image's Nix module writes the defaults, relative to the root.
pub const IMAGE_DEFAULTS: &str = "etc/kateskit/image.json";
/// Embed area files, in search order, relative to the root; then the `KATESKIT-EMBED`
/// partition [`super::embed_part`] chooses.
pub const EMBED_PATHS: [&str; 2] = ["run/kateskit/embed.img", "iso/kateskit/embed.img"];

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

/// The image defaults rung: its layer, whether it chose this node (a per-node image, or a
/// generic one by MAC: the owner's config for this machine), and the PARTUUID of the image's
/// own embed partition when the build recorded one (`embed_partuuid`).
#[derive(Default)]
pub struct ImageDefaults {
    pub layer: Option<Layer>,
    pub chose_node: bool,
    pub embed_partuuid: Option<String>,
    /// An image carrying the cluster's nodes where none has this machine's MACs: the note why.
    pub unmatched: Option<String>,
}

/// `/etc/kateskit/image.json`, written into the image at build time.
pub fn image_defaults(env: &AgentEnv) -> Result<ImageDefaults, String> {
    let path = env.path(IMAGE_DEFAULTS);
    match std::fs::read(&path) {
        Ok(b) => {
            let src = format!("image defaults /{IMAGE_DEFAULTS}");
            let doc = json_layer(&b, &src)?.tree;
            let generic = doc.get("kind").and_then(Value::as_str) == Some("ImageDefaults");
            let embed_partuuid = generic
                .then(|| doc.get("embed_partuuid").and_then(Value::as_str))
                .flatten()
                .map(str::to_string);
            let (tree, desc) = super::image_defaults::select(doc, env, &src)?;
            let chose_node = generic && tree.as_object().is_some_and(|m| !m.is_empty());
            Ok(ImageDefaults {
                layer: Some(Layer::uniform(tree, &desc)),
                chose_node,
                embed_partuuid,
                unmatched: (generic && !chose_node && desc != src).then_some(desc),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ImageDefaults::default()),
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
    /// An embed partition on another disk than the root disk (read on the first boot only).
    pub foreign: bool,
}

/// Reads the first stamped embed area: the files of [`EMBED_PATHS`], then this node's
/// `KATESKIT-EMBED` partition. Pristine areas are skipped; a corrupt one is an error, never
/// silently ignored. The notes name embed partitions that were not used, and why.
pub fn embed(
    env: &AgentEnv,
    partuuid: Option<&str>,
) -> Result<(Option<EmbedFound>, Vec<String>), String> {
    let mut notes = Vec::new();
    let mut candidates: Vec<(String, std::path::PathBuf, bool)> = match &env.embed_override {
        Some(p) => vec![(
            format!("embed area {} (KATESKIT_EMBED)", p.display()),
            p.clone(),
            false,
        )],
        None => EMBED_PATHS
            .iter()
            .map(|rel| (format!("embed area /{rel}"), env.path(rel), false))
            .collect(),
    };
    if env.embed_override.is_none() {
        let (choice, n) = super::embed_part::choose(env, partuuid);
        notes.extend(n);
        match choice {
            super::embed_part::Choice::Own(c, why) => candidates.push((
                format!(
                    "embed area {} (partition {EMBED_PART}, {why})",
                    c.dev.display()
                ),
                c.dev,
                false,
            )),
            super::embed_part::Choice::Foreign(c) => candidates.push((
                format!(
                    "embed area {} (partition {EMBED_PART} on disk {}, not the root disk)",
                    c.dev.display(),
                    c.disk
                ),
                c.dev,
                true,
            )),
            super::embed_part::Choice::None => {}
        }
    }
    for (desc, path, foreign) in candidates {
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
        return Ok((
            Some(EmbedFound {
                desc,
                layer,
                kargs: area.kargs,
                foreign,
            }),
            notes,
        ));
    }
    Ok((None, notes))
}

const EMBED_PART: &str = crate::image::gpt::EMBED_PART_NAME;

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
