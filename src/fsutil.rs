//! File-system helpers for a root process writing into directories that others may share.
//!
//! Every write goes through [`write_via_temp`]: a temp file with a random name created with
//! `O_CREAT|O_EXCL` (tempfile), so a planted name or symlink beside the target is never opened;
//! its mode set with `fchmod` before any byte is written; fsync; rename (which replaces a
//! symlink at the target instead of following it); fsync of the directory. Directories get a
//! mode only when this process created them. Reads of files a user may have planted use
//! [`read_nofollow`] and [`read_beneath`] (module `read`).

mod read;

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub use read::{
    read_beneath, read_beneath_mode, read_nofollow, read_nofollow_mode, ReadError, DRIVE_FILE_MAX,
};

#[derive(Debug, thiserror::Error)]
#[error("{action} {path}")]
pub struct FsError {
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

fn ctx<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> FsError + 'a {
    move |source| FsError {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// The directory a relative or absolute file path lives in (`.` for a bare name).
fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Writes `data` to `path` atomically with the given mode; readers see the old or the new file.
/// A symlink at `path` is replaced, never written through.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), FsError> {
    write_via_temp(path, data, mode, true)
}

/// Like [`write_atomic`] but fails if `path` already exists (hard link, so no window for a race).
pub fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<(), FsError> {
    write_via_temp(path, data, mode, false)
}

/// The one writer: random O_EXCL temp file beside `path`, fchmod, write, fsync, rename (or
/// link without replacing when `replace` is false), fsync the directory. The temp file is
/// removed on every failure (tempfile's drop).
fn write_via_temp(path: &Path, data: &[u8], mode: u32, replace: bool) -> Result<(), FsError> {
    let dir = parent_dir(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.tmp"))
        .tempfile_in(dir)
        .map_err(ctx("creating temp file in", dir))?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .map_err(ctx("setting mode of", tmp.path()))?;
    tmp.write_all(data).map_err(ctx("writing", path))?;
    tmp.as_file().sync_all().map_err(ctx("syncing", path))?;
    let persisted = if replace {
        tmp.persist(path).map(drop)
    } else {
        tmp.persist_noclobber(path).map(drop)
    };
    persisted.map_err(|e| FsError {
        action: if replace {
            "renaming into place"
        } else {
            "creating"
        },
        path: path.to_path_buf(),
        source: e.error,
    })?;
    sync_dir(dir)
}

/// Points `link` at `target` atomically (random temp symlink + rename).
pub fn symlink_atomic(link: &Path, target: &str) -> Result<(), FsError> {
    let dir = parent_dir(link);
    let tmp = tempfile::Builder::new()
        .prefix(".kateskit-link.tmp")
        .make_in(dir, |p| std::os::unix::fs::symlink(target, p))
        .map_err(ctx("creating symlink in", dir))?;
    tmp.persist(link).map_err(|e| FsError {
        action: "renaming into place",
        path: link.to_path_buf(),
        source: e.error,
    })?;
    sync_dir(dir)
}

/// fsyncs a directory so a rename inside it survives power loss.
pub fn sync_dir(dir: &Path) -> Result<(), FsError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(ctx("syncing directory", dir))
}

/// Creates `dir` (and missing parents). Only directories created here get a mode: the leaf
/// gets `mode` (set exactly, regardless of umask), new parents the umask default. An existing
/// directory keeps the mode its owner gave it, and a non-directory there is an error.
pub fn create_dir_mode(dir: &Path, mode: u32) -> Result<(), FsError> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => return Ok(()),
        // A symlink to a directory (e.g. /var/run) is the owner's choice: use it, never chmod it.
        Ok(m) if m.file_type().is_symlink() && dir.is_dir() => return Ok(()),
        Ok(_) => {
            return Err(FsError {
                action: "creating directory",
                path: dir.to_path_buf(),
                source: io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "exists and is not a directory",
                ),
            })
        }
        Err(_) => {}
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(ctx("creating directory", parent))?;
    }
    match fs::DirBuilder::new().mode(mode).create(dir) {
        Ok(()) => {}
        // Lost a race with another creator: theirs, so leave its mode alone.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => return Ok(()),
        Err(e) => return Err(ctx("creating directory", dir)(e)),
    }
    // mkdir applied the umask; set the exact mode through a descriptor of the new directory
    // (O_NOFOLLOW: a symlink swapped in since mkdir is refused, not chmod-ed through).
    let fd = rustix::fs::open(
        dir,
        rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| ctx("opening new directory", dir)(e.into()))?;
    rustix::fs::fchmod(&fd, rustix::fs::Mode::from_raw_mode(mode))
        .map_err(|e| ctx("setting mode of", dir)(e.into()))
}

/// Creates `dir` with `mode` when it does not exist; an existing directory keeps its mode.
pub fn ensure_dir(dir: &Path, mode: u32) -> Result<(), FsError> {
    create_dir_mode(dir, mode)
}

/// Reads a file to a string with the path in the error.
pub fn read_string(path: &Path) -> Result<String, FsError> {
    fs::read_to_string(path).map_err(ctx("reading", path))
}
