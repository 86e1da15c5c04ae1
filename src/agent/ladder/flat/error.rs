//! Why a flat config file or `KATESKIT_VALUE_*` variable cannot be used: each names the file
//! (path:line where it applies) and the fix.

use super::UnknownPath;
use crate::fsutil::ReadError;

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
    #[error("{file}: secrets are read from flat files only on the owner's sources ({}, KATESKIT_VALUE_* files); give them in the drive's kateskit.json, or stamp the node", super::input::CONFIG_D_SHOWN)]
    SecretNotOwner { file: String },
    #[error("{file}: mode {mode:04o} lets other users read or change a secret; `chmod 600` it (no group or other access)")]
    SecretMode { file: String, mode: u32 },
    #[error(
        "{dir}: more than {max} files and directories; a config tree holds one file per value"
    )]
    TooMany { dir: String, max: usize },
    #[error("{file}: more than {max} directory levels deep")]
    TooDeep { file: String, max: usize },
    #[error("{dir}: the files add up to more than {max} bytes")]
    TooLarge { dir: String, max: u64 },
    #[error("{file}: two files name the same value (`{path}`); keep one")]
    Duplicate { file: String, path: String },
    #[error("{file}: {source}; flat config files must be regular files")]
    Read {
        file: String,
        #[source]
        source: ReadError,
    },
    /// A link on the owner's root: NixOS's `environment.etc` links by default.
    #[error("{file}: {source}; flat config files must be regular files (on NixOS, give the environment.etc entry a `mode` so it is copied, not linked)")]
    Linked {
        file: String,
        #[source]
        source: ReadError,
    },
    #[error("{file}: not UTF-8 text; a flat config file holds one value as text")]
    NotUtf8 { file: String },
    #[error("{var}: {why}")]
    Variable { var: String, why: String },
}

impl FlatError {
    /// On the owner's root a link is most likely NixOS's `environment.etc`: say how to fix it.
    pub fn on_root(self) -> FlatError {
        match self {
            FlatError::Read {
                file,
                source: source @ ReadError::Symlink { .. },
            } => FlatError::Linked { file, source },
            e => e,
        }
    }
}
