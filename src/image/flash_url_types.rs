//! The errors and options of a streamed install ([`super::flash_url`]): what can stop one,
//! and how patient its downloads are.

use std::time::Duration;

use super::flash::FlashError;
use super::pull::PullError;
use super::zero_map_fetch::ZeroMapFetchError;
use crate::redact;

#[derive(Debug, thiserror::Error)]
pub enum UrlFlashError {
    #[error(transparent)]
    Pull(#[from] PullError),
    #[error("{}: the server sends no Content-Length for HEAD; install needs the image's size before it writes anything. Serve the image with a server that sends it (nginx, `kateskit netboot serve`)", redact::url(.url))]
    NoLength { url: String },
    #[error("{}: the image is empty", redact::url(.url))]
    Empty { url: String },
    #[error("{}: SHA-256 mismatch: expected {expected}, got {actual}; the disk's partition tables were wiped. Check kateskit.install.image_sha256 / --image-sha256 against the server's SHA256SUMS, or replace the image on the server", redact::url(.url))]
    Mismatch {
        url: String,
        expected: String,
        actual: String,
    },
    #[error(transparent)]
    Flash(#[from] FlashError),
    #[error(transparent)]
    Zeros(#[from] ZeroMapFetchError),
}

/// How patient a download is.
#[derive(Debug, Clone, Copy)]
pub struct UrlOptions {
    /// Connections in all (a dropped one resumes with a Range).
    pub attempts: u32,
    /// The wait after the first failed connection, doubled after each further one.
    pub backoff: Duration,
    /// A connect, read or write stalled this long fails that connection.
    pub timeout: Duration,
}

impl Default for UrlOptions {
    fn default() -> Self {
        UrlOptions {
            attempts: 5,
            backoff: Duration::from_millis(500),
            timeout: Duration::from_secs(60),
        }
    }
}
