//! The two passes of a flash, each a two-thread pipeline: a reader fills aligned buffers one
//! chunk ahead while the main thread writes (or compares) the previous one; and the regions a
//! streamed install withholds and wipes.

use std::fs::File;
use std::os::unix::fs::FileExt;

use sha2::{Digest, Sha256};

use super::flash::{io, FlashError, FlashOptions, CHUNK, HEAD};
use crate::io::direct::{read_at, write_at};
use crate::io::overlay::Overlay;

/// [`crate::io::pipeline::run`] with the flash's error for a reader that stopped early.
fn pipeline<P, C>(len: u64, chunk: usize, produce: P, consume: C) -> Result<(), FlashError>
where
    P: FnMut(&mut [u8], u64) -> Result<(), FlashError> + Send,
    C: FnMut(&[u8], u64) -> Result<(), FlashError>,
{
    crate::io::pipeline::run(len, chunk, produce, consume, |done| FlashError::Io {
        action: format!("reading at byte {done}"),
        error: std::io::Error::other("reader thread stopped early"),
    })
}

/// Reads image bytes at `off` with the overlay applied.
fn image_bytes(
    image: &File,
    overlay: Option<&Overlay>,
    buf: &mut [u8],
    off: u64,
) -> Result<(), FlashError> {
    image
        .read_exact_at(buf, off)
        .map_err(io(format!("reading image at byte {off} (did it shrink?)")))?;
    Overlay::apply_opt(overlay, buf, off);
    Ok(())
}

/// Streams the image past its first MiB to the target; returns that first MiB (to be written
/// last) and the SHA-256 of the whole stream as written.
pub(super) fn write(
    image: &File,
    image_len: u64,
    direct: &File,
    target: &File,
    opts: &FlashOptions,
) -> Result<(Vec<u8>, String), FlashError> {
    let mut head = vec![0u8; HEAD.min(image_len) as usize];
    let mut hasher = Sha256::new();
    let overlay = opts.overlay.as_ref();
    let mut written = 0u64;
    let hasher_ref = &mut hasher;
    pipeline(
        image_len,
        CHUNK,
        |buf, off| {
            image_bytes(image, overlay, buf, off)?;
            hasher_ref.update(&*buf);
            Ok(())
        },
        |chunk, pos| {
            let split = (HEAD.saturating_sub(pos) as usize).min(chunk.len());
            if split > 0 {
                head[pos as usize..pos as usize + split].copy_from_slice(&chunk[..split]);
            }
            let rest = &chunk[split..];
            let at = pos + split as u64;
            if let Some(limit) = opts.fail_after {
                if written + rest.len() as u64 > limit {
                    let part = (limit - written) as usize;
                    target
                        .write_all_at(&rest[..part], at)
                        .map_err(io("writing"))?;
                    return Err(FlashError::Injected(limit));
                }
            }
            write_at(direct, target, rest, at).map_err(io(format!("writing at byte {at}")))?;
            written += rest.len() as u64;
            if let Some(pb) = &opts.progress {
                pb.set_position(pos + chunk.len() as u64);
            }
            Ok(())
        },
    )?;
    Ok((head, hex::encode(hasher.finalize())))
}

/// Reads the first `len` bytes back from the medium (direct I/O; where the target takes none,
/// after dropping its cached pages) and compares them with the image.
pub(super) fn verify(
    image: &File,
    len: u64,
    direct: &File,
    target: &File,
    opts: &FlashOptions,
) -> Result<(), FlashError> {
    let _ = rustix::fs::fadvise(target, 0, 0, rustix::fs::Advice::DontNeed);
    let overlay = opts.overlay.as_ref();
    let mut want = vec![0u8; CHUNK];
    pipeline(
        len,
        CHUNK,
        |buf, off| {
            read_at(direct, target, buf, off).map_err(io(format!("reading back at byte {off}")))
        },
        |got, off| {
            let want = &mut want[..got.len()];
            image_bytes(image, overlay, want, off)?;
            if got != &*want {
                return Err(FlashError::Verify { offset: off });
            }
            if let Some(pb) = &opts.progress {
                pb.set_position(len + off + got.len() as u64);
            }
            Ok(())
        },
    )
}

