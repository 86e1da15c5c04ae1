//! Durable copy with direct I/O. A copy that must be on disk before it is renamed into place
//! costs one pass through the disk either way; writing it with `O_DIRECT` makes that the only
//! cost (no page-cache fill, nothing left for `fsync` to flush, no GiB of dirty pages pushing other
//! work out of memory). Reading runs on a second thread so the source is read while the previous
//! chunk is written.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use indicatif::ProgressBar;

pub use crate::io::direct::{read_at, reopen_direct, write_at, AlignedBuf, ALIGN};

/// Bytes per write; three buffers are in flight (`io::pipeline`).
pub const CHUNK: usize = 16 << 20;

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
        chunk >= ALIGN && chunk.is_multiple_of(ALIGN),
        "chunk must be a multiple of ALIGN"
    );
    crate::io::pipeline::run(
        len,
        chunk,
        |buf, off| src.read_exact_at(buf, off),
        |data, off| {
            write_at(direct, buffered, data, off)?;
            if let Some(pb) = progress {
                pb.set_position(off + data.len() as u64);
            }
            Ok(())
        },
        |_| io::Error::new(io::ErrorKind::UnexpectedEof, "source reader stopped early"),
    )
}
