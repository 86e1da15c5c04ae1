//! A release directory: `kateskit_<V>.efi` (the UKI), `kateskit_<V>.store` (the raw store
//! partition image) and `SHA256SUMS` naming both. A SOURCE is a local directory, a local path
//! to its SHA256SUMS, or an http(s) URL of either (a directory URL ends in `/`).

use std::path::{Path, PathBuf};

use super::version::Version;
use super::SlotsError;

pub const SUMS: &str = "SHA256SUMS";

/// One artifact named by SHA256SUMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    pub name: String,
    /// Lowercase hex.
    pub sha256: String,
}

/// The parsed SHA256SUMS of one release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub version: Version,
    pub uki: Artifact,
    pub store: Artifact,
}

/// `kateskit_<V>.efi` / `kateskit_<V>.store` → (V, is_uki); other names are not artifacts.
fn artifact_name(name: &str) -> Option<(&str, bool)> {
    let rest = name.strip_prefix(super::entry::PREFIX)?;
    if let Some(v) = rest.strip_suffix(".efi") {
        Some((v, true))
    } else {
        rest.strip_suffix(".store").map(|v| (v, false))
    }
}

/// Parses SHA256SUMS (`<64 hex>  <name>` or `<64 hex> *<name>` lines; blank lines skipped).
/// `file` names the source in errors. Files that are not artifacts are ignored; exactly one
/// version's UKI and store image must be listed.
pub fn parse_sums(text: &str, file: &str) -> Result<Release, SlotsError> {
    let err = |line: usize, msg: String| SlotsError::Sums {
        file: file.to_string(),
        line,
        msg,
    };
    let mut found: Option<(Version, usize)> = None;
    let (mut uki, mut store) = (None, None);
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let (hex, name) = raw
            .split_once(' ')
            .ok_or_else(|| err(n, format!("{raw:?} is not `<sha256>  <name>`")))?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err(n, format!("{hex:?} is not a SHA-256 (64 hex digits)")));
        }
        let name = name
            .strip_prefix(' ')
            .or_else(|| name.strip_prefix('*'))
            .ok_or_else(|| {
                err(
                    n,
                    "expected two spaces or ` *` between the hash and the name".into(),
                )
            })?;
        let name = name.trim_end_matches('\r');
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(err(n, format!("{name:?} is not a plain file name")));
        }
        let Some((v, is_uki)) = artifact_name(name) else {
            continue;
        };
        let version = Version::parse(v).map_err(|e| err(n, e.to_string()))?;
        match &found {
            Some((prev, at)) if *prev != version => {
                return Err(err(
                    n,
                    format!(
                    "version {version} here but {prev} on line {at}; a release holds one version"
                ),
                ))
            }
            None => found = Some((version, n)),
            _ => {}
        }
        let slot = if is_uki { &mut uki } else { &mut store };
        if slot.is_some() {
            return Err(err(n, format!("{name} is listed twice")));
        }
        *slot = Some(Artifact {
            name: name.to_string(),
            sha256: hex.to_ascii_lowercase(),
        });
    }
    let missing = |what: &str| SlotsError::Release {
        file: file.to_string(),
        msg: format!("lists no {what}; a release needs kateskit_<V>.efi and kateskit_<V>.store"),
    };
    let (version, _) = found.ok_or_else(|| missing("artifact"))?;
    Ok(Release {
        uki: uki.ok_or_else(|| missing("UKI (kateskit_<V>.efi)"))?,
        store: store.ok_or_else(|| missing("store image (kateskit_<V>.store)"))?,
        version,
    })
}

/// Where a release lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Dir(PathBuf),
    /// The directory URL, ending in `/`.
    Url(String),
}

impl Source {
    /// Resolves SOURCE as the CLI takes it.
    pub fn resolve(s: &str) -> Result<Source, SlotsError> {
        let bad = |msg: String| SlotsError::Release {
            file: crate::redact::url(s),
            msg,
        };
        if s.starts_with("http://") || s.starts_with("https://") {
            let path = s.split(['?', '#']).next().unwrap_or(s);
            if path.ends_with('/') {
                return Ok(Source::Url(path.to_string()));
            }
            return match path.rsplit_once('/') {
                Some((base, SUMS)) => Ok(Source::Url(format!("{base}/"))),
                _ => Err(bad(format!(
                    "a release URL names the directory (ending in `/`) or its {SUMS}"
                ))),
            };
        }
        let p = Path::new(s);
        let meta = std::fs::metadata(p).map_err(|e| SlotsError::io("reading release", p, e))?;
        if meta.is_dir() {
            return Ok(Source::Dir(p.to_path_buf()));
        }
        match (p.file_name().and_then(|n| n.to_str()), p.parent()) {
            (Some(SUMS), Some(dir)) => Ok(Source::Dir(if dir.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                dir.to_path_buf()
            })),
            _ => Err(bad(format!(
                "a release is a directory holding {SUMS}, or the path of that {SUMS}"
            ))),
        }
    }

    /// Where a file of the release is, for messages and downloads.
    pub fn locate(&self, name: &str) -> String {
        match self {
            Source::Dir(d) => d.join(name).display().to_string(),
            Source::Url(u) => format!("{u}{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_a_release() {
        let text = format!("{H}  kateskit_2.efi\n\n{H} *kateskit_2.store\n{H}  README\n");
        let r = parse_sums(&text, "S").unwrap();
        assert_eq!(r.version.as_str(), "2");
        assert_eq!(r.uki.name, "kateskit_2.efi");
        assert_eq!(r.store.name, "kateskit_2.store");
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let cases = [
            (format!("{H}  kateskit_2.efi\nnonsense\n"), 2),
            (format!("{}  kateskit_2.efi\n", &H[..63]), 1),
            (format!("{H}  kateskit_2.efi\n{H}  kateskit_3.store\n"), 2),
            (format!("{H}  kateskit_2.efi\n{H}  kateskit_2.efi\n"), 2),
            (format!("{H}  ../x\n"), 1),
            (format!("{H}  kateskit_2+1.efi\n"), 1),
        ];
        for (text, line) in cases {
            let e = parse_sums(&text, "dir/SHA256SUMS").unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("dir/SHA256SUMS:{line}: ")),
                "{text:?}: {e}"
            );
        }
        let e = parse_sums(&format!("{H}  kateskit_2.efi\n"), "S").unwrap_err();
        assert!(e.to_string().contains("store image"), "{e}");
    }

    #[test]
    fn resolves_sources() {
        assert_eq!(
            Source::resolve("https://h/r/").unwrap(),
            Source::Url("https://h/r/".into())
        );
        assert_eq!(
            Source::resolve("http://h/r/SHA256SUMS").unwrap(),
            Source::Url("http://h/r/".into())
        );
        assert!(Source::resolve("http://h/r/kateskit_2.efi").is_err());
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(SUMS), "").unwrap();
        assert_eq!(
            Source::resolve(d.path().to_str().unwrap()).unwrap(),
            Source::Dir(d.path().into())
        );
        assert_eq!(
            Source::resolve(d.path().join(SUMS).to_str().unwrap()).unwrap(),
            Source::Dir(d.path().into())
        );
        assert!(Source::resolve("/nonexistent/x").is_err());
    }
}
