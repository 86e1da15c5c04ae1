//! Direct I/O building blocks: page-aligned buffers, a second `O_DIRECT` handle on an open file,
//! and writes that send the whole-block part of a buffer through that handle. Writing with
//! `O_DIRECT` bypasses the page cache, so the time a write takes is the device's time and
//! nothing is left for `fsync` to flush.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Alignment for buffers, offsets and lengths of direct writes: a page, which is also at least
/// the logical block size of every disk in practice. A filesystem that wants more fails the
/// first write with EINVAL, and the caller falls back to a buffered copy.
pub const ALIGN: usize = 4096;
/// A heap buffer aligned to [`ALIGN`], as `O_DIRECT` requires.
pub struct AlignedBuf {
    ptr: std::ptr::NonNull<u8>,
    layout: Layout,
}

// SAFETY: the buffer is plain memory owned by exactly one `AlignedBuf`.
unsafe impl Send for AlignedBuf {}

impl AlignedBuf {
    /// A zeroed buffer of `len` bytes (at least [`ALIGN`]).
    pub fn new(len: usize) -> AlignedBuf {
        let layout = Layout::from_size_align(len.max(ALIGN), ALIGN).expect("valid layout");
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        let ptr =
            std::ptr::NonNull::new(ptr).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        AlignedBuf { ptr, layout }
    }
}

impl std::ops::Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` points to `layout.size()` initialised (zeroed) bytes owned by `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.layout.size()) }
    }
}

impl std::ops::DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.layout.size()) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this same layout.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// Opens a second handle on `f`'s file (a regular file or a block device) with `O_DIRECT`, or
/// `None` where the filesystem does not take it.
pub fn reopen_direct(f: &File) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(format!("/proc/self/fd/{}", f.as_raw_fd()))
        .map_err(|e| tracing::debug!("no direct I/O: {e}"))
        .ok()
}

/// Writes `data` at `off`: the whole-block part through `direct` (when buffer and offset are
/// aligned), the rest through `buffered`, the same file without `O_DIRECT`.
pub fn write_at(direct: &File, buffered: &File, data: &[u8], off: u64) -> io::Result<()> {
    let aligned_start =
        off.is_multiple_of(ALIGN as u64) && (data.as_ptr() as usize).is_multiple_of(ALIGN);
    let cut = if aligned_start {
        data.len() - data.len() % ALIGN
    } else {
        0
    };
    direct.write_all_at(&data[..cut], off)?;
    buffered.write_all_at(&data[cut..], off + cut as u64)
}

/// Reads `buf.len()` bytes at `off` through `direct` where buffer, offset and length allow it,
/// the unaligned tail through `buffered` (which then may come from the page cache).
pub fn read_at(direct: &File, buffered: &File, buf: &mut [u8], off: u64) -> io::Result<()> {
    let aligned_start =
        off.is_multiple_of(ALIGN as u64) && (buf.as_ptr() as usize).is_multiple_of(ALIGN);
    let cut = if aligned_start {
        buf.len() - buf.len() % ALIGN
    } else {
        0
    };
    let (head, tail) = buf.split_at_mut(cut);
    direct.read_exact_at(head, off)?;
    buffered.read_exact_at(tail, off + cut as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(len: usize) -> (tempfile::NamedTempFile, File, Vec<u8>) {
        let tmp = tempfile::NamedTempFile::new_in("/var/tmp").unwrap();
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 4096) as u8).collect();
        std::fs::write(tmp.path(), &data).unwrap();
        let f = File::options()
            .read(true)
            .write(true)
            .open(tmp.path())
            .unwrap();
        (tmp, f, data)
    }

    #[test]
    fn buffers_are_aligned_and_zeroed() {
        for len in [1, ALIGN - 1, ALIGN, 3 * ALIGN + 1] {
            let b = AlignedBuf::new(len);
            assert_eq!(b.as_ptr() as usize % ALIGN, 0);
            assert!(b.len() >= len && b.len() >= ALIGN);
            assert!(b.iter().all(|x| *x == 0));
        }
    }

    #[test]
    fn writes_and_reads_at_alignment_edges() {
        let (_t, f, _) = files(8 * ALIGN);
        let direct = reopen_direct(&f).unwrap_or_else(|| f.try_clone().unwrap());
        for (off, len) in [
            (0, 2 * ALIGN + 5),
            (ALIGN as u64, ALIGN),
            (3, ALIGN),
            (0, 7),
        ] {
            let mut src = AlignedBuf::new(len);
            src[..len]
                .iter_mut()
                .enumerate()
                .for_each(|(i, b)| *b = (i % 251) as u8 + 1);
            write_at(&direct, &f, &src[..len], off).unwrap();
            let mut back = AlignedBuf::new(len);
            read_at(&direct, &f, &mut back[..len], off).unwrap();
            assert_eq!(&back[..len], &src[..len], "off {off} len {len}");
            let mut plain = vec![0u8; len];
            f.read_exact_at(&mut plain, off).unwrap();
            assert_eq!(plain, &src[..len]);
        }
    }
}
