//! Streaming a raw image from HTTP(S) straight onto a disk, for a netbooted machine that has
//! no room for a local copy. Every byte is hashed on the way; the image's first MiB (primary
//! GPT, boot code) and its last 33 sectors (backup GPT) stay in memory and reach the disk only
//! after the SHA-256 matched, so until then the disk carries no partition table; the node's
//! config (the embed area, which may hold its join token) is written only then too. On any
//! failure (mismatch, truncation, HTTP error, timeout, write error) those regions are zeroed
//! again: the disk never boots half an image and keeps no config of a failed install. With a
//! zero map, chunks wholly inside its runs are written as zeros, not downloaded; those zeros are
//! hashed too, so a wrong map ends in the SHA-256 mismatch.

use std::fs::File;
use std::os::unix::fs::FileExt;

use sha2::{Digest, Sha256};

use super::flash::{io, FlashError, FlashOptions, FlashReport, CHUNK, HEAD};
use super::flash_stream::Regions;
pub use super::flash_url_types::{UrlFlashError, UrlOptions};
use super::http_range::{head_length, ResumingReader};
use super::zero_map::ZeroMap;
pub use super::Head;
use crate::io::direct::write_at;
use crate::redact;

/// Sectors of the backup GPT region kept back until the hash matched (header and entries).
pub const TAIL_SECTORS: u64 = 33;

/// An image on an HTTP(S) server whose size is known and whose first MiB has been read (for
/// its GPT); nothing is written yet.
pub struct UrlImage {
    url: String,
    sha256: String,
    len: u64,
    head: Vec<u8>,
    reader: ResumingReader,
    /// Chunks wholly inside its runs are written as zeros, not downloaded (and hashed so).
    zeros: Option<ZeroMap>,
}

