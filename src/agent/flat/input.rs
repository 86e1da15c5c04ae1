//! Reads a flat config tree, the layout of `/run/kateskit/config`, into a ladder layer:
//! `/etc/kateskit/config.d` on the root (the owner's) and `config/` on a config drive.
//! Every component is opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, only
//! regular files are read, and the walk is bounded in entries, depth and bytes.

use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use serde_json::{Map, Value};

use super::super::tree::{self, Layer};
use super::{decode_key, kind_at, parse, tree_path, UnknownPath};
use crate::fsutil::{self, ReadError};

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

/// A flat config file that cannot be used, named by its path.
#[derive(Debug, thiserror::Error)]
pub enum FlatError {
    #[error("{file}: {source}; `kateskit agent config list` shows the paths a run writes")]
    UnknownPath { file: String, source: UnknownPath },
    #[error("{file}{}: {path}: {msg}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    BadValue {
        file: String,
        line: Option<usize>,
        path: String,
        msg: String,
    },
    #[error("{file}: {why}; rename it")]
    BadName { file: String, why: String },
    #[error("{file}: secrets are read from flat files only on the owner's sources ({}, KATESKIT_VALUE_* files); give them in the drive's kateskit.json, or stamp the node", CONFIG_D_SHOWN)]
    SecretNotOwner { file: String },
    #[error("{file}: mode {mode:04o} lets other users read or change a secret; `chmod 600` it (no group or other access)")]
    SecretMode { file: String, mode: u32 },
    #[error("{dir}: more than {max} files and directories; a config tree holds one file per value")]
    TooMany { dir: String, max: usize },
    #[error("{file}: more than {max} directory levels deep")]
    TooDeep { file: String, max: usize },
    #[error("{dir}: the files add up to more than {max} bytes")]
    TooLarge { dir: String, max: u64 },
    #[error("{file}: two files name the same value (`{path}`); keep one")]
    Duplicate { file: String, path: String },
    #[error("{file}: {source}; flat config files must be regular files (on NixOS, give the environment.etc entry a `mode` so it is copied, not linked)")]
    Read {
        file: String,
        #[source]
        source: ReadError,
    },
    #[error("{file}: not UTF-8 text; a flat config file holds one value as text")]
    NotUtf8 { file: String },
    #[error("{var}: {why}")]
    Variable { var: String, why: String },
}

const CONFIG_D_SHOWN: &str = "/etc/kateskit/config.d";

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

fn open_dir(base: &Path, rel: &str, shown: &str) -> Result<Option<OwnedFd>, FlatError> {
    let err = |source| FlatError::Read {
        file: shown.to_string(),
        source,
    };
    let io = |action, e: Errno| {
        err(ReadError::Io {
            action,
            path: base.join(rel),
            source: e.into(),
        })
    };
    let bfd = match rustix::fs::open(
        base,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(None),
        Err(e) => return Err(io("opening directory", e)),
    };
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    match rustix::fs::openat2(&bfd, rel, flags, Mode::empty(), resolve) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::NOENT) => Ok(None),
        Err(Errno::LOOP) => Err(err(ReadError::Symlink {
            path: base.join(rel),
        })),
        Err(Errno::NOTDIR) => Err(err(ReadError::NotRegular {
            path: base.join(rel),
            kind: "file where a directory was expected",
        })),
        Err(e) => Err(io("opening directory", e)),
    }
}

/// The tree's regular files, as relative name segments, sorted; None when it is absent.
fn list(src: &TreeSource) -> Result<Option<Vec<Vec<String>>>, FlatError> {
    let mut files = Vec::new();
    let mut stack: Vec<Vec<String>> = vec![Vec::new()];
    let mut entries = 0usize;
    while let Some(segs) = stack.pop() {
        let rel = std::iter::once(src.dir.to_string())
            .chain(segs.iter().cloned())
            .collect::<Vec<_>>()
            .join("/");
        let shown = shown_file(src, &segs);
        let Some(fd) = open_dir(src.base, &rel, &shown)? else {
            if segs.is_empty() {
                return Ok(None);
            }
            continue;
        };
        let dir = rustix::fs::Dir::read_from(&fd).map_err(|e| FlatError::Read {
            file: shown.clone(),
            source: ReadError::Io {
                action: "listing",
                path: src.base.join(&rel),
                source: e.into(),
            },
        })?;
        for entry in dir {
            let entry = entry.map_err(|e| FlatError::Read {
                file: shown.clone(),
                source: ReadError::Io {
                    action: "listing",
                    path: src.base.join(&rel),
                    source: e.into(),
                },
            })?;
            let Ok(name) = entry.file_name().to_str().map(str::to_string) else {
                return Err(FlatError::BadName {
                    file: format!("{shown}/{}", entry.file_name().to_string_lossy()),
                    why: "the file name is not UTF-8".into(),
                });
            };
            // `.`, `..`, and hidden files (editors' swap files, `.keep`): never a key, as a
            // key's leading `.` is written `%2E`.
            if name.starts_with('.') {
                continue;
            }
            entries += 1;
            if entries > MAX_ENTRIES {
                return Err(FlatError::TooMany {
                    dir: src.shown.clone(),
                    max: MAX_ENTRIES,
                });
            }
            let mut child = segs.clone();
            child.push(name.clone());
            let mut ft = entry.file_type();
            if ft == FileType::Unknown {
                ft = rustix::fs::statat(&fd, name.as_str(), AtFlags::SYMLINK_NOFOLLOW)
                    .map(|st| FileType::from_raw_mode(st.st_mode))
                    .unwrap_or(FileType::Unknown);
            }
            match ft {
                FileType::Directory if child.len() > MAX_DEPTH => {
                    return Err(FlatError::TooDeep {
                        file: shown_file(src, &child),
                        max: MAX_DEPTH,
                    })
                }
                FileType::Directory => stack.push(child),
                // Links and special files are refused when opened, with the reason.
                _ => files.push(child),
            }
        }
    }
    files.sort();
    Ok(Some(files))
}

fn shown_file(src: &TreeSource, segs: &[String]) -> String {
    std::iter::once(src.shown.clone())
        .chain(segs.iter().cloned())
        .collect::<Vec<_>>()
        .join("/")
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
        let text = String::from_utf8(bytes).map_err(|_| FlatError::NotUtf8 { file: file.clone() })?;
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
    let secret = keys.first().is_some_and(|k| k == crate::redact::SECRETS_KEY);
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
