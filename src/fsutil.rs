//! Crash-safe file writes: temp file in the target directory, fsync, rename, fsync the directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

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

/// Writes `data` to `path` atomically with the given mode; readers see the old or the new file.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), FsError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .map_err(ctx("creating", &tmp))?;
        f.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(ctx("setting mode of", &tmp))?;
        f.write_all(data).map_err(ctx("writing", &tmp))?;
        f.sync_all().map_err(ctx("syncing", &tmp))?;
        fs::rename(&tmp, path).map_err(ctx("renaming into place", path))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Like [`write_atomic`] but fails if `path` already exists (hard link, so no window for a race).
pub fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<(), FsError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".kateskit")
        .tempfile_in(dir)
        .map_err(ctx("creating temp file in", dir))?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .map_err(ctx("setting mode of", tmp.path()))?;
    tmp.write_all(data).map_err(ctx("writing", path))?;
    tmp.as_file().sync_all().map_err(ctx("syncing", path))?;
    tmp.persist_noclobber(path).map_err(|e| FsError {
        action: "creating",
        path: path.to_path_buf(),
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

/// Creates `dir` (and parents) and sets its mode.
pub fn create_dir_mode(dir: &Path, mode: u32) -> Result<(), FsError> {
    fs::create_dir_all(dir).map_err(ctx("creating directory", dir))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(mode)).map_err(ctx("setting mode of", dir))
}

/// Creates `dir` (and parents) with `mode` when it does not exist; an existing directory keeps
/// the mode its owner gave it (a private 0700 directory must not become world-readable).
pub fn ensure_dir(dir: &Path, mode: u32) -> Result<(), FsError> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(FsError {
            action: "creating directory",
            path: dir.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::AlreadyExists, "not a directory"),
        }),
        Err(_) => create_dir_mode(dir, mode),
    }
}

/// Reads a file to a string with the path in the error.
pub fn read_string(path: &Path) -> Result<String, FsError> {
    fs::read_to_string(path).map_err(ctx("reading", path))
}
