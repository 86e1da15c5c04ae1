//! Changes to boot entries on the ESP: installing a UKI under a temporary name and renaming it
//! into place, renaming an entry (bless, mark bad) and removing one, each followed by an fsync
//! of the directory so the loader never sees a half-written entry under a bootable name.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::entry::{EntryName, UKI_DIR};
use super::SlotsError;

/// Default ESP mount point.
pub const DEFAULT_ESP: &str = "/boot";

/// Copies `src` (SHA-256 `want`) to `ESP/EFI/Linux/<entry>` through a temp file in the same
/// directory: write, fsync, check the hash of what was written, rename, fsync the directory.
pub fn install_uki(
    esp: &Path,
    src: &Path,
    want: &str,
    entry: &EntryName,
) -> Result<PathBuf, SlotsError> {
    let dir = esp.join(UKI_DIR);
    fs::create_dir_all(&dir).map_err(|e| SlotsError::io("creating", &dir, e))?;
    let dst = dir.join(entry.file_name());
    let mut input = File::open(src).map_err(|e| SlotsError::io("opening", src, e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".kateskit-stage")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(|e| SlotsError::io("creating temp file in", &dir, e))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = input
            .read(&mut buf)
            .map_err(|e| SlotsError::io("reading", src, e))?;
        if n == 0 {
            break;
        }
        tmp.write_all(&buf[..n])
            .map_err(|e| SlotsError::io("writing", tmp.path(), e))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| SlotsError::io("syncing", tmp.path(), e))?;
    let (got, _) = super::fetch::hash_file(tmp.path())?;
    if got != want {
        return Err(SlotsError::Artifact {
            file: src.display().to_string(),
            msg: format!("the copy on the ESP has SHA-256 {got}, expected {want}; it was removed"),
        });
    }
    tmp.persist(&dst)
        .map_err(|e| SlotsError::io("renaming into place", &dst, e.error))?;
    crate::fsutil::sync_dir(&dir)?;
    Ok(dst)
}

/// Renames entry `from` to `to` (same directory), then fsyncs the directory.
pub fn rename_entry(esp: &Path, from: &EntryName, to: &EntryName) -> Result<(), SlotsError> {
    let a = esp.join(from.rel_path());
    let b = esp.join(to.rel_path());
    fs::rename(&a, &b).map_err(|e| SlotsError::io("renaming boot entry", &a, e))?;
    crate::fsutil::sync_dir(b.parent().unwrap_or(esp))?;
    Ok(())
}

/// Removes an entry file, then fsyncs its directory.
pub fn remove_entry(esp: &Path, e: &EntryName) -> Result<(), SlotsError> {
    let p = esp.join(e.rel_path());
    fs::remove_file(&p).map_err(|err| SlotsError::io("removing boot entry", &p, err))?;
    crate::fsutil::sync_dir(p.parent().unwrap_or(esp))?;
    Ok(())
}

/// Temp files a crashed stage left in `ESP/EFI/Linux` (never bootable: no `.efi` suffix).
pub fn remove_leftovers(esp: &Path) {
    let dir = esp.join(UKI_DIR);
    if let Ok(rd) = fs::read_dir(&dir) {
        for de in rd.flatten() {
            let n = de.file_name().to_string_lossy().into_owned();
            if n.starts_with(".kateskit-stage") && n.ends_with(".tmp") {
                let _ = fs::remove_file(de.path());
            }
        }
    }
}
