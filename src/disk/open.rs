//! Opening a whole disk for writing: open, verify identity, lock, check use, size, all on the
//! one fd that is then written (see the module docs of [`super`]).

use std::fs::{self, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use super::{check_free, device_size, lock, resolve, sysfs, DiskError, Target, WritableDisk};

/// Opens a whole disk for writing after every safety check; see the module docs.
pub fn open_for_write(path: &Path, min_size: u64) -> Result<WritableDisk, DiskError> {
    open_resolved(&resolve(path)?, min_size)
}

/// [`open_for_write`] for a target resolved earlier (e.g. while choosing it): open, verify that
/// the opened device is still what the path names now, lock, check use, size from the same fd.
pub fn open_resolved(target: &Target, min_size: u64) -> Result<WritableDisk, DiskError> {
    let device = target.canonical.clone();
    let file = match OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_EXCL | libc::O_CLOEXEC)
        .open(&device)
    {
        Ok(f) => f,
        Err(source) => {
            // The kernel refused (EBUSY: it holds the disk; EPERM: it protects it); when the
            // use checks can say why (mounted, the running system's disk, ...), say that.
            check_free(target)?;
            return Err(DiskError::Open { device, source });
        }
    };
    verify_identity(target, &file)?;
    match lock::try_lock(&file) {
        Ok(None) => {}
        Ok(Some(kind)) => {
            return Err(DiskError::Locked {
                holder: lock::describe_holder(&file, kind),
                device,
            })
        }
        Err(source) => {
            return Err(DiskError::Ioctl {
                device,
                op: "F_OFD_SETLK/flock",
                source,
            })
        }
    }
    check_free(target)?;
    let size = device_size(&file).map_err(|source| DiskError::Ioctl {
        device: device.clone(),
        op: "BLKGETSIZE64",
        source,
    })?;
    if size < min_size {
        return Err(DiskError::TooSmall {
            device,
            size,
            min: min_size,
        });
    }
    tracing::info!(device = %device.display(), given = %target.given.display(), size, "opened and locked disk for writing");
    Ok(WritableDisk {
        file,
        canonical: device,
        name: target.name.clone(),
        size,
    })
}

/// The opened fd's device number must be the one resolved, and the one the given path names
/// now: a by-id link re-pointed between resolving and opening is refused.
fn verify_identity(target: &Target, file: &fs::File) -> Result<(), DiskError> {
    let opened = file
        .metadata()
        .map(|m| sysfs::split_devno(m.rdev()))
        .map_err(|source| DiskError::Open {
            device: target.canonical.clone(),
            source,
        })?;
    let now = fs::metadata(&target.given).map(|m| sysfs::split_devno(m.rdev()));
    let resolved = (target.major, target.minor);
    match now {
        Ok(now) if now == opened && opened == resolved => Ok(()),
        now => Err(DiskError::Moved {
            given: target.given.clone(),
            device: target.canonical.clone(),
            detail: format!(
                "resolved to device {}:{}, the opened node is {}:{} and the path names {} now",
                resolved.0,
                resolved.1,
                opened.0,
                opened.1,
                match now {
                    Ok((a, b)) => format!("{a}:{b}"),
                    Err(e) => format!("nothing ({e})"),
                }
            ),
        }),
    }
}
