//! SHA-256 of what passes through a reader or writer, so a stream is hashed in the same pass
//! that moves it.

use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

/// Hashes every byte read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Lowercase hex SHA-256 and byte count of everything read.
    pub fn finish(self) -> (String, u64) {
        (hex::encode(self.hasher.finalize()), self.count)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Hashes every byte written through it (only what the inner writer accepted).
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    pub fn finish(self) -> (String, u64) {
        (hex::encode(self.hasher.finalize()), self.count)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Vec<u8> {
        (0..100_003u32).map(|i| (i % 253) as u8).collect()
    }

    #[test]
    fn reader_and_writer_agree_with_one_shot_hash() {
        let d = data();
        let want = hex::encode(Sha256::digest(&d));
        let mut r = HashingReader::new(&d[..]);
        let mut w = HashingWriter::new(Vec::new());
        let mut buf = [0u8; 4093];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            w.write_all(&buf[..n]).unwrap();
        }
        assert_eq!(r.finish(), (want.clone(), d.len() as u64));
        assert_eq!(w.finish().0, want);
    }

    #[test]
    fn writer_hashes_only_accepted_bytes() {
        let mut space = [0u8; 10];
        let mut w = HashingWriter::new(&mut space[..]);
        assert!(w.write_all(&[1u8; 12]).is_err());
        let (h, n) = w.finish();
        assert_eq!(n, 10);
        assert_eq!(h, hex::encode(Sha256::digest([1u8; 10])));
    }
}
