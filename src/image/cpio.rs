//! The netboot carrier: a tiny uncompressed newc cpio holding `kateskit/embed.img`. The kernel
//! unpacks concatenated initrds, so the bootloader loads it after the generic initrd.

use super::{bad_field, Extent, ImageSource, LocateError};

pub const MAGIC: &[u8; 6] = b"070701";
pub const EMBED_PATH: &str = "kateskit/embed.img";
/// Longest member name read, NUL included (Linux's PATH_MAX): the archive says how many bytes
/// to allocate, so this is checked before any allocation.
pub const MAX_NAMESIZE: u64 = 4096;
/// Members walked before giving up on finding the embed file.
const MAX_MEMBERS: usize = 64;
const HDR: u64 = 110;

fn pad4(v: &mut Vec<u8>) {
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
}

fn entry(out: &mut Vec<u8>, ino: u32, mode: u32, name: &str, data: &[u8]) {
    let nlink = if mode & 0o040000 != 0 { 2 } else { 1 };
    let fields = [
        ino,
        mode,
        0,
        0,
        nlink,
        0,
        data.len() as u32,
        0,
        0,
        0,
        0,
        name.len() as u32 + 1,
        0,
    ];
    out.extend_from_slice(MAGIC);
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

/// Builds the archive: directory `kateskit`, file `kateskit/embed.img` (0600), trailer.
/// Timestamps and owners are zero so the output is reproducible.
pub fn write_newc(area: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(area.len() + 512);
    entry(&mut out, 1, 0o040755, "kateskit", &[]);
    entry(&mut out, 2, 0o100600, EMBED_PATH, area);
    entry(&mut out, 0, 0, "TRAILER!!!", &[]);
    // Round up to 512 like cpio(1) does; some bootloaders load initrds in whole blocks.
    while out.len() % 512 != 0 {
        out.push(0);
    }
    out
}

pub fn is_cpio<S: ImageSource + ?Sized>(src: &S) -> bool {
    let mut m = [0u8; 6];
    src.read_exact_at(&mut m, 0).is_ok() && &m == MAGIC
}

/// `a + b` for offsets taken from the archive, or an error naming the field.
fn add(field: &'static str, value: u64, a: u64, b: u64) -> Result<u64, LocateError> {
    a.checked_add(b)
        .ok_or_else(|| bad_field("cpio header", field, value, "offset overflows".into()))
}

/// Rounds up to the 4-byte alignment of newc, checked.
fn align4(field: &'static str, value: u64, at: u64) -> Result<u64, LocateError> {
    Ok(add(field, value, at, 3)? & !3)
}

/// Finds the data extent of `kateskit/embed.img` in a newc archive. Sizes come from the
/// archive, so each is checked against the bytes that remain before anything is allocated.
pub fn find_embed<S: ImageSource + ?Sized>(src: &S, file_len: u64) -> Result<Extent, LocateError> {
    let mut pos = 0u64;
    for _ in 0..MAX_MEMBERS {
        let mut hdr = [0u8; HDR as usize];
        let name_at = add("c_ino", pos, pos, HDR)?;
        src.read_exact_at(&mut hdr, pos)
            .map_err(|_| LocateError::Truncated {
                need: name_at,
                have: file_len,
            })?;
        if &hdr[..6] != MAGIC {
            return Err(LocateError::Corrupt(format!(
                "cpio header at byte {pos} lacks magic 070701"
            )));
        }
        let field = |i: usize, name: &str| {
            let s = std::str::from_utf8(&hdr[6 + 8 * i..14 + 8 * i]).ok();
            s.and_then(|s| u32::from_str_radix(s, 16).ok())
                .map(u64::from)
                .ok_or_else(|| {
                    LocateError::Corrupt(format!(
                        "cpio header at byte {pos}: {name} is not 8 hex digits"
                    ))
                })
        };
        let (size, namesize) = (field(6, "c_filesize")?, field(11, "c_namesize")?);
        if namesize == 0 || namesize > MAX_NAMESIZE {
            return Err(bad_field(
                "cpio header",
                "c_namesize",
                namesize,
                format!("member at byte {pos}: names are 1..={MAX_NAMESIZE} bytes"),
            ));
        }
        let name_end = add("c_namesize", namesize, name_at, namesize)?;
        if name_end > file_len {
            return Err(LocateError::Truncated {
                need: name_end,
                have: file_len,
            });
        }
        let mut name = vec![0u8; namesize as usize];
        src.read_exact_at(&mut name, name_at)
            .map_err(|_| LocateError::Truncated {
                need: name_end,
                have: file_len,
            })?;
        let name = String::from_utf8_lossy(name.strip_suffix(&[0]).unwrap_or(&name)).into_owned();
        let data = align4("c_namesize", namesize, name_end)?;
        if name == "TRAILER!!!" {
            break;
        }
        let data_end = add("c_filesize", size, data, size)?;
        if data_end > file_len {
            return Err(LocateError::Truncated {
                need: data_end,
                have: file_len,
            });
        }
        if name.trim_start_matches("./") == EMBED_PATH {
            return Ok(Extent {
                offset: data,
                len: size,
            });
        }
        pos = align4("c_filesize", size, data_end)?;
    }
    Err(LocateError::Missing {
        path: EMBED_PATH.into(),
    })
}
