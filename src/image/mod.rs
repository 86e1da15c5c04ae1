//! Generic images and their embed area: finding it (ISO9660, GPT, newc cpio), stamping it,
//! copying images, flashing them to devices and pulling them over HTTPS.

pub mod copy;
pub mod copy_direct;
pub mod cpio;
pub mod customize;
pub mod embed;
pub mod flash;
mod flash_stream;
pub mod gpt;
pub mod iso9660;
pub mod output;
pub mod pull;
pub mod sums;

use std::fs::File;
use std::os::unix::fs::FileExt;

/// Byte range of the embed area inside an image file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Extent {
    pub offset: u64,
    pub len: u64,
}

/// Which carrier an image uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CarrierKind {
    Iso,
    Gpt,
    Cpio,
}

impl std::fmt::Display for CarrierKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CarrierKind::Iso => "ISO9660 file /kateskit/embed.img",
            CarrierKind::Gpt => "GPT partition KATESKIT-EMBED",
            CarrierKind::Cpio => "newc cpio member kateskit/embed.img",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Carrier {
    pub kind: CarrierKind,
    pub extent: Extent,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LocateError {
    #[error(
        "not an ISO9660 image, a GPT disk image or a newc cpio; expected a KatesKit generic image"
    )]
    UnknownFormat,
    #[error(
        "image is truncated: needs at least {need} bytes but has {have}; download or copy it again"
    )]
    Truncated { need: u64, have: u64 },
    #[error("{path} not found; this image was not built with a KatesKit embed area")]
    Missing { path: String },
    #[error(
        "{path} is not one contiguous extent (multi-extent or interleaved); rebuild the image"
    )]
    NotContiguous { path: String },
    #[error("embed area is {found} bytes, expected {expected}; rebuild the image")]
    SizeMismatch { found: u64, expected: u64 },
    #[error("{what}: CRC32 mismatch (stored {stored:08x}, computed {computed:08x}); the image is corrupt")]
    BadCrc {
        what: &'static str,
        stored: u32,
        computed: u32,
    },
    #[error("image is corrupt: {0}")]
    Corrupt(String),
}

/// `pread` until `buf` is full; short files give UnexpectedEof.
pub(crate) fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    file.read_exact_at(buf, offset)
}

/// Finds the embed area. An ISO wins over GPT: hybrid ISOs carry both, and the area is a file.
pub fn locate(file: &File) -> Result<Carrier, LocateError> {
    let file_len = file
        .metadata()
        .map_err(|e| LocateError::Corrupt(format!("stat: {e}")))?
        .len();
    let (kind, extent, expected) = if iso9660::is_iso(file) {
        (
            CarrierKind::Iso,
            iso9660::find_file(file, file_len, "kateskit/embed.img")?,
            embed::ISO_AREA_SIZE,
        )
    } else if let Some(ss) = gpt::detect(file) {
        (
            CarrierKind::Gpt,
            gpt::find_embed(file, file_len, ss)?,
            embed::GPT_AREA_SIZE,
        )
    } else if cpio::is_cpio(file) {
        (
            CarrierKind::Cpio,
            cpio::find_embed(file, file_len)?,
            embed::ISO_AREA_SIZE,
        )
    } else if file_len < 32 * 1024 {
        return Err(LocateError::Truncated {
            need: 32 * 1024 + 2048,
            have: file_len,
        });
    } else {
        return Err(LocateError::UnknownFormat);
    };
    if extent.len != expected as u64 {
        return Err(LocateError::SizeMismatch {
            found: extent.len,
            expected: expected as u64,
        });
    }
    Ok(Carrier { kind, extent })
}
