//! GPT parsing for raw disk images: primary header and entry array, both CRC32-checked, to find
//! the embed partition by type GUID and name. Only the partition's bytes are ever written.
//!
//! Every LBA is attacker-controlled (a downloaded image, a stick): valid CRCs prove nothing. So
//! all byte arithmetic is checked (an overflow is an error in debug and release builds alike,
//! never a wrap to another offset), the entry array is capped and must lie inside the file and
//! before the first usable LBA, and every used partition must lie inside the usable LBAs.

use super::{bad_field, ImageSource, LocateError};
use uuid::Uuid;

/// Partition type GUID of the embed partition (fixed across releases).
pub const EMBED_TYPE_GUID: Uuid = uuid::uuid!("3b6c0d5d-de39-40bd-9e6c-08b15a369d15");
pub const EMBED_PART_NAME: &str = "KATESKIT-EMBED";
pub(super) const SIGNATURE: &[u8; 8] = b"EFI PART";
/// Most partition entries read (sgdisk and systemd-repart write 128).
pub const MAX_ENTRIES: u64 = 1024;
/// Largest partition entry accepted (the UEFI size is 128 × 2^n; real tables use 128).
pub const MAX_ENTRY_SIZE: u64 = 4096;
const HEADER: &str = "GPT header";

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
pub fn detect<S: ImageSource + ?Sized>(src: &S) -> Option<u64> {
    [512u64, 4096].into_iter().find(|&ss| {
        let mut sig = [0u8; 8];
        src.read_exact_at(&mut sig, ss).is_ok() && &sig == SIGNATURE
    })
}

pub(super) fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

pub(super) fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// `lba * ss` as a byte offset, or an error naming the field.
fn bytes(
    structure: &'static str,
    field: &'static str,
    lba: u64,
    ss: u64,
) -> Result<u64, LocateError> {
    lba.checked_mul(ss).ok_or_else(|| {
        bad_field(
            structure,
            field,
            lba,
            format!("× sector size {ss} overflows a 64-bit byte offset"),
        )
    })
}

/// The usable LBA range from a verified header.
struct Usable {
    first: u64,
    last: u64,
}

