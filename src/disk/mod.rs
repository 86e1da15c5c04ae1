//! The only code in KatesKit that opens block devices for writing.
//!
//! [`open_for_write`] resolves `/dev/disk/by-id/...` links and requires a whole-disk block
//! device, then, in this order: opens it `O_EXCL` (the kernel refuses while it is mounted or
//! stacked on, and refuses mounts while we hold it); verifies that the opened node is the device
//! the path names now (`st_rdev`); takes an OFD write lock and `flock(LOCK_EX)` (see [`lock`]);
//! refuses anything in use (mounted, swap, held by device-mapper/LVM/md, the disk the running
//! system booted from); reads the size from the same fd. Every check runs on the fd that is
//! then written, so nothing can change between checking and writing.

pub mod bluestore;
mod classify;
mod device;
pub mod lock;
pub mod node;
mod open;
pub mod policy;
pub mod preflight;
mod prepare;
pub mod probe;
mod state;
pub mod sysfs;
pub mod wipe;

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub use classify::{classify, classify_with, content_of, ClassifyOptions};
pub use device::{device_size, Discard, WritableDisk};
pub use node::{prepare_node, NodeDisks, OsdState};
pub use open::{open_for_write, open_resolved};
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
    #[error("refusing {device}: it is locked, held by {holder}; stop that process first (a running ceph-osd or another flash/install)")]
    Locked { device: PathBuf, holder: String },
    #[error("refusing {given}: it named {device} when checked, but {detail}; the link moved, check the path and retry")]
    Moved {
        given: PathBuf,
        device: PathBuf,
        /// Device numbers: resolved, opened, and what the path names now.
        detail: String,
    },
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
