//! The only code in KatesKit that opens block devices for writing.
//!
//! [`open_for_write`] resolves `/dev/disk/by-id/...` links, requires a whole-disk block device
//! and refuses anything in use: mounted, swap, held by device-mapper/LVM/md, the disk the
//! running system booted from, or smaller than the caller's minimum. Only then is the device
//! opened `O_EXCL`, which also closes the window between checking and writing.

pub mod bluestore;
mod classify;
mod device;
pub mod node;
pub mod policy;
pub mod preflight;
mod prepare;
pub mod probe;
mod state;
pub mod sysfs;
pub mod wipe;

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub use classify::{classify, classify_with, content_of, ClassifyOptions};
pub use device::{device_size, Discard, WritableDisk};
pub use node::{prepare_node, NodeDisks, OsdState};
pub use preflight::DiskUse;
pub use prepare::{
    device_path, plan, prepare_osd_disks_with, CephKnowledge, DiskEnv, DiskReport, Plan,
    PlannedDisk, PrepareError, Taken,
};
pub use state::{Blocker, Classification, Content, OsdCluster};

/// Ceph (ceph-volume, and so Rook) rejects devices below 5 GiB: "Insufficient space (<5GB)".
pub const OSD_MIN_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// Why a disk cannot be used. Every variant names the device.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error(
        "cannot resolve {path}: {source}; check the device path (e.g. ls -l /dev/disk/by-id/)"
    )]
    Resolve { path: PathBuf, source: io::Error },
    #[error(
        "{path} ({canonical}) is not a block device; name a whole disk such as /dev/disk/by-id/..."
    )]
    NotBlockDevice { path: PathBuf, canonical: PathBuf },
    #[error("{device} is partition {name} of /dev/{disk}; name the whole disk instead")]
    Partition {
        device: PathBuf,
        name: String,
        disk: String,
    },
    #[error("cannot find {device} (device {major}:{minor}) in /sys/dev/block: {source}")]
    Sysfs {
        device: PathBuf,
        major: u32,
        minor: u32,
        source: io::Error,
    },
    #[error("refusing {device}: it backs the running system ({mountpoint} is on it)")]
    BootDisk { device: PathBuf, mountpoint: String },
    #[error("refusing {device}: it is in use: {}; stop that use first", list(.uses))]
    InUse { device: PathBuf, uses: Vec<DiskUse> },
    #[error("refusing {device}: {size} bytes is smaller than the required {min} bytes")]
    TooSmall {
        device: PathBuf,
        size: u64,
        min: u64,
    },
    #[error("cannot open {device}: {source}{}", busy_hint(.source))]
    Open { device: PathBuf, source: io::Error },
    #[error("{op} on {device} failed: {source}")]
    Ioctl {
        device: PathBuf,
        op: &'static str,
        source: io::Error,
    },
    #[error("probing {device} with libblkid failed: {message}")]
    Probe { device: PathBuf, message: String },
    #[error("writing {device} at byte {offset} failed: {source}")]
    Write {
        device: PathBuf,
        offset: u64,
        source: io::Error,
    },
    #[error("wiped {device} but it still probes as {found}; the disk may ignore writes")]
    NotBlank { device: PathBuf, found: String },
    #[error("reading {device} at byte {offset} failed: {source}")]
    Read {
        device: PathBuf,
        offset: u64,
        source: io::Error,
    },
}

fn list(uses: &[DiskUse]) -> String {
    uses.iter()
        .map(|u| u.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

fn busy_hint(e: &io::Error) -> &'static str {
    if e.raw_os_error() == Some(libc::EBUSY) {
        " (the kernel holds it exclusively: mounted, swap, device-mapper or md)"
    } else {
        ""
    }
}

/// A block device resolved to its kernel identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The path as given (often a by-id link).
    pub given: PathBuf,
    /// The device node it resolves to.
    pub canonical: PathBuf,
    /// Kernel name, e.g. `sdb`.
    pub name: String,
    pub major: u32,
    pub minor: u32,
}

