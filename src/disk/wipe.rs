//! Rook's teardown recipe for one disk, then proof that it worked.
//!
//! Order: erase the signatures inside every partition and zero each partition's first and
//! last MiB (so nothing reappears if an old table is restored), erase every whole-disk
//! signature with libblkid, discard the whole device where supported, zero the first and last
//! MiB (MBR, primary and backup GPT, LVM/LUKS/md headers) and every BlueStore label position,
//! flush, re-read the partition table, then probe again: the disk must be blank.
//! Zeroing comes after discard because a discarded range need not read back as zeros.

use std::os::unix::fs::FileExt;

use serde::Serialize;

use super::classify::read_content;
use super::probe::{self, Signature};
use super::{bluestore, Content, Discard, DiskError, WritableDisk};

const MIB: u64 = 1 << 20;

/// What a wipe did, for the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WipeLog {
    /// Signatures erased (whole disk and partitions).
    pub erased: Vec<Signature>,
    /// Byte ranges written with zeros, as (offset, length).
    pub zeroed: Vec<(u64, u64)>,
    pub discarded: bool,
}

fn zero(disk: &WritableDisk, offset: u64, len: u64, log: &mut WipeLog) -> Result<(), DiskError> {
    let end = (offset + len).min(disk.size());
    if offset >= end {
        return Ok(());
    }
    let buf = vec![0u8; MIB as usize];
    let mut pos = offset;
    while pos < end {
        let n = (end - pos).min(MIB) as usize;
        disk.file()
            .write_all_at(&buf[..n], pos)
            .map_err(|source| DiskError::Write {
                device: disk.canonical().to_path_buf(),
                offset: pos,
                source,
            })?;
        pos += n as u64;
    }
    log.zeroed.push((offset, end - offset));
    Ok(())
}

/// Wipes a disk that the policy said to wipe and proves it blank afterwards. With `discard`
/// false the BLKDISCARD step is skipped and the wipe relies on its own writes alone, exactly
/// as it does on disks without discard support.
pub fn wipe(disk: &WritableDisk, discard: bool) -> Result<WipeLog, DiskError> {
    let device = disk.canonical().to_path_buf();
    let probe_err = |message: String| DiskError::Probe {
        device: device.clone(),
        message,
    };
    let mut log = WipeLog {
        erased: Vec::new(),
        zeroed: Vec::new(),
        discarded: false,
    };
    let size = disk.size();

    if let Some(table) = probe::partition_table(disk.file()).map_err(probe_err)? {
        for p in table
            .partitions
            .iter()
            .filter(|p| p.size > 0 && p.start + p.size <= size)
        {
            log.erased
                .extend(probe::erase_signatures(disk.file(), p.start, p.size).map_err(probe_err)?);
            zero(disk, p.start, MIB.min(p.size), &mut log)?;
            zero(
                disk,
                p.start + p.size - MIB.min(p.size),
                MIB.min(p.size),
                &mut log,
            )?;
        }
    }
    log.erased
        .extend(probe::erase_signatures(disk.file(), 0, 0).map_err(probe_err)?);
    log.discarded = discard && disk.discard(0, size)? == Discard::Done;
    zero(disk, 0, MIB, &mut log)?;
    zero(disk, size.saturating_sub(MIB), MIB, &mut log)?;
    for &pos in bluestore::LABEL_POSITIONS
        .iter()
        .filter(|p| **p > 0 && **p < size)
    {
        zero(disk, pos, MIB, &mut log)?;
    }
    disk.sync()?;
    disk.reread_partitions()?;
    tracing::info!(device = %device.display(), erased = log.erased.len(), discarded = log.discarded, "wiped disk");

    let (content, signatures) = read_content(disk.file(), size, &device, &[])?;
    if content != Content::Blank || !signatures.is_empty() {
        return Err(DiskError::NotBlank {
            device,
            found: content.to_string(),
        });
    }
    Ok(log)
}
