//! Just enough ISO9660 to find one file's extent: the primary volume descriptor, directory
//! records, and Rock Ridge `NM` names. Customizing writes inside that extent only, so the ISO
//! stays byte-identical elsewhere (no remaster, boot catalogue and signatures untouched).

use super::{bad_field, Extent, ImageSource, LocateError};

const SECTOR: u64 = 2048;
const PVD_OFFSET: u64 = 16 * SECTOR;
/// Deepest directory nesting walked; the embed file sits one level down.
const MAX_DEPTH: usize = 8;
/// Largest directory extent read into memory.
const MAX_DIR_LEN: u64 = 16 * 1024 * 1024;

/// True when the file carries an ISO9660 primary volume descriptor.
pub fn is_iso<S: ImageSource + ?Sized>(file: &S) -> bool {
    let mut id = [0u8; 6];
    file.read_exact_at(&mut id, PVD_OFFSET).is_ok() && &id[1..6] == b"CD001"
}

struct Record {
    extent: u64,
    len: u64,
    flags: u8,
    interleaved: bool,
    iso_name: String,
    rr_name: Option<String>,
}

/// Locates `path` (e.g. "kateskit/embed.img") and checks it is one contiguous extent inside
/// the volume (and so inside the file).
pub fn find_file<S: ImageSource + ?Sized>(
    file: &S,
    file_len: u64,
    path: &str,
) -> Result<Extent, LocateError> {
    let mut pvd = [0u8; 2048];
    file.read_exact_at(&mut pvd, PVD_OFFSET)
        .map_err(|_| LocateError::Truncated {
            need: PVD_OFFSET + SECTOR,
            have: file_len,
        })?;
    if pvd[0] != 1 || &pvd[1..6] != b"CD001" {
        return Err(LocateError::UnknownFormat);
    }
    let block = u16::from_le_bytes([pvd[128], pvd[129]]) as u64;
    if block != SECTOR {
        return Err(LocateError::Corrupt(format!(
            "ISO9660 logical block size {block}, expected 2048"
        )));
    }
    let volume_blocks = u64::from(u32::from_le_bytes(pvd[80..84].try_into().expect("4 bytes")));
    let volume = extent_bytes("volume space size", volume_blocks, 0)?;
    if volume > file_len {
        return Err(LocateError::Truncated {
            need: volume,
            have: file_len,
        });
    }
    let mut dir = parse_record(&pvd[156..190])
        .ok_or_else(|| LocateError::Corrupt("root directory record unreadable".into()))?;
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    for (depth, part) in parts.iter().enumerate() {
        if depth >= MAX_DEPTH {
            return Err(LocateError::Corrupt("directory tree too deep".into()));
        }
        let last = depth + 1 == parts.len();
        let entries = read_dir(file, volume, &dir)?;
        let found = entries
            .into_iter()
            .find(|r| matches(r, part))
            .ok_or_else(|| LocateError::Missing {
                path: format!("/{path}"),
            })?;
        if last && found.flags & 2 != 0 || !last && found.flags & 2 == 0 {
            return Err(LocateError::Missing {
                path: format!("/{path}"),
            });
        }
        dir = found;
    }
    if dir.flags & 0x80 != 0 || dir.interleaved {
        return Err(LocateError::NotContiguous {
            path: format!("/{path}"),
        });
    }
    let offset = inside_volume(&dir, volume)?;
    Ok(Extent {
        offset,
        len: dir.len,
    })
}

/// `blocks * 2048 + len` as a byte count, checked (the fields are 32-bit, so this only fails
/// on a corrupt record, but no offset is ever computed unchecked).
fn extent_bytes(field: &'static str, blocks: u64, len: u64) -> Result<u64, LocateError> {
    blocks
        .checked_mul(SECTOR)
        .and_then(|b| b.checked_add(len))
        .ok_or_else(|| {
            bad_field(
                "ISO9660 directory record",
                field,
                blocks,
                "overflows".into(),
            )
        })
}

/// The record's start byte, after checking its whole extent lies inside the volume.
fn inside_volume(r: &Record, volume: u64) -> Result<u64, LocateError> {
    let end = extent_bytes("extent location", r.extent, r.len)?;
    if end > volume {
        return Err(bad_field(
            "ISO9660 directory record",
            "extent location",
            r.extent,
            format!(
                "its {} bytes end at byte {end}, past the {volume}-byte volume",
                r.len
            ),
        ));
    }
    Ok(r.extent * SECTOR)
}

/// Rock Ridge name when present, else the primary name without `;1` and a trailing dot.
fn matches(r: &Record, want: &str) -> bool {
    if let Some(rr) = &r.rr_name {
        return rr == want;
    }
    let base = r.iso_name.split(';').next().unwrap_or("");
    base.trim_end_matches('.').eq_ignore_ascii_case(want)
}

fn read_dir<S: ImageSource + ?Sized>(
    file: &S,
    volume: u64,
    dir: &Record,
) -> Result<Vec<Record>, LocateError> {
    if dir.len > MAX_DIR_LEN {
        return Err(bad_field(
            "ISO9660 directory record",
            "data length",
            dir.len,
            format!("directories are read up to {MAX_DIR_LEN} bytes"),
        ));
    }
    let start = inside_volume(dir, volume)?;
    let mut buf = vec![0u8; dir.len as usize];
    file.read_exact_at(&mut buf, start)
        .map_err(|_| LocateError::Truncated {
            need: start + dir.len,
            have: volume,
        })?;
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < buf.len() {
        let len = buf[pos] as usize;
        if len == 0 {
            // Records never straddle sectors; zero means "continue at the next sector".
            pos = (pos / SECTOR as usize + 1) * SECTOR as usize;
            continue;
        }
        if pos + len > buf.len() || len < 34 {
            return Err(LocateError::Corrupt(format!(
                "directory record at byte {} overruns its extent",
                start + pos as u64
            )));
        }
        if let Some(r) = parse_record(&buf[pos..pos + len]) {
            // Skip "." and ".." (names 0x00 and 0x01).
            if !(r.iso_name == "\0" || r.iso_name == "\u{1}") {
                out.push(r);
            }
        }
        pos += len;
    }
    Ok(out)
}

fn parse_record(rec: &[u8]) -> Option<Record> {
    let name_len = *rec.get(32)? as usize;
    let name = rec.get(33..33 + name_len)?;
    let su_start = 33 + name_len + (1 - name_len % 2);
    let rr_name = rec.get(su_start..).and_then(rock_ridge_name);
    Some(Record {
        extent: u32::from_le_bytes(rec[2..6].try_into().ok()?) as u64,
        len: u32::from_le_bytes(rec[10..14].try_into().ok()?) as u64,
        flags: rec[25],
        interleaved: rec[26] != 0 || rec[27] != 0,
        iso_name: String::from_utf8_lossy(name).into_owned(),
        rr_name,
    })
}

/// Concatenates the `NM` entries of a System Use area (names split over several entries).
fn rock_ridge_name(mut su: &[u8]) -> Option<String> {
    let mut name = Vec::new();
    let mut seen = false;
    while su.len() >= 4 {
        let len = su[2] as usize;
        if len < 4 || len > su.len() {
            break;
        }
        if &su[0..2] == b"NM" && len >= 5 {
            let flags = su[4];
            if flags & 0x06 == 0 {
                name.extend_from_slice(&su[5..len]);
                seen = true;
            }
        }
        if &su[0..2] == b"ST" {
            break;
        }
        su = &su[len..];
    }
    seen.then(|| String::from_utf8_lossy(&name).into_owned())
}
