//! The netboot carrier: a tiny uncompressed newc cpio holding `kateskit/embed.img`. The kernel
//! unpacks concatenated initrds, so the bootloader loads it after the generic initrd.

use super::{read_exact_at, Extent, LocateError};
use std::fs::File;

pub const MAGIC: &[u8; 6] = b"070701";
pub const EMBED_PATH: &str = "kateskit/embed.img";

fn pad4(v: &mut Vec<u8>) {
    while v.len() % 4 != 0 {
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

pub fn is_cpio(file: &File) -> bool {
    let mut m = [0u8; 6];
    read_exact_at(file, &mut m, 0).is_ok() && &m == MAGIC
}

/// Finds the data extent of `kateskit/embed.img` in a newc archive.
pub fn find_embed(file: &File, file_len: u64) -> Result<Extent, LocateError> {
    let mut pos = 0u64;
    for _ in 0..64 {
        let mut hdr = [0u8; 110];
        read_exact_at(file, &mut hdr, pos).map_err(|_| LocateError::Truncated {
            need: pos + 110,
            have: file_len,
        })?;
        if &hdr[..6] != MAGIC {
            return Err(LocateError::Corrupt(format!(
                "cpio header at byte {pos} lacks magic 070701"
            )));
        }
        let field = |i: usize| {
            let s = std::str::from_utf8(&hdr[6 + 8 * i..14 + 8 * i]).ok();
            s.and_then(|s| u32::from_str_radix(s, 16).ok())
                .ok_or_else(|| {
                    LocateError::Corrupt(format!("cpio header at byte {pos}: bad hex field {i}"))
                })
        };
        let (size, namesize) = (field(6)? as u64, field(11)? as u64);
        let mut name = vec![0u8; namesize as usize];
        read_exact_at(file, &mut name, pos + 110).map_err(|_| LocateError::Truncated {
            need: pos + 110 + namesize,
            have: file_len,
        })?;
        let name = String::from_utf8_lossy(name.strip_suffix(&[0]).unwrap_or(&name)).into_owned();
        let data = (pos + 110 + namesize).div_ceil(4) * 4;
        if name == "TRAILER!!!" {
            break;
        }
        if name.trim_start_matches("./") == EMBED_PATH {
            if data + size > file_len {
                return Err(LocateError::Truncated {
                    need: data + size,
                    have: file_len,
                });
            }
            return Ok(Extent {
                offset: data,
                len: size,
            });
        }
        pos = (data + size).div_ceil(4) * 4;
    }
    Err(LocateError::Missing {
        path: EMBED_PATH.into(),
    })
}
