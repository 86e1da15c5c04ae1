//! Durable copy with direct I/O. A copy that must be on disk before it is renamed into place
//! costs one pass through the disk either way; writing it with `O_DIRECT` makes that the only
//! cost (no page-cache fill, nothing left for `fsync` to flush, no GiB of dirty pages pushing other
//! work out of memory). Reading runs on a second thread so the source is read while the previous
//! chunk is written.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::mpsc;

use indicatif::ProgressBar;

/// Alignment for buffers, offsets and lengths of direct writes: a page, which is also at least
/// the logical block size of every disk in practice. A filesystem that wants more fails the
/// first write with EINVAL, and the caller falls back to a buffered copy.
pub const ALIGN: usize = 4096;
/// Bytes per write; three buffers are in flight.
pub const CHUNK: usize = 16 << 20;
const BUFFERS: usize = 3;

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
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(format!("/proc/self/fd/{}", f.as_raw_fd()))
        .map_err(|e| tracing::debug!("no direct I/O: {e}"))
        .ok()
}

/// Writes `data` at `off`: the whole-block part through `direct` (when buffer and offset are
/// aligned), the rest through `buffered`, the same file without `O_DIRECT`.
pub fn write_at(direct: &File, buffered: &File, data: &[u8], off: u64) -> io::Result<()> {
    let aligned_start = off % ALIGN as u64 == 0 && data.as_ptr() as usize % ALIGN == 0;
    let cut = if aligned_start {
        data.len() - data.len() % ALIGN
    } else {
        0
    };
    direct.write_all_at(&data[..cut], off)?;
    buffered.write_all_at(&data[cut..], off + cut as u64)
}

/// Copies `len` bytes of `src` to `direct` (the destination opened with `O_DIRECT`) in chunks of
/// `chunk` bytes (a multiple of [`ALIGN`]). A final piece shorter than [`ALIGN`] goes through
/// `buffered` (see [`write_at`]).
pub fn copy(
    src: &File,
    direct: &File,
    buffered: &File,
    len: u64,
    chunk: usize,
    progress: Option<&ProgressBar>,
) -> io::Result<()> {
    assert!(
        chunk >= ALIGN && chunk % ALIGN == 0,
        "chunk must be a multiple of ALIGN"
    );
    let (free_tx, free_rx) = mpsc::channel::<AlignedBuf>();
    let (full_tx, full_rx) = mpsc::sync_channel::<io::Result<(AlignedBuf, u64, usize)>>(BUFFERS);
    for _ in 0..BUFFERS.min(len.div_ceil(chunk as u64).max(1) as usize) {
        free_tx
            .send(AlignedBuf::new(chunk))
            .expect("receiver alive");
    }
    // `move`: the writer's ends of both channels drop when this closure returns, so a writer
    // error unblocks the reader before the scope joins it.
    std::thread::scope(move |s| {
        s.spawn(move || {
            let mut off = 0u64;
            while off < len {
                // The writer hung up (it failed): stop reading.
                let Ok(mut buf) = free_rx.recv() else { return };
                let n = (len - off).min(chunk as u64) as usize;
                let item = src
                    .read_exact_at(&mut buf[..n], off)
                    .map(|()| (buf, off, n));
                let failed = item.is_err();
                if full_tx.send(item).is_err() || failed {
                    return;
                }
                off += n as u64;
            }
        });
        let mut done = 0u64;
        while done < len {
            let (buf, off, n) = full_rx.recv().map_err(|_| {
                io::Error::new(io::ErrorKind::UnexpectedEof, "source reader stopped early")
            })??;
            write_at(direct, buffered, &buf[..n], off)?;
            done = off + n as u64;
            if let Some(pb) = progress {
                pb.set_position(done);
            }
            // The reader may already be done and gone; the buffer is then simply dropped.
            let _ = free_tx.send(buf);
        }
        Ok(())
    })
}
