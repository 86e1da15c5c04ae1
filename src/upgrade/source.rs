//! The release a rollout installs: SOURCE's `SHA256SUMS`, the one VERSION it names, and the
//! SHA-256 of the sums file itself (which every node is told to pin). A local SOURCE is also
//! verified file by file here, so a mis-hashed or truncated release is refused before the
//! rollout touches the cluster; an http(s) SOURCE is verified by each node's pre-stage fetch,
//! which runs before any node is cordoned.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::slots::release::{self, Release};

const SUMS_MAX: u64 = 1024 * 1024;
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{url}: {reason}")]
    Http { url: String, reason: String },
    #[error("{reason}")]
    Release { sums: String, reason: String },
    #[error("{path}: SHA-256 is {actual} but {sums} says {expected}; the release is damaged or incomplete (copy it again)")]
    Mismatch {
        path: PathBuf,
        sums: String,
        expected: String,
        actual: String,
    },
}

/// A release located and checked.
#[derive(Debug, Clone)]
pub struct Source {
    /// What the nodes are told to fetch (an absolute path for a local SOURCE).
    pub location: String,
    pub version: String,
    /// SHA-256 of the `SHA256SUMS` file.
    pub sums_sha256: String,
    pub release: Release,
}

/// Reads and checks SOURCE: a directory, a path to its `SHA256SUMS`, or an http(s) URL of
/// either (a directory URL ends in `/`).
pub fn open(source: &str) -> Result<Source, SourceError> {
    if source.starts_with("http://") || source.starts_with("https://") {
        let sums_url = if source.ends_with('/') {
            format!("{source}SHA256SUMS")
        } else {
            source.to_string()
        };
        let text = fetch(&sums_url)?;
        return finish(source.to_string(), &sums_url, &text, None);
    }
    let path = Path::new(source);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SourceError::Io { path, source }
    };
    let path = std::fs::canonicalize(path).map_err(io(path))?;
    let (dir, sums) = if path.is_dir() {
        (path.clone(), path.join("SHA256SUMS"))
    } else {
        let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
        (dir, path.clone())
    };
    let mut text = Vec::new();
    std::fs::File::open(&sums)
        .map_err(io(&sums))?
        .take(SUMS_MAX + 1)
        .read_to_end(&mut text)
        .map_err(io(&sums))?;
    if text.len() as u64 > SUMS_MAX {
        return Err(SourceError::Release {
            sums: sums.display().to_string(),
            reason: format!(
                "{}: larger than {SUMS_MAX} bytes; this is not a SHA256SUMS file",
                sums.display()
            ),
        });
    }
    let location = if path.is_dir() {
        dir.display().to_string()
    } else {
        sums.display().to_string()
    };
    finish(location, &sums.display().to_string(), &text, Some(&dir))
}

fn finish(
    location: String,
    sums_name: &str,
    text: &[u8],
    local_dir: Option<&Path>,
) -> Result<Source, SourceError> {
    let sums_sha256 = hex::encode(Sha256::digest(text));
    let text = std::str::from_utf8(text).map_err(|_| SourceError::Release {
        sums: sums_name.to_string(),
        reason: format!("{sums_name}: not UTF-8 text"),
    })?;
    let release = release::parse_sums(text, sums_name).map_err(|e| SourceError::Release {
        sums: sums_name.to_string(),
        reason: e.to_string(),
    })?;
    if let Some(dir) = local_dir {
        for (name, expected) in [
            (&release.uki.name, &release.uki.sha256),
            (&release.store.name, &release.store.sha256),
        ] {
            let path = dir.join(name);
            let actual = hash_file(&path)?;
            if &actual != expected {
                return Err(SourceError::Mismatch {
                    path,
                    sums: sums_name.to_string(),
                    expected: expected.clone(),
                    actual,
                });
            }
        }
    }
    Ok(Source {
        location,
        version: release.version.as_str().to_string(),
        sums_sha256,
        release,
    })
}

fn hash_file(path: &Path) -> Result<String, SourceError> {
    let err = |source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(err)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(err)?;
    Ok(hex::encode(h.finalize()))
}

fn fetch(url: &str) -> Result<Vec<u8>, SourceError> {
    let http = |reason: String| SourceError::Http {
        url: crate::redact::url(url),
        reason,
    };
    let client = reqwest::blocking::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .build()
        .map_err(|e| http(e.to_string()))?;
    let r = client.get(url).send().map_err(|e| http(e.to_string()))?;
    if !r.status().is_success() {
        return Err(http(format!("HTTP {}", r.status())));
    }
    let mut body = Vec::new();
    r.take(SUMS_MAX + 1)
        .read_to_end(&mut body)
        .map_err(|e| http(e.to_string()))?;
    if body.len() as u64 > SUMS_MAX {
        return Err(http(format!("larger than {SUMS_MAX} bytes")));
    }
    Ok(body)
}
