//! Bytes that replace a stream's bytes at a fixed offset while it passes: the installer stamps
//! the node's embed area into the raw image on its way to the disk, so the disk is never
//! bootable without its config and the image file itself is never modified.

use std::io::{self, Read};

/// `bytes` placed at byte `offset` of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlay {
    pub offset: u64,
    pub bytes: Vec<u8>,
}

impl Overlay {
    pub fn new(offset: u64, bytes: Vec<u8>) -> Overlay {
        Overlay { offset, bytes }
    }

    /// Copies the part of the overlay that falls inside `chunk` (which starts at stream byte
    /// `pos`) into it; chunks elsewhere are left alone.
    pub fn apply(&self, chunk: &mut [u8], pos: u64) {
        let start = pos.max(self.offset);
        let end = (pos + chunk.len() as u64).min(self.offset + self.bytes.len() as u64);
        if start < end {
            let (c, b) = ((start - pos) as usize, (start - self.offset) as usize);
            let n = (end - start) as usize;
            chunk[c..c + n].copy_from_slice(&self.bytes[b..b + n]);
        }
    }

    /// Applies an optional overlay (the common case is none).
    pub fn apply_opt(o: Option<&Overlay>, chunk: &mut [u8], pos: u64) {
        if let Some(o) = o {
            o.apply(chunk, pos);
        }
    }
}

/// A reader whose bytes at the overlay's offset are the overlay's.
pub struct OverlayReader<R> {
    inner: R,
    pos: u64,
    overlay: Overlay,
}

impl<R: Read> OverlayReader<R> {
    pub fn new(inner: R, overlay: Overlay) -> OverlayReader<R> {
        OverlayReader {
            inner,
            pos: 0,
            overlay,
        }
    }
}

impl<R: Read> Read for OverlayReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.overlay.apply(&mut buf[..n], self.pos);
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected(len: usize, o: &Overlay) -> Vec<u8> {
        let mut v: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let end = (o.offset as usize + o.bytes.len()).min(len);
        if (o.offset as usize) < len {
            v[o.offset as usize..end].copy_from_slice(&o.bytes[..end - o.offset as usize]);
        }
        v
    }

    #[test]
    fn lands_across_every_chunk_boundary() {
        let o = Overlay::new(6, vec![0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6]);
        for chunk in 1..=17 {
            let mut data: Vec<u8> = (0..16).map(|i| i as u8).collect();
            for (i, c) in data.chunks_mut(chunk).enumerate() {
                o.apply(c, (i * chunk) as u64);
            }
            assert_eq!(data, expected(16, &o), "chunk {chunk}");
        }
    }

    #[test]
    fn reader_overlays_whatever_the_read_sizes() {
        let o = Overlay::new(4095, vec![0xEE; 4098]);
        let src: Vec<u8> = (0..3 * 4096).map(|i| i as u8).collect();
        for step in [1, 7, 4096, 5000, 1 << 20] {
            let mut r = OverlayReader::new(&src[..], o.clone());
            let mut out = Vec::new();
            let mut buf = vec![0u8; step];
            loop {
                let n = r.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
            assert_eq!(out, expected(src.len(), &o), "step {step}");
        }
    }

    #[test]
    fn an_overlay_past_the_end_changes_nothing_beyond_it() {
        let o = Overlay::new(14, vec![9; 8]);
        let mut data: Vec<u8> = (0..16).map(|i| i as u8).collect();
        o.apply(&mut data, 0);
        assert_eq!(data, expected(16, &o));
        let mut c = [1u8; 4];
        o.apply(&mut c, 100);
        assert_eq!(c, [1; 4]);
    }
}