/// Reads the target back (direct I/O) and compares its SHA-256 with `want`, what was written
/// (a streamed image has no file to compare with byte for byte).
pub(super) fn verify_sha256(
    direct: &File,
    target: &File,
    len: u64,
    want: &str,
    opts: &FlashOptions,
) -> Result<(), FlashError> {
    let _ = rustix::fs::fadvise(target, 0, 0, rustix::fs::Advice::DontNeed);
    let mut h = Sha256::new();
    crate::io::pipeline::run(
        len,
        CHUNK,
        |buf, off| {
            read_at(direct, target, buf, off).map_err(io(format!("reading back at byte {off}")))
        },
        |got, off| {
            h.update(got);
            if let Some(pb) = &opts.progress {
                pb.set_position(len + off + got.len() as u64);
            }
            Ok(())
        },
        |done| FlashError::Io {
            action: format!("reading back at byte {done}"),
            error: std::io::Error::other("reader thread stopped early"),
        },
    )?;
    if hex::encode(h.finalize()) != want {
        return Err(FlashError::VerifyHash);
    }
    Ok(())
}

/// Where the partition tables can be (the image's head and tail, the disk's last MiB) and
/// the node's config (offset, length), none of which a failed install leaves behind.
pub(super) struct Regions {
    pub head_len: u64,
    pub tail_start: u64,
    pub len: u64,
    pub target_len: u64,
    pub overlay: Option<(u64, u64)>,
}

impl Regions {
    pub fn zero(&self, target: &File) -> Result<(), FlashError> {
        target
            .write_all_at(&vec![0u8; self.head_len as usize], 0)
            .map_err(io("zeroing the first MiB"))?;
        target
            .write_all_at(
                &vec![0u8; (self.len - self.tail_start) as usize],
                self.tail_start,
            )
            .map_err(io("zeroing the image's backup GPT region"))?;
        if let Some((off, len)) = self.overlay {
            target
                .write_all_at(&vec![0u8; len as usize], off)
                .map_err(io(format!("zeroing the node's config at byte {off}")))?;
        }
        // An old backup GPT at the disk's end would make tools restore the old table.
        let last = self.target_len.saturating_sub(HEAD).max(self.len);
        target
            .write_all_at(&vec![0u8; (self.target_len - last) as usize], last)
            .map_err(io(format!("zeroing the last MiB from byte {last}")))?;
        target.sync_all().map_err(io("syncing after zeroing"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeline_visits_every_chunk_in_order_and_stops_on_error() {
        for len in [0u64, 1, 4095, 4096, 3 * 4096 + 17] {
            let mut seen = Vec::new();
            pipeline(
                len,
                4096,
                |buf, off| {
                    buf.fill((off / 4096) as u8);
                    Ok(())
                },
                |c, off| {
                    assert!(c.iter().all(|b| *b == (off / 4096) as u8));
                    seen.push((off, c.len()));
                    Ok(())
                },
            )
            .unwrap();
            let total: usize = seen.iter().map(|s| s.1).sum();
            assert_eq!(total as u64, len);
            assert!(seen.windows(2).all(|w| w[0].0 + w[0].1 as u64 == w[1].0));
        }
        let err = pipeline(
            10 * 4096,
            4096,
            |_, _| Ok(()),
            |_, off| {
                if off == 2 * 4096 {
                    Err(FlashError::Verify { offset: off })
                } else {
                    Ok(())
                }
            },
        )
        .unwrap_err();
        assert!(matches!(err, FlashError::Verify { offset: 8192 }));
    }

    #[test]
    fn verify_names_the_chunk_that_differs_and_honours_the_overlay() {
        let dir = tempfile::tempdir_in("/var/tmp").unwrap();
        let len = CHUNK + 3 * 4096 + 5;
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let (img, dst) = (dir.path().join("img"), dir.path().join("dst"));
        std::fs::write(&img, &data).unwrap();
        let mut on_disk = data.clone();
        on_disk[10..14].copy_from_slice(b"EMBD");
        std::fs::write(&dst, &on_disk).unwrap();
        let image = File::open(&img).unwrap();
        let target = File::options().read(true).write(true).open(&dst).unwrap();
        let direct = crate::io::direct::reopen_direct(&target);
        let direct = direct.as_ref().unwrap_or(&target);
        let mut opts = FlashOptions::default();
        let err = verify(&image, len as u64, direct, &target, &opts).unwrap_err();
        assert!(matches!(err, FlashError::Verify { offset: 0 }), "{err}");
        opts.overlay = Some(Overlay::new(10, b"EMBD".to_vec()));
        verify(&image, len as u64, direct, &target, &opts).unwrap();
        // A byte off in the last, partial chunk is found there.
        target.write_all_at(&[0xFF], len as u64 - 1).unwrap();
        let err = verify(&image, len as u64, direct, &target, &opts).unwrap_err();
        assert!(
            matches!(err, FlashError::Verify { offset } if offset == CHUNK as u64),
            "{err}"
        );
    }
}
