//! Streaming an image onto a target (a block device opened through `disk::open_for_write`, or a
//! regular file in tests). The first MiB, which holds the partition tables and boot code, is
//! zeroed first and written last, after everything else is on disk; on any failure it is zeroed
//! again, so the target is either a verified copy of the image or unbootable. An overlay (the
//! node's embed area, which holds its tokens) is zeroed on failure too: a failed install leaves
//! no secret on a disk that may go back into the pool.
//!
//! When the image is shorter than the target, the target's last MiB is zeroed too: an old backup
//! GPT left there would make tools (and firmware) see a damaged table or restore the old one.
//!
//! The image goes to the target with direct I/O where the target takes it (block devices do), so
//! the progress bar follows the device rather than the page cache: with buffered writes a slow USB
//! stick shows 100% at once and then sits in the final sync for minutes, holding gigabytes of
//! dirty pages. A second thread reads (and hashes) the image while the previous chunk is written;
//! verification reads the target back with direct I/O (the medium, not the page cache), again
//! one chunk ahead, and compares it with the image byte for byte.

use std::fs::File;
use std::os::unix::fs::FileExt;

use indicatif::ProgressBar;

pub use crate::io::overlay::Overlay;

/// Bytes written last (and zeroed on failure).
pub const HEAD: u64 = 1024 * 1024;
/// Bytes per write and per read-back.
pub(crate) const CHUNK: usize = 8 << 20;
/// Test hook: fail once this many bytes were written (`KATESKIT_FLASH_FAIL_AFTER=<bytes>`).
pub const FAIL_AFTER_ENV: &str = crate::hooks::FLASH_FAIL_AFTER;

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
    #[error("read-back verification failed: the target differs from the image in the {CHUNK}-byte chunk at byte {offset}; the target may be failing")]
    Verify { offset: u64 },
    #[error("read-back verification failed: the target's SHA-256 differs from what was written; the target may be failing")]
    VerifyHash,
}

pub(crate) fn io(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> FlashError {
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
    pub overlay: Option<Overlay>,
}

impl FlashOptions {
    /// Reads the fault-injection hook (only in a `test-hooks` build, see [`crate::hooks`]).
    pub fn from_env(progress: Option<ProgressBar>) -> FlashOptions {
        let fail_after = crate::hooks::var(FAIL_AFTER_ENV).and_then(|v| v.trim().parse().ok());
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
    let result = write_and_verify(image, image_len, target, target_len, opts);
    if result.is_err() {
        scrub_after_failure(target, image_len, target_len, opts.overlay.as_ref());
    }
    result
}

/// Never leave a half-written but bootable target behind, nor the overlay's secrets on it.
fn scrub_after_failure(target: &File, image_len: u64, target_len: u64, overlay: Option<&Overlay>) {
    let regions = super::flash_stream::Regions {
        head_len: HEAD.min(target_len),
        tail_start: image_len,
        len: image_len,
        target_len,
        overlay: overlay
            .filter(|o| o.offset < target_len)
            .map(|o| (o.offset, (o.bytes.len() as u64).min(target_len - o.offset))),
    };
    if let Err(e) = regions.zero(target) {
        tracing::error!("after a failed flash: {e}");
    }
}

fn write_and_verify(
    image: &File,
    image_len: u64,
    target: &File,
    target_len: u64,
    opts: &FlashOptions,
) -> Result<FlashReport, FlashError> {
    let head_len = HEAD.min(image_len) as usize;
    target
        .write_all_at(&vec![0u8; head_len], 0)
        .map_err(io("zeroing the first MiB"))?;
    // The old backup GPT sits in the last MiB; the image does not reach it.
    let tail = target_len.saturating_sub(HEAD).max(image_len);
    if tail < target_len {
        target
            .write_all_at(&vec![0u8; (target_len - tail) as usize], tail)
            .map_err(io(format!("zeroing the last MiB from byte {tail}")))?;
    }
    target
        .sync_all()
        .map_err(io("syncing after zeroing the first and last MiB"))?;
    if let Some(pb) = &opts.progress {
        pb.set_length(image_len * 2);
        pb.set_message("writing");
    }
    let direct = crate::io::direct::reopen_direct(target);
    let direct = direct.as_ref().unwrap_or(target);
    let (head, sha256) = super::flash_stream::write(image, image_len, direct, target, opts)?;
    target.sync_all().map_err(io("syncing"))?;
    target
        .write_all_at(&head, 0)
        .map_err(io("writing the first MiB"))?;
    target.sync_all().map_err(io("syncing the first MiB"))?;
    if let Some(pb) = &opts.progress {
        pb.set_message("verifying");
    }
    super::flash_stream::verify(image, image_len, direct, target, opts)?;
    if let Some(pb) = &opts.progress {
        pb.finish_with_message("verified");
    }
    Ok(FlashReport {
        bytes: image_len,
        sha256,
    })
}
