//! Reads a flat config tree, the layout of `/run/kateskit/config`, into a ladder layer:
//! `/etc/kateskit/config.d` on the root (the owner's) and `config/` on a config drive.
//! Every component is opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, only
//! regular files are read, and the walk is bounded in entries, depth and bytes.

use std::path::Path;

use serde_json::{Map, Value};

use super::walk::{list, shown_file};
use super::{decode_key, kind_at, parse, tree_path, FlatError};
use crate::agent::ladder::merge::{self as tree, Layer};
use crate::fsutil;

/// `/etc/kateskit/config.d`, relative to the root.
pub const CONFIG_D: &str = "etc/kateskit/config.d";
/// The tree's directory at the root of a config drive.
pub const DRIVE_DIR: &str = "config";
/// Entries (files and directories) one tree may hold.
pub const MAX_ENTRIES: usize = 1024;
/// Directory levels below the tree's directory.
pub const MAX_DEPTH: usize = 16;
/// Largest single file: the drive file limit.
pub const FILE_MAX: u64 = fsutil::DRIVE_FILE_MAX;
/// All files of one tree together.
pub const TOTAL_MAX: u64 = 4 * 1024 * 1024;

pub(super) const CONFIG_D_SHOWN: &str = "/etc/kateskit/config.d";

/// How files of a tree are named in errors and origins, and whether secrets may come from it.
pub struct TreeSource<'a> {
    /// The directory holding the tree's directory (the root's `etc/kateskit`, a drive's mount).
    pub base: &'a Path,
    /// The tree's directory, relative to `base` (`config.d`, `config`).
    pub dir: &'a str,
    /// The tree's directory as shown (`/etc/kateskit/config.d`, `config drive ... config`).
    pub shown: String,
    /// The owner's source: may hold `secrets/`.
    pub owner: bool,
}

/// `/etc/kateskit/config.d` under `root`.
pub fn config_d(root: &Path) -> Result<Option<Layer>, FlatError> {
    let base = root.join("etc/kateskit");
    read_tree(&TreeSource {
        base: &base,
        dir: "config.d",
        shown: CONFIG_D_SHOWN.into(),
        owner: true,
    })
    .map_err(FlatError::on_root)
}

/// A config drive's `config/` tree; `desc` names the drive.
pub fn drive(mount: &Path, desc: &str) -> Result<Option<Layer>, FlatError> {
    read_tree(&TreeSource {
        base: mount,
        dir: DRIVE_DIR,
        shown: format!("{desc} {DRIVE_DIR}"),
        owner: false,
    })
}

