//! Streaming an image onto a target (a block device opened through `disk::open_for_write`, or a
//! regular file in tests). The first MiB, which holds the partition tables and boot code, is
//! zeroed first and written last, after everything else is on disk; on any failure it is zeroed
//! again, so the target is either a verified copy of the image or unbootable.
//!
//! The image goes to the target with direct I/O where the target takes it (block devices do), so
//! the progress bar follows the device rather than the page cache: with buffered writes a slow USB
//! stick shows 100% at once and then sits in the final sync for minutes, holding gigabytes of
//! dirty pages.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;

use indicatif::ProgressBar;
use sha2::{Digest, Sha256};

use super::copy_direct::{self, AlignedBuf};

/// Bytes written last (and zeroed on failure).
pub const HEAD: u64 = 1024 * 1024;
const CHUNK: usize = 4 * 1024 * 1024;
/// Test hook: fail once this many bytes were written (`KATESKIT_FLASH_FAIL_AFTER=<bytes>`).
pub const FAIL_AFTER_ENV: &str = "KATESKIT_FLASH_FAIL_AFTER";

#[derive(Debug, thiserror::Error)]
pub enum FlashError {
    #[error("{action}: {error}")]
    Io {
        action: String,
        error: std::io::Error,
    },
    #[error("target holds {target} bytes but the image needs {image}")]
    TooSmall { image: u64, target: u64 },
    #[error("injected failure after {0} bytes ({FAIL_AFTER_ENV})")]
    Injected(u64),
    #[error("read-back verification failed: wrote SHA-256 {written}, read back {read}; the target may be failing")]
    Verify { written: String, read: String },
}

fn io(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> FlashError {
    let action = action.into();
    move |error| FlashError::Io { action, error }
}

/// Options for one flash run.
#[derive(Debug, Default)]
pub struct FlashOptions {
    /// Fault injection for tests (see [`FAIL_AFTER_ENV`]).
    pub fail_after: Option<u64>,
    pub progress: Option<ProgressBar>,
    /// Bytes that replace the image's bytes at an offset while streaming (an embed area
    /// stamped on the way, so the disk is never bootable without it). Hashed as written.
    pub overlay: Option<(u64, Vec<u8>)>,
}

impl FlashOptions {
    /// Reads the fault-injection hook from the environment.
    pub fn from_env(progress: Option<ProgressBar>) -> FlashOptions {
        let fail_after = std::env::var(FAIL_AFTER_ENV)
            .ok()
            .and_then(|v| v.trim().parse().ok());
        FlashOptions {
            fail_after,
            progress,
            overlay: None,
        }
    }
}

/// Result of a successful flash.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FlashReport {
    pub bytes: u64,
    pub sha256: String,
}

/// Writes `image` to `target` and verifies it by reading it back. `target_len` is the device
/// size (for a regular file: anything at least as large as the image).
pub fn flash(
    image: &File,
    target: &File,
    target_len: u64,
    opts: &FlashOptions,
) -> Result<FlashReport, FlashError> {
    let image_len = image.metadata().map_err(io("reading image size"))?.len();
    if target_len < image_len {
        return Err(FlashError::TooSmall {
            image: image_len,
            target: target_len,
        });
    }
    let result = write_and_verify(image, image_len, target, opts);
    if result.is_err() {
        // Never leave a half-written but bootable target behind.
        let zero = vec![0u8; HEAD.min(target_len) as usize];
        if let Err(e) = target
            .write_all_at(&zero, 0)
            .and_then(|()| target.sync_all())
        {
            tracing::error!("zeroing the first MiB after a failed flash also failed: {e}");
        }
    }
    result
}

