//! Getting a release onto the node: its SHA256SUMS (optionally pinned), then both artifacts
//! into `STATE/staging/<V>/`, each verified against SHA256SUMS before it gets its final name.
//! A verified file already there is kept (re-hashed, not re-downloaded), so `stage
//! --fetch-only` before the drain and `stage` after it download once.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use indicatif::ProgressBar;
use sha2::{Digest, Sha256};

use super::release::{parse_sums, Artifact, Release, Source, SUMS};
use super::SlotsError;
use crate::image::pull::{self, PullOptions};

/// Largest SHA256SUMS read.
const SUMS_MAX: u64 = 1 << 20;

/// Makes a progress bar for a named transfer (the CLI draws it on a terminal).
pub type Progress<'a> = &'a dyn Fn(&'static str) -> ProgressBar;

/// A verified release in the staging directory.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub release: Release,
    pub dir: PathBuf,
    pub uki: PathBuf,
    pub store: PathBuf,
    pub store_len: u64,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Reads and parses the release's SHA256SUMS; `pin` (lowercase hex) must match its SHA-256.
pub fn read_sums(source: &Source, pin: Option<&str>) -> Result<(Vec<u8>, Release), SlotsError> {
    let name = crate::redact::url(&source.locate(SUMS));
    let bytes = match source {
        Source::Dir(d) => {
            let p = d.join(SUMS);
            crate::fsutil::read_nofollow(&p, SUMS_MAX)
                .map_err(|e| SlotsError::Release {
                    file: name.clone(),
                    msg: e.to_string(),
                })?
                .ok_or_else(|| SlotsError::Release {
                    file: name.clone(),
                    msg: "not found; a release directory holds SHA256SUMS".into(),
                })?
        }
        Source::Url(_) => get_small(&source.locate(SUMS))?,
    };
    if let Some(pin) = pin {
        let got = sha256_hex(&bytes);
        if got != pin {
            return Err(SlotsError::Artifact {
                file: name,
                msg: format!("SHA-256 is {got}, --sums-sha256 pins {pin}"),
            });
        }
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| SlotsError::Release {
        file: name.clone(),
        msg: "is not UTF-8 text".into(),
    })?;
    let release = parse_sums(text, &name)?;
    Ok((bytes, release))
}

/// The HTTP client for releases: `image pull`'s, trusting the system store (which
/// `SSL_CERT_FILE` can replace, else webpki's), a 20 s connect timeout and 10 minutes per
/// attempt (a download resumes where an attempt stopped).
fn http_client() -> Result<reqwest::blocking::Client, SlotsError> {
    Ok(pull::client_with(std::time::Duration::from_secs(600))?)
}

fn get_small(url: &str) -> Result<Vec<u8>, SlotsError> {
    let http = |msg: String| pull::PullError::Http {
        url: url.to_string(),
        msg,
    };
    let resp = http_client()?
        .get(url)
        .send()
        .map_err(|e| http(pull::describe(&e)))?;
    if !resp.status().is_success() {
        return Err(http(format!("HTTP {}", resp.status())).into());
    }
    let mut out = Vec::new();
    resp.take(SUMS_MAX + 1)
        .read_to_end(&mut out)
        .map_err(|e| http(e.to_string()))?;
    if out.len() as u64 > SUMS_MAX {
        return Err(http(format!("larger than {SUMS_MAX} bytes")).into());
    }
    Ok(out)
}

/// SHA-256 and length of a file.
pub fn hash_file(path: &Path) -> Result<(String, u64), SlotsError> {
    let f = File::open(path).map_err(|e| SlotsError::io("opening", path, e))?;
    let mut r = crate::io::hash::HashingReader::new(f);
    std::io::copy(&mut r, &mut std::io::sink()).map_err(|e| SlotsError::io("reading", path, e))?;
    Ok(r.finish())
}

/// Downloads (or copies) both artifacts into `STATE/staging/<V>/` and verifies them.
pub fn fetch(
    source: &Source,
    release: &Release,
    sums: &[u8],
    state: &Path,
    progress: Option<Progress>,
) -> Result<Fetched, SlotsError> {
    let staging = state.join("staging");
    crate::fsutil::create_dir_mode(state, 0o700)?;
    crate::fsutil::create_dir_mode(&staging, 0o700)?;
    let dir = staging.join(release.version.as_str());
    crate::fsutil::create_dir_mode(&dir, 0o700)?;
    crate::fsutil::write_atomic(&dir.join(SUMS), sums, 0o600)?;
    for a in [&release.uki, &release.store] {
        one(source, a, &dir, progress)?;
    }
    // Older staged releases are not needed again: a later stage fetches what it names.
    if let Ok(rd) = fs::read_dir(&staging) {
        for de in rd.flatten() {
            if de.file_name() != release.version.as_str() {
                let _ = fs::remove_dir_all(de.path());
            }
        }
    }
    let store = dir.join(&release.store.name);
    let store_len = fs::metadata(&store)
        .map_err(|e| SlotsError::io("reading", &store, e))?
        .len();
    Ok(Fetched {
        release: release.clone(),
        uki: dir.join(&release.uki.name),
        store,
        store_len,
        dir,
    })
}

fn mismatch(file: String, got: &str, len: Option<u64>, want: &str) -> SlotsError {
    let of = len
        .map(|l| format!(" of its {l} bytes"))
        .unwrap_or_default();
    SlotsError::Artifact {
        file,
        msg: format!(
            "SHA-256{of} is {got}, SHA256SUMS says {want} (a truncated or altered file); the \
             copy was deleted"
        ),
    }
}

fn one(
    source: &Source,
    a: &Artifact,
    dir: &Path,
    progress: Option<Progress>,
) -> Result<(), SlotsError> {
    let out = dir.join(&a.name);
    if fs::symlink_metadata(&out).is_ok() {
        if hash_file(&out)?.0 == a.sha256 {
            tracing::info!("{} already downloaded and verified", out.display());
            return Ok(());
        }
        fs::remove_file(&out).map_err(|e| SlotsError::io("removing", &out, e))?;
    }
    let pb = progress.map(|p| p("fetch"));
    match source {
        Source::Url(_) => {
            let opts = PullOptions {
                progress: pb,
                ..PullOptions::default()
            };
            pull::pull_with(
                &http_client()?,
                &source.locate(&a.name),
                &out,
                &a.sha256,
                &opts,
            )
            .map_err(|e| match e {
                pull::PullError::Mismatch { url, actual, .. } => {
                    mismatch(crate::redact::url(&url), &actual, None, &a.sha256)
                }
                e => e.into(),
            })?;
        }
        Source::Dir(d) => copy_verified(&d.join(&a.name), &out, &a.sha256, pb)?,
    }
    Ok(())
}

/// Copies `src` to `out` through a temp file, hashing on the way; renamed only on a match.
fn copy_verified(
    src: &Path,
    out: &Path,
    want: &str,
    pb: Option<ProgressBar>,
) -> Result<(), SlotsError> {
    let mut input = File::open(src).map_err(|e| SlotsError::io("opening", src, e))?;
    if let (Some(pb), Ok(m)) = (&pb, input.metadata()) {
        pb.set_length(m.len());
    }
    let dir = out.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".fetch.tmp")
        .tempfile_in(dir)
        .map_err(|e| SlotsError::io("creating temp file in", dir, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = input
            .read(&mut buf)
            .map_err(|e| SlotsError::io("reading", src, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        tmp.write_all(&buf[..n])
            .map_err(|e| SlotsError::io("writing", out, e))?;
        len += n as u64;
        if let Some(pb) = &pb {
            pb.set_position(len);
        }
    }
    let got = hex::encode(hasher.finalize());
    if got != want {
        return Err(mismatch(src.display().to_string(), &got, Some(len), want));
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| SlotsError::io("syncing", out, e))?;
    tmp.persist(out)
        .map_err(|e| SlotsError::io("renaming into place", out, e.error))?;
    crate::fsutil::sync_dir(dir)?;
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    Ok(())
}
