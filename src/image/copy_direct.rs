//! Durable copy with direct I/O. A copy that must be on disk before it is renamed into place
//! costs one pass through the disk either way; writing it with `O_DIRECT` makes that the only
//! cost (no page-cache fill, nothing left for `fsync` to flush, no GiB of dirty pages pushing other
//! work out of memory). Reading runs on a second thread so the source is read while the previous
//! chunk is written.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::mpsc;

use indicatif::ProgressBar;

pub use crate::io::direct::{read_at, reopen_direct, write_at, AlignedBuf, ALIGN};

/// Bytes per write; three buffers are in flight.
pub const CHUNK: usize = 16 << 20;
const BUFFERS: usize = 3;

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
