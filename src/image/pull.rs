//! Downloading images: resumable (HTTP Range from `FILE.part`), verified against a SHA-256
//! before the file gets its final name; on a mismatch nothing is left behind.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::ProgressBar;
use reqwest::blocking::Client;

use super::http_range::{delay, open_from, Attempt, Opened};

use crate::redact;

pub use super::sums::{parse_sha256, sha256_from_sums};

/// Messages show URLs without userinfo or query (a signed or authenticated download URL).
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("{}: {}", redact::url(.url), redact::text(.msg))]
    Http { url: String, msg: String },
    #[error("{}: giving up after {attempts} attempts: {}", redact::url(.url), redact::text(.last))]
    Exhausted {
        url: String,
        attempts: u32,
        last: String,
    },
    #[error("{}: SHA-256 mismatch: expected {expected}, got {actual}; the partial download was deleted", redact::url(.url))]
    Mismatch {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("{}: no entry for {name}", redact::url(.sums_url))]
    NoSum { sums_url: String, name: String },
    #[error("{0:?} is not a SHA-256 (64 hex digits)")]
    BadHex(String),
    #[error(transparent)]
    Output(#[from] super::output::OutputError),
    #[error("{action} {}: {error}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
}

/// Settings for one download.
#[derive(Debug, Clone)]
pub struct PullOptions {
    pub retries: u32,
    pub backoff: Duration,
    pub force: bool,
    pub progress: Option<ProgressBar>,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            retries: 5,
            backoff: Duration::from_millis(500),
            force: false,
            progress: None,
        }
    }
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> PullError + 'a {
    move |error| PullError::Io {
        action,
        path: path.to_path_buf(),
        error,
    }
}

pub(crate) fn client() -> Result<Client, PullError> {
    client_with(Duration::from_secs(60))
}

/// A client whose every connect, read and write gives up after `timeout` (20 s at most for
/// the connect).
pub(crate) fn client_with(timeout: Duration) -> Result<Client, PullError> {
    let tls = crate::agent::ladder::fetch::trust::system_tls().map_err(|e| PullError::Http {
        url: String::new(),
        msg: format!("building HTTP client: {e}"),
    })?;
    Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(timeout.min(Duration::from_secs(20)))
        .timeout(timeout)
        .user_agent(concat!("kateskit/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| PullError::Http {
            url: String::new(),
            msg: format!("building HTTP client: {e}"),
        })
}

/// The temp name a download grows under.
pub fn part_path(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

/// Downloads `url` to `out`, verifying `sha256` (lowercase hex) before the rename.
pub fn pull(url: &str, out: &Path, sha256: &str, opts: &PullOptions) -> Result<u64, PullError> {
    pull_with(&client()?, url, out, sha256, opts)
}

/// [`pull`] through a given client (its own trust roots and timeouts).
pub fn pull_with(
    client: &Client,
    url: &str,
    out: &Path,
    sha256: &str,
    opts: &PullOptions,
) -> Result<u64, PullError> {
    super::output::check(out, opts.force)?;
    let part = part_path(out);
    let mut last = String::new();
    let mut done = false;
    for attempt in 1..=opts.retries.max(1) {
        match attempt_once(client, url, &part, opts.progress.as_ref()) {
            Ok(()) => {
                done = true;
                break;
            }
            Err(Attempt::Fatal(e)) => return Err(e),
            Err(Attempt::Retry(msg) | Attempt::Restart(msg)) => {
                tracing::warn!(url, attempt, "download interrupted: {msg}");
                last = msg;
                if attempt < opts.retries {
                    std::thread::sleep(delay(opts.backoff, attempt));
                }
            }
        }
    }
    if !done {
        return Err(PullError::Exhausted {
            url: url.to_string(),
            attempts: opts.retries.max(1),
            last,
        });
    }
    let (actual, len) = hash_file(&part)?;
    if actual != sha256 {
        let _ = fs::remove_file(&part);
        return Err(PullError::Mismatch {
            url: url.to_string(),
            expected: sha256.to_string(),
            actual,
        });
    }
    File::open(&part)
        .and_then(|f| f.sync_all())
        .map_err(io("syncing", &part))?;
    // Checked again: the output may have appeared (or become a device node) meanwhile.
    super::output::check(out, opts.force)?;
    fs::rename(&part, out).map_err(io("renaming into place", out))?;
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    crate::fsutil::sync_dir(dir).map_err(|e| PullError::Io {
        action: "syncing directory",
        path: dir.to_path_buf(),
        error: e.source,
    })?;
    if let Some(pb) = &opts.progress {
        pb.finish_with_message("verified");
    }
    Ok(len)
}

/// One GET, resuming from the part file when it has bytes. A server that ignores Range (200)
/// restarts the part file from zero.
fn attempt_once(
    client: &Client,
    url: &str,
    part: &Path,
    pb: Option<&ProgressBar>,
) -> Result<(), Attempt> {
    // The part file's name is predictable (resumable downloads), so it is never followed as a
    // symlink: opened with O_NOFOLLOW below, sized with lstat here.
    let have = fs::symlink_metadata(part).map(|m| m.len()).unwrap_or(0);
    let (mut resp, start) = match open_from(client, url, have) {
        Ok(Opened::Body { resp, start, .. }) => (resp, start),
        Ok(Opened::Complete) => return Ok(()),
        Err(Attempt::Restart(msg)) => {
            let _ = fs::remove_file(part);
            return Err(Attempt::Retry(msg));
        }
        Err(e) => return Err(e),
    };
    let mut file = if start > 0 {
        OpenOptions::new()
            .append(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(part)
            .map_err(|e| Attempt::Fatal(io("opening", part)(e)))?
    } else {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(part)
            .map_err(|e| Attempt::Fatal(io("creating", part)(e)))?
    };
    let total = resp.content_length().map(|l| l + start);
    if let Some(pb) = pb {
        pb.set_length(total.unwrap_or(0));
        pb.set_position(start);
    }
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = start;
    loop {
        let n = resp
            .read(&mut buf)
            .map_err(|e| Attempt::Retry(format!("connection lost at byte {got}: {e}")))?;
        if n == 0 {
            break;
        }
        file.write_all(&buf[..n])
            .map_err(|e| Attempt::Fatal(io("writing", part)(e)))?;
        got += n as u64;
        if let Some(pb) = pb {
            pb.set_position(got);
        }
    }
    if let Some(t) = total {
        if got < t {
            return Err(Attempt::Retry(format!(
                "connection closed at byte {got} of {t}"
            )));
        }
    }
    Ok(())
}

/// reqwest's Display hides the cause ("error sending request"); append the source chain.
pub(crate) fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}

fn hash_file(path: &Path) -> Result<(String, u64), PullError> {
    let f = File::open(path).map_err(io("opening", path))?;
    let mut r = crate::io::hash::HashingReader::new(f);
    std::io::copy(&mut r, &mut std::io::sink()).map_err(io("reading", path))?;
    Ok(r.finish())
}
