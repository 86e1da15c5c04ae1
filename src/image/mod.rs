//! Generic images and their embed area: finding it (ISO9660, GPT, newc cpio), stamping it,
//! copying images, flashing them to devices and pulling them over HTTPS.

pub mod cleartext;
pub mod copy;
pub mod copy_direct;
pub mod cpio;
pub mod customize;
pub mod embed;
pub mod flash;
mod flash_stream;
pub mod flash_url;
mod flash_url_types;
pub mod gpt;
pub mod gpt_write;
pub mod http_range;
pub mod iso9660;
pub mod output;
pub mod pull;
pub mod sums;
pub mod zero_map;
pub mod zero_map_fetch;

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
    /// A header field that cannot describe a real image: out of range, overflowing when turned
    /// into a byte offset, or pointing outside the file or its own structure.
    #[error("{structure} field {field} = {value} is out of bounds: {reason}; the image is corrupt or crafted, download or rebuild it")]
    BadField {
        structure: &'static str,
        field: &'static str,
        value: u64,
        reason: String,
    },
}

pub(crate) fn bad_field(
    structure: &'static str,
    field: &'static str,
    value: u64,
    reason: String,
) -> LocateError {
    LocateError::BadField {
        structure,
        field,
        value,
        reason,
    }
}

/// Positioned reads over an image: a file, or bytes in memory (fuzzing and tests need no
/// temp files). Parsers take any source, so both run the same checks.
pub trait ImageSource {
    /// Total length in bytes.
    fn byte_len(&self) -> std::io::Result<u64>;
    /// Fills `buf` from `offset`; short sources give UnexpectedEof.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()>;
}

impl ImageSource for File {
    /// The file's length, or for a block device (a flashed stick) the device's size.
    fn byte_len(&self) -> std::io::Result<u64> {
        use std::os::unix::fs::FileTypeExt;
        let m = self.metadata()?;
        if m.file_type().is_block_device() {
            return crate::disk::device_size(self);
        }
        Ok(m.len())
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }
}

impl ImageSource for [u8] {
    fn byte_len(&self) -> std::io::Result<u64> {
        Ok(self.len() as u64)
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let eof = || std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
        let start = usize::try_from(offset).map_err(|_| eof())?;
        let end = start.checked_add(buf.len()).ok_or_else(eof)?;
        buf.copy_from_slice(self.get(start..end).ok_or_else(eof)?);
        Ok(())
    }
}

/// An image's first bytes standing in for the whole image (of `len` bytes) when parsing its
/// GPT; reads past them fail as a short file would.
pub struct Head<'a> {
    pub bytes: &'a [u8],
    pub len: u64,
}

impl ImageSource for Head<'_> {
    fn byte_len(&self) -> std::io::Result<u64> {
        Ok(self.len)
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        ImageSource::read_exact_at(self.bytes, buf, offset)
    }
}

/// Finds the embed area. An ISO wins over GPT: hybrid ISOs carry both, and the area is a file.
pub fn locate(file: &File) -> Result<Carrier, LocateError> {
    locate_in(file)
}

/// [`locate`] over bytes in memory.
pub fn locate_bytes(bytes: &[u8]) -> Result<Carrier, LocateError> {
    locate_in(bytes)
}

/// [`locate`] over any image source.
pub fn locate_in<S: ImageSource + ?Sized>(file: &S) -> Result<Carrier, LocateError> {
    let file_len = file
        .byte_len()
        .map_err(|e| LocateError::Corrupt(format!("stat: {e}")))?;
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