/// Reads the tree into a layer whose every leaf's origin is its file. None when the tree's
/// directory does not exist.
pub fn read_tree(src: &TreeSource) -> Result<Option<Layer>, FlatError> {
    let Some(files) = list(src)? else {
        return Ok(None);
    };
    let mut layer = Layer {
        tree: Value::Object(Map::new()),
        origin: Default::default(),
    };
    let mut total = 0u64;
    for segs in files {
        let file = shown_file(src, &segs);
        let keys = segs
            .iter()
            .map(|s| decode_key(s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|why| FlatError::BadName {
                file: file.clone(),
                why,
            })?;
        let rel = format!("{}/{}", src.dir, segs.join("/"));
        let (bytes, mode) = fsutil::read_beneath_mode(src.base, &rel, FILE_MAX)
            .map_err(|source| FlatError::Read {
                file: file.clone(),
                source,
            })?
            .unwrap_or_default();
        total += bytes.len() as u64;
        if total > TOTAL_MAX {
            return Err(FlatError::TooLarge {
                dir: src.shown.clone(),
                max: TOTAL_MAX,
            });
        }
        let text =
            String::from_utf8(bytes).map_err(|_| FlatError::NotUtf8 { file: file.clone() })?;
        add_value(&mut layer, &keys, &text, mode, src.owner, &file)?;
    }
    Ok(Some(layer))
}

/// Types `text` by the schema at `keys`, checks who may set a secret, and adds the value to
/// `layer` with `file` as its origin.
pub fn add_value(
    layer: &mut Layer,
    keys: &[String],
    text: &str,
    mode: u32,
    owner: bool,
    file: &str,
) -> Result<(), FlatError> {
    let kind = kind_at(keys).map_err(|source| FlatError::UnknownPath {
        file: file.to_string(),
        source,
    })?;
    let secret = keys
        .first()
        .is_some_and(|k| k == crate::redact::SECRETS_KEY);
    if secret && !owner {
        return Err(FlatError::SecretNotOwner {
            file: file.to_string(),
        });
    }
    if secret && mode & 0o077 != 0 {
        return Err(FlatError::SecretMode {
            file: file.to_string(),
            mode,
        });
    }
    let path = tree_path(keys);
    let value = parse(&kind, text, secret).map_err(|b| FlatError::BadValue {
        file: file.to_string(),
        line: b.line,
        path: path.clone(),
        msg: b.msg,
    })?;
    if let Some(line) = report_view_line(keys, &value) {
        return Err(FlatError::BadValue {
            file: file.to_string(),
            line: Some(line),
            path,
            msg: "is the report's view of a written file (path, mode, sha256): the tree never                   holds a file's content; give {\"path\": ..., \"content\": ...} or drop the line"
                .into(),
        });
    }
    if !insert(&mut layer.tree, keys, value.clone()) {
        return Err(FlatError::Duplicate {
            file: file.to_string(),
            path,
        });
    }
    let mut leaves = Vec::new();
    tree::walk(&value, &path, &mut |p, _| leaves.push(p.to_string()));
    if leaves.is_empty() {
        leaves.push(path);
    }
    for p in leaves {
        layer.origin.insert(p, file.to_string());
    }
    Ok(())
}

/// The 1-based line of an `agent/write_files` item copied from a report (it has a digest
/// where the content would be).
fn report_view_line(keys: &[String], v: &Value) -> Option<usize> {
    if keys != ["agent", "write_files"] {
        return None;
    }
    v.as_array()?
        .iter()
        .position(|i| i.get("sha256").is_some() && i.get("content").is_none())
        .map(|i| i + 1)
}

/// Sets `keys` in `tree` to `v`, making objects on the way; false when something is there.
fn insert(tree: &mut Value, keys: &[String], v: Value) -> bool {
    let Some((last, parents)) = keys.split_last() else {
        return false;
    };
    let mut cur = tree;
    for k in parents {
        let Value::Object(m) = cur else { return false };
        cur = m
            .entry(k.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    match cur {
        Value::Object(m) if !m.contains_key(last) => {
            m.insert(last.clone(), v);
            true
        }
        _ => false,
    }
}

fn empty() -> Layer {
    Layer {
        tree: Value::Object(Map::new()),
        origin: Default::default(),
    }
}

/// `upper` merged over `lower` as one layer (a drive's `config/` over its other files).
pub fn over(lower: Option<Layer>, upper: Option<Layer>) -> Option<Layer> {
    match (lower, upper) {
        (Some(lower), Some(upper)) => {
            let mut m = tree::Merged::new();
            m.push(&lower);
            m.push(&upper);
            Some(Layer {
                tree: m.tree,
                origin: m.origin,
            })
        }
        (lower, upper) => upper.or(lower),
    }
}

/// Splits off the leaves whose origin starts with `prefix` (a drive's `config/` files), so
/// the trust table judges them as their own source: (the rest, those leaves).
pub fn split_off(layer: Option<Layer>, prefix: &str) -> (Option<Layer>, Option<Layer>) {
    let Some(layer) = layer else {
        return (None, None);
    };
    if !layer.origin.values().any(|o| o.starts_with(prefix)) {
        return (Some(layer), None);
    }
    let (mut rest, mut mine) = (empty(), empty());
    for (path, origin) in &layer.origin {
        let keys = super::keys_of_tree(path);
        let Some(v) = keys.iter().try_fold(&layer.tree, |cur, k| cur.get(k)) else {
            continue;
        };
        let to = if origin.starts_with(prefix) {
            &mut mine
        } else {
            &mut rest
        };
        insert(&mut to.tree, &keys, v.clone());
        to.origin.insert(path.clone(), origin.clone());
    }
    let some = |l: Layer| (!l.is_empty()).then_some(l);
    (some(rest), some(mine))
}

#[cfg(test)]
#[path = "input_tests.rs"]
mod tests;
