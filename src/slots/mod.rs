//! The node side of A/B upgrades: two store slots on the boot disk, one boot entry per slot on
//! the ESP, and the commands that move between them (`kateskit node stage|commit|rollback|
//! status`). systemd-boot's boot counting decides what boots; this module only writes the
//! inactive slot, names entries and renames them as systemd-bless-boot would.

pub mod commit;
pub mod efivars;
pub mod entry;
pub mod esp;
pub mod fetch;
pub mod layout;
pub mod release;
pub mod slot_write;
pub mod stage;
pub mod state;
pub mod status;
pub mod version;

use std::path::{Path, PathBuf};

pub use version::{compare, Version};

/// Every failure of the slots library; each names the file, disk or variable involved.
#[derive(Debug, thiserror::Error)]
pub enum SlotsError {
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Fs(#[from] crate::fsutil::FsError),
    #[error(transparent)]
    Version(#[from] version::VersionError),
    #[error("{}: {source}", dir.display())]
    Entry {
        dir: PathBuf,
        #[source]
        source: entry::EntryNameError,
    },
    #[error("EFI variable {}: {msg}", path.display())]
    Efivar { path: PathBuf, msg: String },
    #[error(
        "no LoaderEntrySelected in {}: this boot was not started by systemd-boot, so the booted \
         slot is unknown (a two-slot KatesKit image boots through systemd-boot)",
        dir.display()
    )]
    NotBooted { dir: PathBuf },
    #[error("{file}:{line}: {msg}")]
    Sums {
        file: String,
        line: usize,
        msg: String,
    },
    #[error("{file}: {msg}")]
    Release { file: String, msg: String },
    #[error(transparent)]
    Pull(#[from] crate::image::pull::PullError),
    #[error("{}: {msg}", disk.display())]
    Layout { disk: PathBuf, msg: String },
    #[error("{}: {source}", disk.display())]
    Gpt {
        disk: PathBuf,
        #[source]
        source: crate::image::gpt_write::GptWriteError,
    },
    #[error("{file}: {msg}; nothing was written to a slot")]
    Artifact { file: String, msg: String },
    #[error(
        "refusing to stage {target}: it is older than the running {running}; to go back to the \
         other slot use `kateskit node rollback`"
    )]
    Downgrade { running: Version, target: Version },
    #[error(
        "{}: read back of slot partition {index} gave SHA-256 {actual}, wrote {expected}; the slot \
         stays named _empty and the running slot is untouched",
        disk.display()
    )]
    ReadBack {
        disk: PathBuf,
        index: u32,
        expected: String,
        actual: String,
    },
    #[error("{0}")]
    Refused(String),
    #[error("{}: {msg}", path.display())]
    State { path: PathBuf, msg: String },
}

impl SlotsError {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> SlotsError {
        SlotsError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}