impl std::fmt::Debug for UrlImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UrlImage")
            .field("url", &redact::url(&self.url))
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl UrlImage {
    /// Fetches the zero map at `zeros` (if any), asks the server for the image's size (HEAD),
    /// checks the map against it and reads the first MiB. `sha256` is lowercase hex.
    pub fn open(
        url: &str,
        sha256: &str,
        zeros: Option<&str>,
        o: &UrlOptions,
    ) -> Result<UrlImage, UrlFlashError> {
        let (attempts, backoff) = (o.attempts, o.backoff);
        let client = super::pull::client_with(o.timeout)?;
        let zeros = zeros
            .map(|z| super::zero_map_fetch::fetch(&client, z, attempts, backoff).map(|m| (z, m)))
            .transpose()?;
        let len = head_length(&client, url, attempts, backoff)?.ok_or_else(|| {
            UrlFlashError::NoLength {
                url: url.to_string(),
            }
        })?;
        if len == 0 {
            return Err(UrlFlashError::Empty {
                url: url.to_string(),
            });
        }
        if let Some((z, m)) = &zeros {
            super::zero_map_fetch::check_len(m, z, url, len)?;
        }
        let mut reader = ResumingReader::new(client, url, len, attempts, backoff);
        let mut head = vec![0u8; HEAD.min(len) as usize];
        reader.read_full(&mut head)?;
        Ok(UrlImage {
            url: url.to_string(),
            sha256: sha256.to_string(),
            len,
            head,
            reader,
            zeros: zeros.map(|z| z.1),
        })
    }

    /// Bytes the zero map marks as zeros (none without a map).
    pub fn zero_bytes(&self) -> u64 {
        self.zeros.as_ref().map_or(0, ZeroMap::zero_bytes)
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The image's first MiB with its full length: what GPT parsing needs.
    pub fn head(&self) -> Head<'_> {
        Head {
            bytes: &self.head,
            len: self.len,
        }
    }

    /// Connections used so far (more than one when the download was resumed).
    pub fn connections(&self) -> u32 {
        self.reader.connections()
    }

    /// Streams the image onto `target` (`target_len` bytes), verifies it, see the module docs.
    pub fn flash(
        mut self,
        target: &File,
        target_len: u64,
        opts: &FlashOptions,
    ) -> Result<FlashReport, UrlFlashError> {
        if target_len < self.len {
            return Err(FlashError::TooSmall {
                image: self.len,
                target: target_len,
            }
            .into());
        }
        let ss = super::gpt::detect(&self.head()).unwrap_or(512);
        let head_len = self.head.len() as u64;
        let tail_start = self.len - (TAIL_SECTORS * ss).min(self.len - head_len);
        let regions = Regions {
            head_len,
            tail_start,
            len: self.len,
            target_len,
            overlay: opts
                .overlay
                .as_ref()
                .map(|o| (o.offset, o.bytes.len() as u64)),
        };
        let result = self.write_and_verify(target, &regions, opts);
        if result.is_err() {
            if let Err(e) = regions.zero(target) {
                tracing::error!(
                    "wiping the partition tables after a failed install also failed: {e}"
                );
            }
        }
        result
    }

    fn write_and_verify(
        &mut self,
        target: &File,
        r: &Regions,
        opts: &FlashOptions,
    ) -> Result<FlashReport, UrlFlashError> {
        r.zero(target)?;
        if let Some(pb) = &opts.progress {
            pb.set_length(self.len * 2);
            pb.set_position(r.head_len);
            pb.set_message("writing");
        }
        let overlay = opts.overlay.as_ref();
        let mut hasher = Sha256::new();
        hasher.update(&self.head);
        let mut head = self.head.clone();
        crate::io::overlay::Overlay::apply_opt(overlay, &mut head, 0);
        // What the disk must read back as: the image with the overlay stamped in.
        let mut written = Sha256::new();
        written.update(&head);
        let mut tail = vec![0u8; (r.len - r.tail_start) as usize];
        let direct = crate::io::direct::reopen_direct(target);
        let direct = direct.as_ref().unwrap_or(target);
        let (reader, hasher_ref, zeros) = (&mut self.reader, &mut hasher, self.zeros.as_ref());
        let mut failure: Option<UrlFlashError> = None;
        let failure_ref = &mut failure;
        let piped = crate::io::pipeline::run(
            r.len - r.head_len,
            CHUNK,
            |buf, off| {
                // A chunk wholly inside a zero run: written as zeros, not downloaded.
                if zeros.is_some_and(|z| z.covers(r.head_len + off, buf.len() as u64)) {
                    reader.skip(buf.len() as u64);
                    buf.fill(0);
                    hasher_ref.update(&*buf);
                    return Ok(());
                }
                let got = reader.read_full(buf).map_err(|e| {
                    *failure_ref = Some(e.into());
                    FlashError::Io {
                        action: format!("downloading at byte {}", r.head_len + off),
                        error: std::io::Error::other("download failed"),
                    }
                })?;
                debug_assert_eq!(got, buf.len());
                hasher_ref.update(&*buf);
                Ok(())
            },
            |chunk, off| {
                let at = r.head_len + off;
                // The disk gets the image's own bytes now and the node's config only once
                // the hash matched; the read-back expects the config.
                match overlay.filter(|o| {
                    o.offset < at + chunk.len() as u64 && o.offset + o.bytes.len() as u64 > at
                }) {
                    Some(o) => {
                        let mut stamped = chunk.to_vec();
                        o.apply(&mut stamped, at);
                        written.update(&stamped);
                    }
                    None => written.update(chunk),
                }
                let split = (r.tail_start.saturating_sub(at) as usize).min(chunk.len());
                write_at(direct, target, &chunk[..split], at)
                    .map_err(io(format!("writing at byte {at}")))?;
                if split < chunk.len() {
                    let t = (at + split as u64 - r.tail_start) as usize;
                    tail[t..t + chunk.len() - split].copy_from_slice(&chunk[split..]);
                }
                if let Some(pb) = &opts.progress {
                    pb.set_position(at + chunk.len() as u64);
                }
                Ok(())
            },
            |done| FlashError::Io {
                action: format!("downloading at byte {}", r.head_len + done),
                error: std::io::Error::other("reader thread stopped early"),
            },
        );
        if let Err(e) = piped {
            return Err(failure.unwrap_or(e.into()));
        }
        let actual = hex::encode(hasher.finalize());
        if actual != self.sha256 {
            return Err(UrlFlashError::Mismatch {
                url: self.url.clone(),
                expected: self.sha256.clone(),
                actual,
            });
        }
        target.sync_all().map_err(io("syncing"))?;
        if let Some(o) = overlay {
            // Its part between the first MiB and the backup GPT; the rest is in those buffers.
            let start = o.offset.clamp(r.head_len, r.tail_start);
            let end = (o.offset + o.bytes.len() as u64).clamp(r.head_len, r.tail_start);
            if start < end {
                let b = (start - o.offset) as usize;
                target
                    .write_all_at(&o.bytes[b..b + (end - start) as usize], start)
                    .map_err(io(format!("writing the node's config at byte {start}")))?;
            }
        }
        crate::io::overlay::Overlay::apply_opt(overlay, &mut tail, r.tail_start);
        target
            .write_all_at(&tail, r.tail_start)
            .map_err(io("writing the backup GPT region"))?;
        target
            .write_all_at(&head, 0)
            .map_err(io("writing the first MiB"))?;
        target
            .sync_all()
            .map_err(io("syncing the partition tables"))?;
        if let Some(pb) = &opts.progress {
            pb.set_message("verifying");
        }
        let want = hex::encode(written.finalize());
        super::flash_stream::verify_sha256(direct, target, r.len, &want, opts)?;
        if let Some(pb) = &opts.progress {
            pb.finish_with_message("verified");
        }
        Ok(FlashReport {
            bytes: r.len,
            sha256: actual,
        })
    }
}
