//! The embed area rung: the stamped area of the boot medium (ISO file, netboot copy) or of
//! this node's `KATESKIT-EMBED` partition.

use crate::agent::ladder::merge::{json_layer, Layer};
use crate::agent::AgentEnv;

/// Embed area files, in search order, relative to the root; then the `KATESKIT-EMBED`
/// partition [`crate::agent::ladder::embed_part`] chooses.
pub const EMBED_PATHS: [&str; 2] = ["run/kateskit/embed.img", "iso/kateskit/embed.img"];

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
pub fn read(
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
        let (choice, n) = crate::agent::ladder::embed_part::choose(env, partuuid);
        notes.extend(n);
        match choice {
            crate::agent::ladder::embed_part::Choice::Own(c, why) => candidates.push((
                format!(
                    "embed area {} (partition {EMBED_PART}, {why})",
                    c.dev.display()
                ),
                c.dev,
                false,
            )),
            crate::agent::ladder::embed_part::Choice::Foreign(c) => candidates.push((
                format!(
                    "embed area {} (partition {EMBED_PART} on disk {}, not the root disk)",
                    c.dev.display(),
                    c.disk
                ),
                c.dev,
                true,
            )),
            crate::agent::ladder::embed_part::Choice::None => {}
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
