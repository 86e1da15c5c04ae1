//! The raw image netbooted machines install (`--install-image NAME`, default `install.img`
//! when the artifact directory has one). Served by the artifact router like the kernel; the
//! boot scripts name it with its SHA-256 (`kateskit.install.image_url=`,
//! `kateskit.install.image_sha256=`), so the netboot initrd carries no raw image and
//! `kateskit install` verifies every byte it streams. The same pass maps the image's zero runs
//! (served at `/zeros/NAME`, named by `kateskit.install.image_zeros=`), so nodes do not
//! download them. Hashing a multi-GB image takes a while, so hash and map are kept in the
//! state directory keyed by the file's name, size and mtime.

use std::fs::File;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::options::ServeError;
use crate::image::zero_map::{self, ZeroMap};

/// The default name looked for in the artifact directory.
pub const DEFAULT: &str = "install.img";
/// The cache file in the state directory.
const CACHE: &str = "install-image.json";

/// The image the boot scripts name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallImage {
    pub name: String,
    pub len: u64,
    pub sha256: String,
    /// The image's zero map, as served.
    pub zeros: ZeroMap,
}

impl InstallImage {
    /// The kernel arguments for the boot scripts; `http_base` is `http://IP:PORT`.
    pub fn kargs(&self, http_base: &str) -> [String; 3] {
        [
            format!(
                "kateskit.install.image_url={http_base}/artifacts/{}",
                self.name
            ),
            format!("kateskit.install.image_sha256={}", self.sha256),
            format!(
                "kateskit.install.image_zeros={http_base}{}",
                self.zeros_path()
            ),
        ]
    }

    /// Where serve's HTTP port serves the zero map.
    pub fn zeros_path(&self) -> String {
        format!("/zeros/{}", self.name)
    }
}

#[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq)]
struct Cached {
    name: String,
    size: u64,
    mtime_ns: i128,
    sha256: String,
    /// The zero map's text (absent in caches written before maps).
    #[serde(default)]
    zeros: String,
}

fn err(path: &Path, why: impl Into<String>) -> ServeError {
    ServeError::InstallImage {
        path: path.to_path_buf(),
        why: why.into(),
    }
}

