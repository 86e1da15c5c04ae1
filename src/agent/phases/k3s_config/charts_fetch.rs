//! Chart archives verified before k3s sees them. helm-controller never checks a digest, so a
//! HelmChart naming a chart repository installs whatever that repository serves. On servers the
//! agent therefore puts every archive the bundle needs into k3s's static charts directory itself
//! (downloaded from the lock's `url`, checked against its SHA-256 `digest`, written atomically)
//! and the HelmCharts always name the static URL. An archive already there is kept when it
//! matches the lock's digest, or when the lock has none (only the image builder can have put it
//! there, and Nix's fetchurl checked it); a stale one (another version) is replaced.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::bundle::charts::ChartLock;
use crate::fsutil;

/// k3s's static charts directory, relative to the root; served at
/// `https://%{KUBERNETES_API}%/static/charts/<name>.tgz`.
pub const STATIC_CHARTS: &str = "var/lib/rancher/k3s/server/static/charts";
/// Upper bound on one archive (the bundled charts are well under 1 MiB): a wrong URL serving
/// something large must not fill the disk.
pub const MAX_ARCHIVE: u64 = 32 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ChartFetchError {
    #[error("{origin} has no [{component}] table; add repo, chart, version, namespace, url and digest for it")]
    Missing { origin: String, component: String },
    #[error("chart `{component}` ({url}): {origin} has no digest for it, so the agent cannot verify the archive and will not install it from its repository; add `digest = \"sha256:<hex>\"` from the publisher's index.yaml, or ship the archive in the image (kateskit.bundle.chartArchives)")]
    NoDigest {
        component: String,
        url: String,
        origin: String,
    },
    #[error("chart `{component}` ({url}): the downloaded archive has SHA-256 {got} but {origin} pins {want}; nothing was installed. The repository changed the archive or the download was altered: check the URL, or update the lock from the publisher's index.yaml")]
    Mismatch {
        component: String,
        url: String,
        origin: String,
        got: String,
        want: String,
    },
    #[error("chart `{component}` ({url}): {reason}; check the node's network and proxy, or ship the archive in the image (kateskit.bundle.chartArchives)")]
    Download {
        component: String,
        url: String,
        reason: String,
    },
    #[error("chart `{component}`: reading {}: {source}", path.display())]
    Read {
        component: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("chart `{component}`: {source}")]
    Write {
        component: String,
        #[source]
        source: fsutil::FsError,
    },
}

/// How hard to try one download: per-attempt timeout and extra attempts after the first.
#[derive(Debug, Clone, Copy)]
pub struct Http {
    pub timeout: Duration,
    pub retries: u64,
}

/// What happened to one archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Already present and matching the lock (or shipped by the image for a lock without digest).
    Kept,
    /// Downloaded and verified; `replaced` when a stale archive was there before.
    Fetched { replaced: bool },
}

fn sha256_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Makes sure `dir/<component>.tgz` holds the verified archive of every component.
pub fn ensure(
    dir: &Path,
    lock: &ChartLock,
    components: &[&str],
    http: Http,
) -> Result<Vec<(String, Action)>, ChartFetchError> {
    let mut out = Vec::new();
    for &component in components {
        let c = lock
            .charts
            .get(component)
            .ok_or_else(|| ChartFetchError::Missing {
                origin: lock.origin.clone(),
                component: component.into(),
            })?;
        let path = dir.join(format!("{component}.tgz"));
        let present = match std::fs::read(&path) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(ChartFetchError::Read {
                    component: component.into(),
                    path,
                    source,
                })
            }
        };
        let want = c.digest.to_ascii_lowercase();
        match &present {
            Some(_) if want.is_empty() => {
                out.push((component.to_string(), Action::Kept));
                continue;
            }
            Some(b) if sha256_of(b) == want => {
                out.push((component.to_string(), Action::Kept));
                continue;
            }
            _ => {}
        }
        if want.is_empty() {
            return Err(ChartFetchError::NoDigest {
                component: component.into(),
                url: c.url.clone(),
                origin: lock.origin.clone(),
            });
        }
        let body = download(component, &c.url, http)?;
        let got = sha256_of(&body);
        if got != want {
            return Err(ChartFetchError::Mismatch {
                component: component.into(),
                url: c.url.clone(),
                origin: lock.origin.clone(),
                got,
                want,
            });
        }
        let write = |source| ChartFetchError::Write {
            component: component.into(),
            source,
        };
        fsutil::ensure_dir(dir, 0o755).map_err(write)?;
        fsutil::write_atomic(&path, &body, 0o644).map_err(write)?;
        out.push((
            component.to_string(),
            Action::Fetched {
                replaced: present.is_some(),
            },
        ));
    }
    Ok(out)
}

/// GET with bounded retries and backoff; 4xx answers (but 429) fail at once.
fn download(component: &str, url: &str, http: Http) -> Result<Vec<u8>, ChartFetchError> {
    let fail = |reason: String| ChartFetchError::Download {
        component: component.into(),
        url: url.into(),
        reason,
    };
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(fail("only http:// and https:// URLs are supported".into()));
    }
    let tls = crate::agent::ladder::fetch::trust::system_tls()
        .map_err(|e| fail(format!("building HTTP client: {e}")))?;
    let client = reqwest::blocking::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(http.timeout)
        .connect_timeout(http.timeout)
        .build()
        .map_err(|e| fail(format!("building HTTP client: {e}")))?;
    let mut last = String::new();
    for attempt in 0..=http.retries {
        if attempt > 0 {
            let ms = crate::agent::ladder::fetch::backoff_ms(attempt);
            tracing::info!(
                "{}",
                crate::redact::text(&format!("retrying {url} in {ms} ms ({last})"))
            );
            std::thread::sleep(Duration::from_millis(ms));
        }
        match client.get(url).send() {
            Ok(r) if r.status().is_success() => {
                if r.content_length().is_some_and(|n| n > MAX_ARCHIVE) {
                    return Err(fail(format!(
                        "the archive is larger than {MAX_ARCHIVE} bytes"
                    )));
                }
                let mut body = Vec::new();
                match r.take(MAX_ARCHIVE + 1).read_to_end(&mut body) {
                    Ok(_) if body.len() as u64 > MAX_ARCHIVE => {
                        return Err(fail(format!(
                            "the archive is larger than {MAX_ARCHIVE} bytes"
                        )))
                    }
                    Ok(_) => return Ok(body),
                    Err(e) => last = format!("reading the body: {e}"),
                }
            }
            Ok(r) if r.status().is_client_error() && r.status().as_u16() != 429 => {
                return Err(fail(format!("HTTP {}", r.status())));
            }
            Ok(r) => last = format!("HTTP {}", r.status()),
            Err(e) if e.is_timeout() => {
                last = format!("timed out after {} s", http.timeout.as_secs_f32())
            }
            Err(e) => last = e.to_string(),
        }
    }
    Err(fail(format!(
        "no usable answer after {} attempts (last: {last})",
        http.retries + 1
    )))
}
