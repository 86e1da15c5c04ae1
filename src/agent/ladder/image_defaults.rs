//! `/etc/kateskit/image.json`, the lowest rung of the ladder, as the NixOS module writes it:
//!
//! ```json
//! { "apiVersion": "kateskit.dev/v1", "kind": "ImageDefaults", "variant": "iso",
//!   "cluster": "rack", "node": "s1" | null, "nodes": { "<name>": <public NodeConfig>, ... } }
//! ```
//!
//! A per-node image names its node. A generic image carries every node of the cluster and the
//! machine picks its own by the MAC addresses of its physical links, so one image can boot a
//! whole rack. A plain NodeConfig
//! (full or partial) is accepted as well.

use serde_json::Value;

use crate::agent::ladder::merge::Layer;
use crate::agent::AgentEnv;

/// The config tree this machine takes from the image defaults, and a note on how it was chosen.
pub fn select(doc: Value, env: &AgentEnv, source: &str) -> Result<(Value, String), String> {
    if doc.get("kind").and_then(Value::as_str) != Some("ImageDefaults") {
        return Ok((doc, source.to_string()));
    }
    let nodes = doc.get("nodes").and_then(Value::as_object);
    if let Some(name) = doc.get("node").and_then(Value::as_str) {
        let cfg = nodes.and_then(|n| n.get(name)).ok_or_else(|| {
            format!("{source}: node `{name}` is not among its `nodes`; rebuild the image")
        })?;
        return Ok((cfg.clone(), format!("{source} (node {name})")));
    }
    let Some(nodes) = nodes.filter(|n| !n.is_empty()) else {
        return Ok((Value::Object(Default::default()), source.to_string()));
    };
    // Physical links only: a bridge, veth or VLAN may carry any MAC, including another node's.
    let here: Vec<String> = crate::agent::ladder::fetch::mac::physical(env)
        .into_iter()
        .map(|(_, mac)| mac)
        .collect();
    let mac_of = |cfg: &Value| -> Option<String> {
        cfg.pointer("/node/macs")?
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_ascii_lowercase)
            .find(|m| here.contains(m))
    };
    let hits: Vec<(&String, String)> = nodes
        .iter()
        .filter_map(|(name, cfg)| mac_of(cfg).map(|mac| (name, mac)))
        .collect();
    match hits.as_slice() {
        [] => Ok((
            Value::Object(Default::default()),
            format!(
                "{source} (no node matches this machine's MACs {})",
                here.join(", ")
            ),
        )),
        [(name, mac)] => Ok((
            nodes[name.as_str()].clone(),
            format!("{source} (node {name} by MAC {mac})"),
        )),
        many => Err(format!(
            "{source}: this machine's MACs match several nodes ({}); give each machine its own MACs in cluster.toml",
            many.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
        )),
    }
}
/// Where the image's Nix module writes the defaults, relative to the root.
pub const IMAGE_DEFAULTS: &str = "etc/kateskit/image.json";

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
pub fn read(env: &AgentEnv) -> Result<ImageDefaults, String> {
    let path = env.path(IMAGE_DEFAULTS);
    match std::fs::read(&path) {
        Ok(b) => {
            let src = format!("image defaults /{IMAGE_DEFAULTS}");
            let doc = crate::agent::ladder::merge::json_layer(&b, &src)?.tree;
            let generic = doc.get("kind").and_then(Value::as_str) == Some("ImageDefaults");
            let embed_partuuid = generic
                .then(|| doc.get("embed_partuuid").and_then(Value::as_str))
                .flatten()
                .map(str::to_string);
            let (tree, desc) = crate::agent::ladder::image_defaults::select(doc, env, &src)?;
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
