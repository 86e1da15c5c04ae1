//! The ladder's k3os sources: a `config.yaml` at the root of a config drive, `k3os.*` kernel
//! arguments and a k3os config served at `config_url` ([`crate::k3os`]). Each becomes a layer
//! of the same tree as the other rungs; every key without an equivalent becomes a warning in
//! the status naming the key and its source.

use crate::agent::ladder::merge::Layer;
use crate::k3os;

/// The file k3os reads from its config media, at the drive's root.
pub const DRIVE_FILE: &str = "config.yaml";

fn finish(m: k3os::Mapped) -> (Option<Layer>, Vec<String>) {
    let warnings = m.unmapped.iter().map(ToString::to_string).collect();
    let layer = (!m.layer.is_empty()).then_some(m.layer);
    (layer, warnings)
}

/// A k3os config.yaml (`bytes`) read from `desc` (a drive, or a config_url).
pub fn config_layer(bytes: &[u8], desc: &str) -> Result<(Option<Layer>, Vec<String>), String> {
    let src = format!("{desc} (k3os config)");
    let cfg = k3os::parse_yaml(bytes, &src).map_err(|e| e.to_string())?;
    let m = k3os::map(&cfg, &src).map_err(|e| e.to_string())?;
    Ok(finish(m))
}

/// The `k3os.*` arguments of a kernel command line.
pub fn kargs_layer(
    args: &[(String, Option<String>)],
    src: &str,
) -> Result<(Option<Layer>, Vec<String>), String> {
    match k3os::cmdline::map(args, src).map_err(|e| e.to_string())? {
        Some(m) => Ok(finish(m)),
        None => Ok((None, Vec::new())),
    }
}