/// Resolves links, requires a block device and finds its kernel name.
pub fn resolve(path: &Path) -> Result<Target, DiskError> {
    let canonical = fs::canonicalize(path).map_err(|source| DiskError::Resolve {
        path: path.to_path_buf(),
        source,
    })?;
    if !preflight::is_block_device(&canonical) {
        return Err(DiskError::NotBlockDevice {
            path: path.to_path_buf(),
            canonical,
        });
    }
    let meta = fs::metadata(&canonical).map_err(|source| DiskError::Resolve {
        path: path.to_path_buf(),
        source,
    })?;
    let (major, minor) = sysfs::split_devno(meta.rdev());
    let name = sysfs::name_of(major, minor).map_err(|source| DiskError::Sysfs {
        device: canonical.clone(),
        major,
        minor,
        source,
    })?;
    Ok(Target {
        given: path.to_path_buf(),
        canonical,
        name,
        major,
        minor,
    })
}

/// Checks that refuse a disk, without opening it: whole disk, not the boot disk, not in use.
pub fn check_free(target: &Target) -> Result<(), DiskError> {
    if sysfs::is_partition(&target.name) {
        let disk = sysfs::whole_disk(&target.name).unwrap_or_else(|_| "?".into());
        return Err(DiskError::Partition {
            device: target.canonical.clone(),
            name: target.name.clone(),
            disk,
        });
    }
    if let Some((_, mountpoint)) = preflight::boot_disks()
        .into_iter()
        .find(|(d, _)| *d == target.name)
    {
        return Err(DiskError::BootDisk {
            device: target.canonical.clone(),
            mountpoint,
        });
    }
    let uses = preflight::uses(&target.name);
    if !uses.is_empty() {
        return Err(DiskError::InUse {
            device: target.canonical.clone(),
            uses,
        });
    }
    Ok(())
}

/// Opens a whole disk for writing after every safety check; see the module docs.
pub fn open_for_write(path: &Path, min_size: u64) -> Result<WritableDisk, DiskError> {
    let target = resolve(path)?;
    check_free(&target)?;
    let device = target.canonical.clone();
    let ro = fs::File::open(&device).map_err(|source| DiskError::Open {
        device: device.clone(),
        source,
    })?;
    let size = device_size(&ro).map_err(|source| DiskError::Ioctl {
        device: device.clone(),
        op: "BLKGETSIZE64",
        source,
    })?;
    drop(ro);
    if size < min_size {
        return Err(DiskError::TooSmall {
            device,
            size,
            min: min_size,
        });
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_EXCL | libc::O_CLOEXEC)
        .open(&device)
        .map_err(|source| DiskError::Open {
            device: device.clone(),
            source,
        })?;
    tracing::info!(device = %device.display(), given = %path.display(), size, "opened disk for writing");
    Ok(WritableDisk {
        file,
        canonical: device,
        name: target.name,
        size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_missing_paths_and_non_block_files() {
        let err =
            open_for_write(Path::new("/dev/disk/by-id/does-not-exist-kateskit"), 0).unwrap_err();
        assert!(matches!(err, DiskError::Resolve { .. }), "{err}");
        assert!(err.to_string().contains("does-not-exist-kateskit"));
        let f = tempfile::NamedTempFile::new().unwrap();
        let err = open_for_write(f.path(), 0).unwrap_err();
        assert!(matches!(err, DiskError::NotBlockDevice { .. }), "{err}");
        let err = open_for_write(Path::new("/dev/null"), 0).unwrap_err();
        assert!(matches!(err, DiskError::NotBlockDevice { .. }), "{err}");
    }

    #[test]
    fn refuses_the_disk_backing_root() {
        let boot = preflight::boot_disks();
        let Some((disk, mountpoint)) = boot.iter().find(|(_, m)| m == "/") else {
            eprintln!("skipping: / is not on a block device here (tmpfs/overlay root)");
            return;
        };
        assert_eq!(mountpoint, "/");
        let path = PathBuf::from(format!("/dev/{disk}"));
        if !path.exists() {
            eprintln!(
                "skipping: {} has no device node in this environment",
                path.display()
            );
            return;
        }
        let err = open_for_write(&path, 0).unwrap_err();
        assert!(matches!(err, DiskError::BootDisk { .. }), "{err}");
        assert!(
            err.to_string().contains("backs the running system"),
            "{err}"
        );
    }
}