/// Reads and verifies the primary header and its entries; every used entry lies inside the
/// header's usable LBAs.
pub fn partitions<S: ImageSource + ?Sized>(
    src: &S,
    file_len: u64,
    ss: u64,
) -> Result<Vec<Partition>, LocateError> {
    let mut hdr = vec![0u8; ss as usize];
    src.read_exact_at(&mut hdr, ss)
        .map_err(|_| LocateError::Truncated {
            need: 2 * ss,
            have: file_len,
        })?;
    let hsize = le32(&hdr, 12) as usize;
    if !(92..=ss as usize).contains(&hsize) {
        return Err(bad_field(
            HEADER,
            "HeaderSize",
            hsize as u64,
            format!("must be 92..={ss}"),
        ));
    }
    let stored = le32(&hdr, 16);
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
    let my_lba = le64(&hdr, 24);
    if my_lba != 1 {
        return Err(bad_field(
            HEADER,
            "MyLBA",
            my_lba,
            "the primary header is at LBA 1".into(),
        ));
    }
    let usable = Usable {
        first: le64(&hdr, 40),
        last: le64(&hdr, 48),
    };
    if usable.first > usable.last {
        return Err(bad_field(
            HEADER,
            "FirstUsableLBA",
            usable.first,
            format!("is after LastUsableLBA {}", usable.last),
        ));
    }
    let entries_lba = le64(&hdr, 72);
    let count = u64::from(le32(&hdr, 80));
    let esize = u64::from(le32(&hdr, 84));
    let entries_crc = le32(&hdr, 88);
    if count > MAX_ENTRIES {
        return Err(bad_field(
            HEADER,
            "NumberOfPartitionEntries",
            count,
            format!("at most {MAX_ENTRIES} are read"),
        ));
    }
    if !(128..=MAX_ENTRY_SIZE).contains(&esize) || !esize.is_power_of_two() {
        return Err(bad_field(
            HEADER,
            "SizeOfPartitionEntry",
            esize,
            format!("must be 128 × 2^n and at most {MAX_ENTRY_SIZE}"),
        ));
    }
    if entries_lba < 2 {
        return Err(bad_field(
            HEADER,
            "PartitionEntryLBA",
            entries_lba,
            "overlaps the protective MBR or the header".into(),
        ));
    }
    // Both factors are capped above, so this product cannot overflow.
    let total = count * esize;
    let start = bytes(HEADER, "PartitionEntryLBA", entries_lba, ss)?;
    let end = start.checked_add(total).ok_or_else(|| {
        bad_field(
            HEADER,
            "PartitionEntryLBA",
            entries_lba,
            "array end overflows".into(),
        )
    })?;
    let first_usable_byte = bytes(HEADER, "FirstUsableLBA", usable.first, ss)?;
    if end > first_usable_byte {
        return Err(bad_field(
            HEADER,
            "PartitionEntryLBA",
            entries_lba,
            format!(
                "the {total}-byte entry array runs past FirstUsableLBA {}",
                usable.first
            ),
        ));
    }
    if end > file_len {
        return Err(LocateError::Truncated {
            need: end,
            have: file_len,
        });
    }
    let mut raw = vec![0u8; total as usize];
    src.read_exact_at(&mut raw, start)
        .map_err(|_| LocateError::Truncated {
            need: end,
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
        let p = Partition {
            index: i as u32 + 1,
            type_guid,
            name: String::from_utf16_lossy(&units),
            first_lba: le64(e, 32),
            last_lba: le64(e, 40),
        };
        check_inside(&p, &usable)?;
        out.push(p);
    }
    Ok(out)
}

/// A used partition starts no later than it ends and lies inside the usable LBAs.
fn check_inside(p: &Partition, usable: &Usable) -> Result<(), LocateError> {
    let what = "GPT partition entry";
    if p.last_lba < p.first_lba {
        return Err(bad_field(
            what,
            "EndingLBA",
            p.last_lba,
            format!(
                "partition {} ends before its StartingLBA {}",
                p.index, p.first_lba
            ),
        ));
    }
    if p.first_lba < usable.first {
        return Err(bad_field(
            what,
            "StartingLBA",
            p.first_lba,
            format!(
                "partition {} starts before FirstUsableLBA {}",
                p.index, usable.first
            ),
        ));
    }
    if p.last_lba > usable.last {
        return Err(bad_field(
            what,
            "EndingLBA",
            p.last_lba,
            format!(
                "partition {} ends after LastUsableLBA {}",
                p.index, usable.last
            ),
        ));
    }
    Ok(())
}

/// Finds the embed partition (type GUID and name must both match).
pub fn find_embed<S: ImageSource + ?Sized>(
    src: &S,
    file_len: u64,
    ss: u64,
) -> Result<super::Extent, LocateError> {
    let parts = partitions(src, file_len, ss)?;
    let p = parts
        .iter()
        .find(|p| p.type_guid == EMBED_TYPE_GUID && p.name == EMBED_PART_NAME)
        .ok_or_else(|| LocateError::Missing {
            path: format!("GPT partition {EMBED_PART_NAME} (type {EMBED_TYPE_GUID})"),
        })?;
    let what = "GPT partition entry";
    let offset = bytes(what, "StartingLBA", p.first_lba, ss)?;
    // last >= first was checked, so the sector count is at least 1 and cannot overflow.
    let len = (p.last_lba - p.first_lba + 1)
        .checked_mul(ss)
        .ok_or_else(|| {
            bad_field(
                what,
                "EndingLBA",
                p.last_lba,
                "partition size overflows".into(),
            )
        })?;
    let end = offset
        .checked_add(len)
        .ok_or_else(|| bad_field(what, "EndingLBA", p.last_lba, "end byte overflows".into()))?;
    if end > file_len {
        return Err(LocateError::Truncated {
            need: end,
            have: file_len,
        });
    }
    Ok(super::Extent { offset, len })
}
