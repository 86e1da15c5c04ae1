//! Stamping, reading and resetting the embed area of an image file in place. Every write is one
//! `pwrite` of the whole area at its extent plus `fsync`: O(area), never O(image).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::embed::{self, EmbedError, Embedded};
use super::{locate, Carrier, LocateError};

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{action} {}: {error}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: {error}", path.display())]
    Locate { path: PathBuf, error: LocateError },
    #[error("{}: {error}", path.display())]
    Embed { path: PathBuf, error: EmbedError },
    #[error("{}: is a block device; stamp the image file and flash it (`kateskit flash`), or install with `kateskit install`: only they check that a device is not in use", path.display())]
    BlockDevice { path: PathBuf },
    #[error("{}: the embed area ({len} bytes at byte {offset}) does not fit the {file_len}-byte file; the image is truncated or damaged, nothing was written", path.display())]
    Extent {
        path: PathBuf,
        offset: u64,
        len: u64,
        file_len: u64,
    },
}

impl ImageError {
    fn io<'a>(
        action: &'static str,
        path: &'a Path,
    ) -> impl FnOnce(std::io::Error) -> ImageError + 'a {
        move |error| ImageError::Io {
            action,
            path: path.to_path_buf(),
            error,
        }
    }
}

/// What `inspect` found in an area.
#[derive(Debug, serde::Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum AreaState {
    Empty,
    Stamped(Embedded),
    Corrupt { error: String },
}

/// Content to write: a NodeConfig JSON (already validated by the caller) and kargs.
#[derive(Debug, Clone, Default)]
pub struct Stamp {
    pub node_config_json: Option<String>,
    pub kargs: Vec<String>,
}

fn open(path: &Path, write: bool) -> Result<(File, Carrier), ImageError> {
    use std::os::unix::fs::FileTypeExt;
    // Reading a flashed stick is fine (`inspect`); writing one is for the disk module alone.
    let is_device = |m: std::fs::Metadata| m.file_type().is_block_device();
    if write && std::fs::metadata(path).is_ok_and(is_device) {
        return Err(ImageError::BlockDevice {
            path: path.to_path_buf(),
        });
    }
    let f = OpenOptions::new()
        .read(true)
        .write(write)
        .open(path)
        .map_err(ImageError::io("opening", path))?;
    if write {
        if f.metadata().is_ok_and(is_device) {
            return Err(ImageError::BlockDevice {
                path: path.to_path_buf(),
            });
        }
        // Two stamps racing on one image would interleave; the second one fails instead.
        rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(
            |e| ImageError::Io {
                action: "locking (is another kateskit modifying it?)",
                path: path.to_path_buf(),
                error: e.into(),
            },
        )?;
    }
    let c = locate(&f).map_err(|error| ImageError::Locate {
        path: path.to_path_buf(),
        error,
    })?;
    Ok((f, c))
}

/// Reads the raw area bytes of an image.
pub fn read_raw(path: &Path) -> Result<(Carrier, Vec<u8>), ImageError> {
    let (f, c) = open(path, false)?;
    let mut buf = vec![0u8; c.extent.len as usize];
    f.read_exact_at(&mut buf, c.extent.offset)
        .map_err(ImageError::io("reading embed area of", path))?;
    Ok((c, buf))
}

/// Locates and decodes the area; a decoding failure is reported as state, not as an error.
pub fn inspect(path: &Path) -> Result<(Carrier, AreaState), ImageError> {
    let (c, buf) = read_raw(path)?;
    let state = match embed::read_area(&buf) {
        Ok(None) => AreaState::Empty,
        Ok(Some(e)) => AreaState::Stamped(e),
        Err(e) => AreaState::Corrupt {
            error: e.to_string(),
        },
    };
    Ok((c, state))
}

fn write_area(f: &File, c: &Carrier, area: &[u8], path: &Path) -> Result<(), ImageError> {
    f.write_all_at(area, c.extent.offset)
        .map_err(ImageError::io("writing embed area of", path))?;
    f.sync_all().map_err(ImageError::io("syncing", path))
}

/// Stamps `stamp` into the image: one open (locked), locate, build the area (size-checked, so
/// a payload that does not fit leaves the image untouched), check it lies inside the file,
/// write it through the same fd.
pub fn stamp(path: &Path, stamp: &Stamp) -> Result<Carrier, ImageError> {
    let (f, c) = open(path, true)?;
    let area = embed::build_area(
        c.extent.len as usize,
        stamp.node_config_json.as_deref(),
        &stamp.kargs,
    )
    .map_err(|error| ImageError::Embed {
        path: path.to_path_buf(),
        error,
    })?;
    check_extent(&f, &c, area.len(), path)?;
    write_area(&f, &c, &area, path)?;
    tracing::info!(path = %path.display(), offset = c.extent.offset, "stamped embed area");
    Ok(c)
}

/// The area about to be written must be exactly the located extent, inside the file.
fn check_extent(f: &File, c: &Carrier, area_len: usize, path: &Path) -> Result<(), ImageError> {
    let file_len = f
        .metadata()
        .map_err(ImageError::io("reading size of", path))?
        .len();
    let (offset, len) = (c.extent.offset, c.extent.len);
    if area_len as u64 != len || offset.checked_add(len).is_none_or(|end| end > file_len) {
        return Err(ImageError::Extent {
            path: path.to_path_buf(),
            offset,
            len,
            file_len,
        });
    }
    Ok(())
}

/// Returns the area to its pristine build-time bytes (all zeros).
pub fn reset(path: &Path) -> Result<Carrier, ImageError> {
    let (f, c) = open(path, true)?;
    let zeros = vec![0u8; c.extent.len as usize];
    check_extent(&f, &c, zeros.len(), path)?;
    write_area(&f, &c, &zeros, path)?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{CarrierKind, Extent};

    #[test]
    fn an_extent_outside_the_file_is_refused() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        tmp.as_file().set_len(4096).unwrap();
        let c = |offset, len| Carrier {
            kind: CarrierKind::Gpt,
            extent: Extent { offset, len },
        };
        let f = tmp.as_file();
        assert!(check_extent(f, &c(0, 4096), 4096, tmp.path()).is_ok());
        let err = check_extent(f, &c(2048, 4096), 4096, tmp.path()).unwrap_err();
        assert!(
            matches!(err, ImageError::Extent { file_len: 4096, .. }),
            "{err}"
        );
        assert!(check_extent(f, &c(0, 4096), 2048, tmp.path()).is_err());
        assert!(check_extent(f, &c(u64::MAX, 2), 2, tmp.path()).is_err());
    }
}
