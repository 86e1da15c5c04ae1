//! What removable media configured on the first boot, kept for the boots after it.
//!
//! Config drives (and embed partitions on other disks) are read on the first boot only: after
//! that anyone could plug one in. A node that a drive configured must still come up the same way
//! once the drive is gone or ignored, so the layers the drive gave on the first successful run
//! (already limited by the trust table) are recorded next to the identity record and stand in
//! for the drive on later boots. Removing the identity record makes the next boot a first boot,
//! which reads the drive afresh and replaces this record.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::agent::ladder::merge::Layer;
use crate::agent::AgentEnv;
use crate::fsutil::{self, FsError};

/// The record, relative to the root (0600: a drive may carry the node's token).
pub const MEDIA: &str = "var/lib/kateskit/first-boot-media.json";

/// One layer a removable medium gave: the ladder rung it went into and its description.
#[derive(Debug, Clone)]
pub struct MediaLayer {
    pub rung: String,
    pub desc: String,
    pub layer: Layer,
}

#[derive(Serialize, Deserialize)]
struct Record {
    version: u32,
    layers: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    rung: String,
    desc: String,
    tree: Value,
    origin: BTreeMap<String, String>,
}

fn path(env: &AgentEnv) -> PathBuf {
    env.path(MEDIA)
}

/// Replaces the record with `layers` (none: the record is removed).
pub fn save(env: &AgentEnv, layers: &[MediaLayer]) -> Result<(), FsError> {
    let path = path(env);
    if layers.is_empty() {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(FsError {
                action: "removing",
                path,
                source: e,
            }),
            _ => Ok(()),
        };
    }
    let rec = Record {
        version: 1,
        layers: layers
            .iter()
            .map(|m| Entry {
                rung: m.rung.clone(),
                desc: m.desc.clone(),
                tree: m.layer.tree.clone(),
                origin: m.layer.origin.clone(),
            })
            .collect(),
    };
    let mut body = serde_json::to_vec_pretty(&rec).expect("record serializes");
    body.push(b'\n');
    fsutil::create_dir_mode(path.parent().expect("has a parent"), 0o700)?;
    fsutil::write_atomic(&path, &body, 0o600)
}

/// The recorded layers; none when there is no record. A damaged record is an error: it is the
/// agent's own file, and silently dropping it would reconfigure the node.
pub fn load(env: &AgentEnv) -> Result<Vec<MediaLayer>, String> {
    let path = path(env);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    };
    let rec: Record = serde_json::from_slice(&bytes).map_err(|e| {
        format!(
            "{}: {e}; the agent wrote this file on the first boot: remove it together with /{} \
             to read the config drive afresh",
            path.display(),
            crate::agent::ladder::identity::IDENTITY
        )
    })?;
    Ok(rec
        .layers
        .into_iter()
        .map(|e| MediaLayer {
            desc: format!("{} (recorded on the first boot)", e.desc),
            rung: e.rung,
            layer: Layer {
                tree: e.tree,
                origin: e
                    .origin
                    .into_iter()
                    .map(|(k, v)| (k, format!("{v} (recorded on the first boot)")))
                    .collect(),
            },
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_and_an_empty_one_is_removed() {
        let d = tempfile::tempdir().unwrap();
        let env = crate::agent::ladder::fetch::test_env(d.path());
        assert!(load(&env).unwrap().is_empty());
        let layer = Layer::uniform(serde_json::json!({"host": {"hostname": "n1"}}), "drive X");
        let m = MediaLayer {
            rung: "config drive".into(),
            desc: "config drive X".into(),
            layer,
        };
        save(&env, std::slice::from_ref(&m)).unwrap();
        let back = load(&env).unwrap();
        assert_eq!(back[0].layer.tree, m.layer.tree);
        assert!(back[0].desc.contains("recorded on the first boot"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env.path(MEDIA))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        save(&env, &[]).unwrap();
        assert!(!env.path(MEDIA).exists());
        std::fs::write(env.path(MEDIA), b"{").unwrap();
        assert!(load(&env).unwrap_err().contains("remove it"));
    }
}
