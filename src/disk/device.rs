//! An exclusively opened block device and the few ioctls the disk code needs.

use std::fs::File;
use std::io;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use super::DiskError;

/// `_IOR(0x12, 114, size_t)`: device size in bytes.
const BLKGETSIZE64: libc::c_ulong = 0x8008_1272;
/// `_IO(0x12, 119)`: discard a byte range.
const BLKDISCARD: libc::c_ulong = 0x1277;
/// `_IO(0x12, 95)`: re-read the partition table.
const BLKRRPART: libc::c_ulong = 0x125f;
/// `_IO(0x12, 97)`: flush the buffer cache so later readers see our writes.
const BLKFLSBUF: libc::c_ulong = 0x1261;

/// Size of a block device in bytes (`BLKGETSIZE64`).
pub fn device_size(file: &File) -> io::Result<u64> {
    let mut size: u64 = 0;
    // SAFETY: BLKGETSIZE64 writes one u64 through the pointer, which outlives the call.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), BLKGETSIZE64 as _, &mut size as *mut u64) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(size)
}

/// A whole block device opened read-write with `O_EXCL`, after every preflight check passed.
/// While it is open the kernel refuses to mount it or stack device-mapper/md on it.
#[derive(Debug)]
pub struct WritableDisk {
    pub(super) file: File,
    pub(super) canonical: PathBuf,
    pub(super) name: String,
    pub(super) size: u64,
}

/// What a discard request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discard {
    Done,
    Unsupported,
}

impl WritableDisk {
    /// The resolved device node, e.g. `/dev/sdb` for a `/dev/disk/by-id/...` link.
    pub fn canonical(&self) -> &Path {
        &self.canonical
    }

    /// Kernel name, e.g. `sdb`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Size in bytes from `BLKGETSIZE64`.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn file_mut(&mut self) -> &mut File {
        &mut self.file
    }

    fn ioctl_err(&self, op: &'static str, source: io::Error) -> DiskError {
        DiskError::Ioctl {
            device: self.canonical.clone(),
            op,
            source,
        }
    }

    /// Discards `[offset, offset+len)`. Devices without discard support report `Unsupported`.
    pub fn discard(&self, offset: u64, len: u64) -> Result<Discard, DiskError> {
        let range: [u64; 2] = [offset, len];
        // SAFETY: BLKDISCARD reads two u64 values from the pointer, valid for the call.
        let rc = unsafe { libc::ioctl(self.file.as_raw_fd(), BLKDISCARD as _, range.as_ptr()) };
        if rc == 0 {
            return Ok(Discard::Done);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EOPNOTSUPP) | Some(libc::ENOTTY) | Some(libc::EINVAL) => {
                Ok(Discard::Unsupported)
            }
            _ => Err(self.ioctl_err("BLKDISCARD", err)),
        }
    }

    /// Asks the kernel to re-read the partition table. Devices that cannot carry partitions
    /// (a loop device without partition scanning) answer EINVAL, which is fine for a blank disk.
    pub fn reread_partitions(&self) -> Result<(), DiskError> {
        let mut last = None;
        for _ in 0..20 {
            // SAFETY: BLKRRPART takes no argument.
            let rc = unsafe { libc::ioctl(self.file.as_raw_fd(), BLKRRPART as _, 0) };
            if rc == 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINVAL) => return Ok(()),
                Some(libc::EBUSY) => {
                    last = Some(err);
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                _ => return Err(self.ioctl_err("BLKRRPART", err)),
            }
        }
        Err(self.ioctl_err(
            "BLKRRPART",
            last.unwrap_or_else(|| io::Error::from_raw_os_error(libc::EBUSY)),
        ))
    }

    /// Flushes our writes to the device and drops its buffer cache.
    pub fn sync(&self) -> Result<(), DiskError> {
        self.file
            .sync_all()
            .map_err(|e| self.ioctl_err("fsync", e))?;
        // SAFETY: BLKFLSBUF takes no argument.
        let rc = unsafe { libc::ioctl(self.file.as_raw_fd(), BLKFLSBUF as _, 0) };
        if rc < 0 {
            return Err(self.ioctl_err("BLKFLSBUF", io::Error::last_os_error()));
        }
        Ok(())
    }
}
