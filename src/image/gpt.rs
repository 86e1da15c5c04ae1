//! GPT parsing for raw disk images: primary header and entry array, both CRC32-checked, to find
//! the embed partition by type GUID and name. Only the partition's bytes are ever written.

use super::{read_exact_at, Extent, LocateError};
use std::fs::File;
use uuid::Uuid;

/// Partition type GUID of the embed partition (fixed across releases).
pub const EMBED_TYPE_GUID: Uuid = uuid::uuid!("3b6c0d5d-de39-40bd-9e6c-08b15a369d15");
pub const EMBED_PART_NAME: &str = "KATESKIT-EMBED";
const SIGNATURE: &[u8; 8] = b"EFI PART";

/// One partition entry, as far as we care.
#[derive(Debug, Clone, PartialEq)]
pub struct Partition {
    pub index: u32,
    pub type_guid: Uuid,
    pub name: String,
    pub first_lba: u64,
    pub last_lba: u64,
}

/// Returns the logical sector size (512 or 4096) whose LBA 1 carries the GPT signature.
pub fn detect(file: &File) -> Option<u64> {
    [512u64, 4096].into_iter().find(|&ss| {
        let mut sig = [0u8; 8];
        read_exact_at(file, &mut sig, ss).is_ok() && &sig == SIGNATURE
    })
}

/// Reads and verifies the primary header and its entries.
pub fn partitions(file: &File, file_len: u64, ss: u64) -> Result<Vec<Partition>, LocateError> {
    let mut hdr = vec![0u8; ss as usize];
    read_exact_at(file, &mut hdr, ss).map_err(|_| LocateError::Truncated {
        need: 2 * ss,
        have: file_len,
    })?;
    let hsize = u32::from_le_bytes(hdr[12..16].try_into().expect("4")) as usize;
    if !(92..=ss as usize).contains(&hsize) {
        return Err(LocateError::Corrupt(format!(
            "GPT header size {hsize} out of range"
        )));
    }
    let stored = u32::from_le_bytes(hdr[16..20].try_into().expect("4"));
    let mut copy = hdr[..hsize].to_vec();
    copy[16..20].fill(0);
    let computed = crc32fast::hash(&copy);
    if stored != computed {
        return Err(LocateError::BadCrc {
            what: "GPT header",
            stored,
            computed,
        });
    }
    let entries_lba = u64::from_le_bytes(hdr[72..80].try_into().expect("8"));
    let count = u32::from_le_bytes(hdr[80..84].try_into().expect("4")) as u64;
    let esize = u32::from_le_bytes(hdr[84..88].try_into().expect("4")) as u64;
    let entries_crc = u32::from_le_bytes(hdr[88..92].try_into().expect("4"));
    if esize < 128 || count > 1024 {
        return Err(LocateError::Corrupt(format!(
            "GPT entry array of {count} x {esize} bytes"
        )));
    }
    let total = count * esize;
    let start = entries_lba * ss;
    if start + total > file_len {
        return Err(LocateError::Truncated {
            need: start + total,
            have: file_len,
        });
    }
    let mut raw = vec![0u8; total as usize];
    read_exact_at(file, &mut raw, start).map_err(|_| LocateError::Truncated {
        need: start + total,
        have: file_len,
    })?;
    let computed = crc32fast::hash(&raw);
    if computed != entries_crc {
        return Err(LocateError::BadCrc {
            what: "GPT partition entries",
            stored: entries_crc,
            computed,
        });
    }
    let mut out = Vec::new();
    for (i, e) in raw.chunks_exact(esize as usize).enumerate() {
        let type_guid = Uuid::from_bytes_le(e[0..16].try_into().expect("16"));
        if type_guid.is_nil() {
            continue;
        }
        let units: Vec<u16> = e[56..128]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&u| u != 0)
            .collect();
        out.push(Partition {
            index: i as u32 + 1,
            type_guid,
            name: String::from_utf16_lossy(&units),
            first_lba: u64::from_le_bytes(e[32..40].try_into().expect("8")),
            last_lba: u64::from_le_bytes(e[40..48].try_into().expect("8")),
        });
    }
    Ok(out)
}

/// Finds the embed partition (type GUID and name must both match).
pub fn find_embed(file: &File, file_len: u64, ss: u64) -> Result<Extent, LocateError> {
    let parts = partitions(file, file_len, ss)?;
    let p = parts
        .iter()
        .find(|p| p.type_guid == EMBED_TYPE_GUID && p.name == EMBED_PART_NAME)
        .ok_or_else(|| LocateError::Missing {
            path: format!("GPT partition {EMBED_PART_NAME} (type {EMBED_TYPE_GUID})"),
        })?;
    if p.last_lba < p.first_lba {
        return Err(LocateError::Corrupt(format!(
            "partition {} ends before it starts",
            p.index
        )));
    }
    let offset = p.first_lba * ss;
    let len = (p.last_lba - p.first_lba + 1) * ss;
    if offset + len > file_len {
        return Err(LocateError::Truncated {
            need: offset + len,
            have: file_len,
        });
    }
    Ok(Extent { offset, len })
}
