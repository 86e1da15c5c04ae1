//! Writing a store image into a slot partition through the whole-disk device (or image file):
//! direct I/O where the device allows it (no stale page cache beside the partition's own), an
//! fsync, then a read back of the written range whose SHA-256 must be the verified one.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::fetch::Progress;
use super::layout::Slot;
use super::SlotsError;
use crate::io::direct::{self, AlignedBuf};

const CHUNK: usize = 4 << 20;

/// Opens the disk for the slot write: read-write, never O_EXCL (the running slot and the data
/// partition stay mounted; only the inactive slot's bytes are written).
pub fn open_disk(disk: &Path) -> Result<File, SlotsError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(disk)
        .map_err(|e| SlotsError::io("opening disk for writing", disk, e))
}

/// Copies `image` (`len` bytes, SHA-256 `want`) to `slot` on `disk`, then reads it back.
pub fn write_slot(
    disk: &Path,
    f: &File,
    slot: &Slot,
    image: &Path,
    want: &str,
    progress: Option<Progress>,
) -> Result<(), SlotsError> {
    let mut input = File::open(image).map_err(|e| SlotsError::io("opening", image, e))?;
    let len = input
        .metadata()
        .map_err(|e| SlotsError::io("reading", image, e))?
        .len();
    if len > slot.len {
        return Err(SlotsError::Refused(format!(
            "{}: {len} bytes do not fit slot partition {} ({} bytes)",
            image.display(),
            slot.index,
            slot.len
        )));
    }
    let d = direct::reopen_direct(f);
    let dref = d.as_ref().unwrap_or(f);
    // One bar per pass, each the slot's size: the write, then the read-back.
    let bar = |what| {
        progress.map(|p| {
            let pb = p(what);
            pb.set_length(len);
            pb
        })
    };
    let pb = bar("writing");
    let mut buf = AlignedBuf::new(CHUNK);
    let mut hasher = Sha256::new();
    let mut pos = 0u64;
    while pos < len {
        let n = (len - pos).min(CHUNK as u64) as usize;
        input
            .read_exact(&mut buf[..n])
            .map_err(|e| SlotsError::io("reading", image, e))?;
        hasher.update(&buf[..n]);
        direct::write_at(dref, f, &buf[..n], slot.offset + pos)
            .map_err(|e| SlotsError::io("writing slot on", disk, e))?;
        pos += n as u64;
        if let Some(pb) = &pb {
            pb.set_position(pos);
        }
    }
    let read_hash = hex::encode(hasher.finalize());
    if read_hash != want {
        return Err(SlotsError::Artifact {
            file: image.display().to_string(),
            msg: format!("changed after it was verified (SHA-256 now {read_hash})"),
        });
    }
    f.sync_all()
        .map_err(|e| SlotsError::io("syncing", disk, e))?;
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    let pb = bar("verifying");
    let mut hasher = Sha256::new();
    pos = 0;
    while pos < len {
        let n = (len - pos).min(CHUNK as u64) as usize;
        direct::read_at(dref, f, &mut buf[..n], slot.offset + pos)
            .map_err(|e| SlotsError::io("reading back slot on", disk, e))?;
        hasher.update(&buf[..n]);
        pos += n as u64;
        if let Some(pb) = &pb {
            pb.set_position(pos);
        }
    }
    let actual = hex::encode(hasher.finalize());
    if actual != want {
        return Err(SlotsError::ReadBack {
            disk: disk.to_path_buf(),
            index: slot.index,
            expected: want.to_string(),
            actual,
        });
    }
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    Ok(())
}
