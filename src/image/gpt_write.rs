//! Renaming a GPT partition in place: the one GPT write KatesKit makes (an A/B slot's name is
//! the version it holds). Both copies change: the backup entry array and header first, then
//! the primary, with an fsync after each, so a crash leaves either both old, both new, or a
//! valid new backup beside a valid old primary (which firmware and `sgdisk` read first). Only
//! the name field of one entry, the entry-array CRC and the header CRC change.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::FileExt;

use super::gpt::{le32, le64, partitions, SIGNATURE};
use super::LocateError;

/// UTF-16 code units in a GPT partition name.
pub const NAME_UNITS: usize = 36;

#[derive(Debug, thiserror::Error)]
pub enum GptWriteError {
    #[error(transparent)]
    Locate(#[from] LocateError),
    #[error("partition name {name:?} is longer than the {NAME_UNITS} UTF-16 units GPT allows")]
    NameTooLong { name: String },
    #[error("no partition {index} in the GPT")]
    NoPartition { index: u32 },
    #[error("{which} GPT header at LBA {lba}: {msg}; repair the table first (sgdisk -v shows it)")]
    Table {
        which: &'static str,
        lba: u64,
        msg: String,
    },
    #[error("{action} the GPT: {source}")]
    Io {
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
}

fn io(action: &'static str) -> impl FnOnce(std::io::Error) -> GptWriteError {
    move |source| GptWriteError::Io { action, source }
}

/// One header as read: its bytes and the fields the rename needs.
struct Header {
    lba: u64,
    bytes: Vec<u8>,
    size: usize,
    alternate: u64,
    entries_lba: u64,
    count: u64,
    esize: u64,
}

fn header_crc(bytes: &[u8], size: usize) -> u32 {
    let mut copy = bytes[..size].to_vec();
    copy[16..20].fill(0);
    crc32fast::hash(&copy)
}

/// Reads and checks the header at `lba` (signature, size, CRC, MyLBA).
fn read_header(f: &File, lba: u64, ss: u64) -> Result<Header, String> {
    let mut bytes = vec![0u8; ss as usize];
    let at = lba.checked_mul(ss).ok_or("offset overflows")?;
    f.read_exact_at(&mut bytes, at)
        .map_err(|e| format!("unreadable: {e}"))?;
    if &bytes[..8] != SIGNATURE {
        return Err("no EFI PART signature".into());
    }
    let size = le32(&bytes, 12) as usize;
    if !(92..=ss as usize).contains(&size) {
        return Err(format!("HeaderSize {size} out of range"));
    }
    if le32(&bytes, 16) != header_crc(&bytes, size) {
        return Err("header CRC mismatch".into());
    }
    if le64(&bytes, 24) != lba {
        return Err(format!("MyLBA is {}", le64(&bytes, 24)));
    }
    Ok(Header {
        lba,
        alternate: le64(&bytes, 32),
        entries_lba: le64(&bytes, 72),
        count: u64::from(le32(&bytes, 80)),
        esize: u64::from(le32(&bytes, 84)),
        size,
        bytes,
    })
}

/// Rewrites entry `index` (1-based) of the array `h` points at, then `h`, then fsyncs.
fn rewrite(f: &File, h: &mut Header, ss: u64, index: u32, name: &[u8]) -> Result<(), String> {
    let start = h.entries_lba * ss;
    let mut raw = vec![0u8; (h.count * h.esize) as usize];
    f.read_exact_at(&mut raw, start)
        .map_err(|e| format!("entries unreadable: {e}"))?;
    if crc32fast::hash(&raw) != le32(&h.bytes, 88) {
        return Err("entry array CRC mismatch".into());
    }
    let off = (index as usize - 1) * h.esize as usize;
    raw[off + 56..off + 128].copy_from_slice(name);
    let crc = crc32fast::hash(&raw);
    h.bytes[88..92].copy_from_slice(&crc.to_le_bytes());
    let hcrc = header_crc(&h.bytes, h.size);
    h.bytes[16..20].copy_from_slice(&hcrc.to_le_bytes());
    f.write_all_at(&raw[off..off + h.esize as usize], start + off as u64)
        .map_err(|e| format!("writing entry: {e}"))?;
    f.write_all_at(&h.bytes, h.lba * ss)
        .map_err(|e| format!("writing header: {e}"))?;
    f.sync_all().map_err(|e| format!("syncing: {e}"))
}

/// Sets the name of partition `index` (1-based) in both GPT copies of `f` (an image file or
/// a whole-disk device opened read-write), sector size `ss`.
pub fn rename_partition(f: &File, ss: u64, index: u32, name: &str) -> Result<(), GptWriteError> {
    let units: Vec<u16> = name.encode_utf16().collect();
    if units.len() > NAME_UNITS {
        return Err(GptWriteError::NameTooLong {
            name: name.to_string(),
        });
    }
    let mut field = [0u8; 72];
    for (i, u) in units.iter().enumerate() {
        field[2 * i..2 * i + 2].copy_from_slice(&u.to_le_bytes());
    }
    let len = (&*f).seek(SeekFrom::End(0)).map_err(io("sizing"))?;
    // The primary gets the full validation the readers use (bounds of every entry).
    let parts = partitions(f, len, ss)?;
    if !parts.iter().any(|p| p.index == index) {
        return Err(GptWriteError::NoPartition { index });
    }
    let primary_err = |msg: String| GptWriteError::Table {
        which: "primary",
        lba: 1,
        msg,
    };
    let mut primary = read_header(f, 1, ss).map_err(primary_err)?;
    let lba = primary.alternate;
    let backup_err = |msg: String| GptWriteError::Table {
        which: "backup",
        lba,
        msg,
    };
    if lba.checked_add(1).and_then(|n| n.checked_mul(ss)) != Some(len) {
        return Err(backup_err(format!(
            "AlternateLBA does not name the last sector of this {len}-byte disk"
        )));
    }
    let mut backup = read_header(f, lba, ss).map_err(backup_err)?;
    if (backup.count, backup.esize) != (primary.count, primary.esize)
        || backup.entries_lba <= primary.entries_lba
        || (backup.entries_lba + (backup.count * backup.esize).div_ceil(ss)) > lba
    {
        return Err(backup_err(
            "its entry array does not match the primary's".into(),
        ));
    }
    rewrite(f, &mut backup, ss, index, &field).map_err(backup_err)?;
    rewrite(f, &mut primary, ss, index, &field).map_err(primary_err)
}