fn write_and_verify(
    image: &File,
    image_len: u64,
    target: &File,
    opts: &FlashOptions,
) -> Result<FlashReport, FlashError> {
    let head_len = HEAD.min(image_len) as usize;
    target
        .write_all_at(&vec![0u8; head_len], 0)
        .map_err(io("zeroing the first MiB"))?;
    target
        .sync_all()
        .map_err(io("syncing after zeroing the first MiB"))?;
    if let Some(pb) = &opts.progress {
        pb.set_length(image_len * 2);
        pb.set_message("writing");
    }
    let direct = copy_direct::reopen_direct(target);
    let direct = direct.as_ref().unwrap_or(target);
    let mut head = vec![0u8; head_len];
    let mut hasher = Sha256::new();
    let mut buf = AlignedBuf::new(CHUNK);
    let (mut pos, mut written) = (0u64, 0u64);
    let mut reader = image;
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(io(format!("reading image at byte {pos}")))?;
        if n == 0 {
            break;
        }
        if let Some((off, bytes)) = &opts.overlay {
            apply_overlay(&mut buf[..n], pos, *off, bytes);
        }
        let chunk = &buf[..n];
        hasher.update(chunk);
        // Split off the part below HEAD: it is kept in memory and written last.
        let split = (HEAD.saturating_sub(pos) as usize).min(n);
        if split > 0 {
            head[pos as usize..pos as usize + split].copy_from_slice(&chunk[..split]);
        }
        let rest = &chunk[split..];
        if !rest.is_empty() {
            if let Some(limit) = opts.fail_after {
                if written + rest.len() as u64 > limit {
                    let part = (limit - written) as usize;
                    target
                        .write_all_at(&rest[..part], pos + split as u64)
                        .map_err(io("writing"))?;
                    return Err(FlashError::Injected(limit));
                }
            }
            copy_direct::write_at(direct, target, rest, pos + split as u64)
                .map_err(io(format!("writing at byte {}", pos + split as u64)))?;
            written += rest.len() as u64;
        }
        pos += n as u64;
        if let Some(pb) = &opts.progress {
            pb.set_position(pos);
        }
    }
    if pos != image_len {
        return Err(FlashError::Io {
            action: "reading image".into(),
            error: std::io::Error::other(format!(
                "image changed size while flashing ({pos} of {image_len} bytes)"
            )),
        });
    }
    target.sync_all().map_err(io("syncing"))?;
    target
        .write_all_at(&head, 0)
        .map_err(io("writing the first MiB"))?;
    target.sync_all().map_err(io("syncing the first MiB"))?;
    let written = hex::encode(hasher.finalize());
    if let Some(pb) = &opts.progress {
        pb.set_message("verifying");
    }
    let read = read_back(target, image_len, opts.progress.as_ref())?;
    if read != written {
        return Err(FlashError::Verify { written, read });
    }
    if let Some(pb) = &opts.progress {
        pb.finish_with_message("verified");
    }
    Ok(FlashReport {
        bytes: image_len,
        sha256: written,
    })
}

/// Copies the part of `bytes` (placed at `off`) that falls inside `chunk` (placed at `pos`).
fn apply_overlay(chunk: &mut [u8], pos: u64, off: u64, bytes: &[u8]) {
    let start = pos.max(off);
    let end = (pos + chunk.len() as u64).min(off + bytes.len() as u64);
    if start < end {
        let (c, b) = ((start - pos) as usize, (start - off) as usize);
        let n = (end - start) as usize;
        chunk[c..c + n].copy_from_slice(&bytes[b..b + n]);
    }
}

/// Hashes the first `len` bytes of the target, after dropping cached pages so the read hits the
/// medium rather than the page cache.
fn read_back(target: &File, len: u64, pb: Option<&ProgressBar>) -> Result<String, FlashError> {
    let _ = rustix::fs::fadvise(target, 0, 0, rustix::fs::Advice::DontNeed);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut pos = 0u64;
    while pos < len {
        let n = ((len - pos) as usize).min(CHUNK);
        target
            .read_exact_at(&mut buf[..n], pos)
            .map_err(io(format!("reading back at byte {pos}")))?;
        hasher.update(&buf[..n]);
        pos += n as u64;
        if let Some(pb) = pb {
            pb.set_position(len + pos);
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::apply_overlay;

    #[test]
    fn overlay_lands_across_chunk_boundaries() {
        let bytes = [1u8, 2, 3, 4, 5, 6];
        let mut image = vec![0u8; 16];
        for pos in (0..16).step_by(4) {
            apply_overlay(&mut image[pos..pos + 4], pos as u64, 6, &bytes);
        }
        assert_eq!(image, [0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 0, 0, 0, 0]);
    }
}