/// The image to name: `name` (which must exist), else [`DEFAULT`] when present, else none.
pub fn resolve(
    artifacts: &Path,
    name: Option<&str>,
    state: &Path,
) -> Result<Option<InstallImage>, ServeError> {
    let name = match name {
        Some(n) => n,
        None if artifacts.join(DEFAULT).exists() => DEFAULT,
        None => return Ok(None),
    };
    let path = artifacts.join(name);
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(err(&path, "not a file name inside --artifacts"));
    }
    // Never followed as a symlink: the artifact router would not serve it either.
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| err(&path, format!("cannot open it: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| err(&path, format!("cannot stat it: {e}")))?;
    if !meta.is_file() || meta.len() == 0 {
        return Err(err(&path, "not a non-empty regular file"));
    }
    let key = Cached {
        name: name.to_string(),
        size: meta.len(),
        mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        sha256: String::new(),
        zeros: String::new(),
    };
    let cache = state.join(CACHE);
    let (sha256, zeros) = match cached(&cache, &key) {
        Some(c) => c,
        None => {
            let (h, z) = hash(file, &path)?;
            let entry = Cached {
                sha256: h.clone(),
                zeros: z.render(),
                ..key
            };
            let json = serde_json::to_vec(&entry).expect("plain struct");
            crate::fsutil::write_atomic(&cache, &json, 0o600)?;
            (h, z)
        }
    };
    check_sums(artifacts, name, &sha256)?;
    Ok(Some(InstallImage {
        name: name.to_string(),
        len: meta.len(),
        sha256,
        zeros,
    }))
}

/// The cached hash and zero map when name, size and mtime are unchanged (and both are sound).
fn cached(cache: &Path, key: &Cached) -> Option<(String, ZeroMap)> {
    let text = std::fs::read(cache).ok()?;
    let c: Cached = serde_json::from_slice(&text).ok()?;
    let same = c.name == key.name && c.size == key.size && c.mtime_ns == key.mtime_ns;
    let zeros = ZeroMap::parse(c.zeros.as_bytes(), &cache.display().to_string()).ok()?;
    (same && zeros.image_len() == c.size && crate::image::pull::parse_sha256(&c.sha256).is_ok())
        .then_some((c.sha256, zeros))
}

/// The SHA-256 and the zero map, in one read of the file.
fn hash(file: File, path: &Path) -> Result<(String, ZeroMap), ServeError> {
    tracing::info!("hashing and mapping the install image {}", path.display());
    let mut r = crate::io::hash::HashingReader::new(file);
    let zeros = ZeroMap::scan(&mut r, zero_map::BLOCK)
        .map_err(|e| err(path, format!("reading it: {e}")))?;
    Ok((r.finish().0, zeros))
}

/// A `SHA256SUMS` beside the image that lists it must agree with the file.
fn check_sums(artifacts: &Path, name: &str, sha256: &str) -> Result<(), ServeError> {
    let sums: PathBuf = artifacts.join("SHA256SUMS");
    let Ok(text) = std::fs::read_to_string(&sums) else {
        return Ok(());
    };
    let listed = text.lines().find_map(|l| {
        let (h, n) = l.split_once(char::is_whitespace)?;
        (n.trim_start().trim_start_matches('*') == name).then(|| h.to_ascii_lowercase())
    });
    match listed {
        Some(h) if h != sha256 => Err(err(
            &artifacts.join(name),
            format!("it hashes to {sha256} but {} lists {h}; copy the image again or regenerate SHA256SUMS", sums.display()),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOO_LINE: &str = "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c";

    #[test]
    fn the_hash_is_computed_once_and_names_the_image_in_the_boot_kargs() {
        let d = tempfile::tempdir().unwrap();
        let (art, state) = (d.path().join("art"), d.path().join("state"));
        std::fs::create_dir_all(&art).unwrap();
        std::fs::create_dir_all(&state).unwrap();
        assert_eq!(resolve(&art, None, &state).unwrap(), None);
        std::fs::write(art.join(DEFAULT), "foo\n").unwrap();
        let i = resolve(&art, None, &state).unwrap().unwrap();
        assert_eq!(
            (i.name.as_str(), i.len, i.sha256.as_str()),
            (DEFAULT, 4, FOO_LINE)
        );
        assert_eq!(
            i.kargs("http://192.0.2.1:8080"),
            [
                "kateskit.install.image_url=http://192.0.2.1:8080/artifacts/install.img"
                    .to_string(),
                format!("kateskit.install.image_sha256={FOO_LINE}"),
                "kateskit.install.image_zeros=http://192.0.2.1:8080/zeros/install.img".to_string(),
            ]
        );
        assert_eq!((i.zeros.image_len(), i.zeros.runs()), (4, &[][..]));
        // Same name, size and mtime: the cached hash is used (a planted one proves it).
        let c = state.join(CACHE);
        let mut cached: Cached = serde_json::from_slice(&std::fs::read(&c).unwrap()).unwrap();
        cached.sha256 = "ab".repeat(32);
        std::fs::write(&c, serde_json::to_vec(&cached).unwrap()).unwrap();
        assert_eq!(
            resolve(&art, None, &state).unwrap().unwrap().sha256,
            "ab".repeat(32)
        );
        // A new file is hashed and mapped again.
        let mut data = vec![0u8; 2 << 20];
        data.extend(b"bar!\n");
        std::fs::write(art.join(DEFAULT), &data).unwrap();
        let i = resolve(&art, None, &state).unwrap().unwrap();
        assert_ne!(i.sha256, "ab".repeat(32));
        assert_eq!(i.zeros.runs(), &[(0, 2 << 20)]);
        let c: Cached = serde_json::from_slice(&std::fs::read(&c).unwrap()).unwrap();
        assert_eq!(
            c.zeros,
            i.zeros.render(),
            "the map is cached beside the hash"
        );
    }

    #[test]
    fn a_missing_or_disagreeing_image_is_a_start_error_naming_it() {
        let d = tempfile::tempdir().unwrap();
        let art = d.path();
        let e = resolve(art, Some("nope.img"), art).unwrap_err().to_string();
        assert!(
            e.contains("nope.img") && e.contains("--install-image"),
            "{e}"
        );
        let e = resolve(art, Some("../x"), art).unwrap_err().to_string();
        assert!(e.contains("not a file name"), "{e}");
        std::fs::write(art.join("a.img"), "foo\n").unwrap();
        std::fs::write(
            art.join("SHA256SUMS"),
            format!("{} *a.img\n", "00".repeat(32)),
        )
        .unwrap();
        let e = resolve(art, Some("a.img"), art).unwrap_err().to_string();
        assert!(e.contains(FOO_LINE) && e.contains("SHA256SUMS"), "{e}");
        std::fs::write(art.join("SHA256SUMS"), format!("{FOO_LINE}  a.img\n")).unwrap();
        assert!(resolve(art, Some("a.img"), art).is_ok());
    }
}
