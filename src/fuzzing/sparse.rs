//! A disk image described by a few byte ranges over zeros, so a fuzz input of a few KiB can
//! stand for an image of any length (huge LBAs, extents near the end of a 2 TiB disk).
//!
//! Encoding: `u64 LE length`, then chunks of `u64 LE offset`, `u16 LE size` and `size` bytes,
//! later chunks overriding earlier ones. A truncated chunk keeps the bytes that are there.

use std::cell::RefCell;

use crate::image::{self, ImageSource};

/// Longest image a fuzz input may describe (8 TiB).
const MAX_LEN: u64 = 8 << 40;

pub struct SparseImage {
    len: u64,
    chunks: Vec<(u64, Vec<u8>)>,
}

impl SparseImage {
    /// Decodes any byte string (never fails: missing fields read as zeros).
    pub fn decode(data: &[u8]) -> SparseImage {
        let u64_at = |b: &[u8]| {
            let mut a = [0u8; 8];
            a[..b.len().min(8)].copy_from_slice(&b[..b.len().min(8)]);
            u64::from_le_bytes(a)
        };
        let len = u64_at(data).min(MAX_LEN);
        let mut chunks = Vec::new();
        let mut rest = data.get(8..).unwrap_or_default();
        while rest.len() >= 10 {
            let off = u64_at(&rest[..8]);
            let size = u16::from_le_bytes([rest[8], rest[9]]) as usize;
            let body = &rest[10..];
            let take = size.min(body.len());
            chunks.push((off, body[..take].to_vec()));
            rest = &body[take..];
        }
        SparseImage { len, chunks }
    }

    /// The encoding of `len` bytes of which `ranges` (offset, length) are copied from `image`.
    pub fn encode(image: &[u8], ranges: &[(u64, usize)]) -> Vec<u8> {
        let mut out = (image.len() as u64).to_le_bytes().to_vec();
        for &(off, len) in ranges {
            let start = off as usize;
            let step = u16::MAX as usize;
            for (i, piece) in image[start..start + len].chunks(step).enumerate() {
                out.extend((off + (i * step) as u64).to_le_bytes());
                out.extend((piece.len() as u16).to_le_bytes());
                out.extend(piece);
            }
        }
        out
    }
}

impl ImageSource for SparseImage {
    fn byte_len(&self) -> std::io::Result<u64> {
        Ok(self.len)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|&e| e <= self.len)
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
        buf.fill(0);
        for (off, bytes) in &self.chunks {
            let c_end = off.saturating_add(bytes.len() as u64);
            let (lo, hi) = (offset.max(*off), end.min(c_end));
            if lo < hi {
                let dst = (lo - offset) as usize..(hi - offset) as usize;
                let src = (lo - off) as usize..(hi - off) as usize;
                buf[dst].copy_from_slice(&bytes[src]);
            }
        }
        Ok(())
    }
}

/// Records the ranges a parser reads, to build a small seed from a real image.
struct Recording<'a> {
    image: &'a [u8],
    reads: RefCell<Vec<(u64, usize)>>,
}

impl ImageSource for Recording<'_> {
    fn byte_len(&self) -> std::io::Result<u64> {
        Ok(self.image.len() as u64)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        self.image.read_exact_at(buf, offset)?;
        self.reads.borrow_mut().push((offset, buf.len()));
        Ok(())
    }
}

/// A seed for the `locate` target: the bytes of `image` that locating its embed area reads
/// (headers, tables, directories), everything else left as implicit zeros.
pub fn seed_for_image(image: &[u8]) -> Result<Vec<u8>, image::LocateError> {
    let rec = Recording {
        image,
        reads: RefCell::new(Vec::new()),
    };
    image::locate_in(&rec)?;
    let mut reads = rec.reads.into_inner();
    reads.sort();
    reads.dedup();
    Ok(SparseImage::encode(image, &reads))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_reads_the_recorded_ranges_and_zeros_elsewhere() {
        let mut image = vec![0u8; 200_000];
        image[70_000..70_010].copy_from_slice(b"0123456789");
        image[199_999] = 7;
        let enc = SparseImage::encode(&image, &[(69_990, 80_000), (199_999, 1)]);
        let img = SparseImage::decode(&enc);
        assert_eq!(img.byte_len().unwrap(), 200_000);
        let mut buf = [0u8; 12];
        img.read_exact_at(&mut buf, 69_999).unwrap();
        assert_eq!(&buf, b"\x000123456789\x00");
        let mut last = [0u8; 1];
        img.read_exact_at(&mut last, 199_999).unwrap();
        assert_eq!(last, [7]);
        assert!(img.read_exact_at(&mut last, 200_000).is_err());
    }
}
