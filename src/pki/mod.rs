//! Cluster secrets: the CA set, join tokens and the admin kubeconfig.
//!
//! Layout of `<cluster-dir>/secrets/` (directory 0700, files 0600):
//! `tls/` (k3s's `server/tls` file names), `token` (server token), `agent-token`, and the Ceph
//! identity: `ceph-fsid`, `ceph-mon-secret`, `ceph-admin-secret` (see [`ceph`]), and the
//! Ingress CA: `ingress-ca.crt`, `ingress-ca.key` (see [`ingress`]). Private keys
//! under `tls/` are SEC1 (`EC PRIVATE KEY`), as k3s writes them; older PKCS#8 ones are
//! re-encoded on load ([`keyfmt`]).

pub mod ca;
pub mod ceph;
pub mod cephx;
pub mod derive;
pub mod hashca;
pub mod ingress;
pub mod keyfmt;
pub mod kubeconfig;
pub mod token;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::RngCore;

use crate::fsutil::{self, FsError};
use crate::secret::Secret;
pub use ceph::CephIdentity;
pub use hashca::hash_ca;
pub use ingress::IngressCa;
pub use token::{Token, TokenError};

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("generating certificate: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("{0} already exists; refusing to overwrite cluster secrets (move it away to start a new cluster)")]
    Exists(PathBuf),
    #[error("{path} is missing: run `kateskit cluster init` for this cluster directory first")]
    Missing { path: PathBuf },
    #[error("{path}: {reason}")]
    Bad { path: PathBuf, reason: String },
    #[error("{path}: {source}; it must hold the ECDSA P-256 private key `cluster init` wrote (restore it from a backup of the cluster directory)")]
    Key {
        path: PathBuf,
        source: keyfmt::KeyFormatError,
    },
}

/// The secrets of one cluster, loaded from disk. `Debug` names the `tls/` files only.
#[derive(Clone)]
pub struct Secrets {
    pub dir: PathBuf,
    /// PEM files keyed by their path relative to `tls/`.
    pub tls: BTreeMap<String, String>,
    pub server_token: Token,
    pub agent_token: Token,
    pub ceph: CephIdentity,
    /// Root of the cluster CA issuer that signs Ingress certificates.
    pub ingress_ca: IngressCa,
    /// Files [`load`] generated because an older cluster directory lacked them.
    pub generated: Vec<PathBuf>,
    /// Key files [`load`] re-encoded from PKCS#8 to SEC1 (same key, new encoding).
    pub migrated: Vec<PathBuf>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("dir", &self.dir)
            .field("tls", &self.tls.keys().collect::<Vec<_>>())
            .field("server_token", &self.server_token)
            .field("agent_token", &self.agent_token)
            .field("ceph", &self.ceph)
            .field("ingress_ca", &self.ingress_ca)
            .field("generated", &self.generated)
            .field("migrated", &self.migrated)
            .finish()
    }
}

pub fn secrets_dir(cluster_dir: &Path) -> PathBuf {
    cluster_dir.join("secrets")
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// Generates a new secrets directory for `cluster_dir`. Built in a temp directory and renamed
/// into place with RENAME_NOREPLACE, so a crash leaves either nothing or a complete set.
pub fn init(cluster_dir: &Path) -> Result<Secrets, PkiError> {
    let dest = secrets_dir(cluster_dir);
    if dest.exists() {
        return Err(PkiError::Exists(dest));
    }
    // Random name, created 0700 by mkdir (tempfile): nothing planted beside `dest` is reused.
    let tmp_dir = tempfile::Builder::new()
        .prefix(".secrets.tmp")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir_in(cluster_dir)
        .map_err(|source| FsError {
            action: "creating temp directory in",
            path: cluster_dir.to_path_buf(),
            source,
        })?;
    let tmp = tmp_dir.path().to_path_buf();
    let built = (|| {
        let files = ca::generate()?;
        for f in &files {
            let path = tmp.join("tls").join(&f.rel);
            fsutil::create_dir_mode(path.parent().expect("tls file has a parent"), 0o700)?;
            fsutil::write_atomic(&path, f.pem.expose().as_bytes(), 0o600)?;
        }
        let server_ca = files
            .iter()
            .find(|f| f.rel == "server-ca.crt")
            .expect("server CA generated");
        let hash = hash_ca(server_ca.pem.expose().as_bytes())?;
        let server = Token::new(&hash, "server", &random_hex(16));
        let agent = Token::new(&hash, "node", &random_hex(16));
        fsutil::write_atomic(
            &tmp.join("token"),
            format!("{}\n", server.secret().expose()).as_bytes(),
            0o600,
        )?;
        fsutil::write_atomic(
            &tmp.join("agent-token"),
            format!("{}\n", agent.secret().expose()).as_bytes(),
            0o600,
        )?;
        ceph::generate_into(&tmp)?;
        ingress::generate_into(&tmp, &cluster_name(cluster_dir))?;
        Ok::<(), PkiError>(())
    })();
    if let Err(e) = built {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    rustix::fs::renameat_with(
        rustix::fs::CWD,
        &tmp,
        rustix::fs::CWD,
        &dest,
        rustix::fs::RenameFlags::NOREPLACE,
    )
    .map_err(|e| {
        let _ = std::fs::remove_dir_all(&tmp);
        if e == rustix::io::Errno::EXIST || e == rustix::io::Errno::NOTEMPTY {
            PkiError::Exists(dest.clone())
        } else {
            PkiError::Fs(FsError {
                action: "renaming into place",
                path: dest.clone(),
                source: e.into(),
            })
        }
    })?;
    // Renamed away: nothing left for the guard to clean up.
    let _ = tmp_dir.keep();
    fsutil::sync_dir(cluster_dir)?;
    load(cluster_dir)
}

/// The cluster name from `cluster.toml` (`[cluster] name`), naming the Ingress CA; `kateskit`
/// (the `cluster init` default) when the file is absent or has none. Validation of the file
/// is `spec::load`'s job, so a broken file is not an error here.
fn cluster_name(cluster_dir: &Path) -> String {
    std::fs::read_to_string(cluster_dir.join("cluster.toml"))
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .and_then(|t| t.get("cluster")?.get("name")?.as_str().map(str::to_string))
        .unwrap_or_else(|| "kateskit".into())
}

pub(crate) fn read(path: &Path) -> Result<String, PkiError> {
    if !path.exists() {
        return Err(PkiError::Missing {
            path: path.to_path_buf(),
        });
    }
    Ok(fsutil::read_string(path)?)
}

/// Reads a `tls/` private key as SEC1 PEM. A PKCS#8 file (written by older versions) is
/// re-encoded in place, atomically and 0600, after checking that the public key is unchanged;
/// returns the PEM and whether the file was rewritten.
fn read_key(path: &Path) -> Result<(String, bool), PkiError> {
    let text = read(path)?;
    let key_err = |source| PkiError::Key {
        path: path.to_path_buf(),
        source,
    };
    let sec1 = keyfmt::to_sec1_pem(&text).map_err(key_err)?;
    if sec1 == text {
        return Ok((text, false));
    }
    let before = keyfmt::key_pair(&text).map_err(key_err)?;
    let after = keyfmt::key_pair(&sec1).map_err(key_err)?;
    if before.public_key_raw() != after.public_key_raw() {
        return Err(PkiError::Bad {
            path: path.to_path_buf(),
            reason: "re-encoding as SEC1 changed the public key; the file was left as it is".into(),
        });
    }
    fsutil::write_atomic(path, sec1.as_bytes(), 0o600)?;
    Ok((sec1, true))
}

/// Loads the secrets of `cluster_dir` and checks that the tokens match the server CA. Ceph
/// keys and the Ingress CA missing from an older directory are generated here (never over an existing file), and
/// PKCS#8 keys are re-encoded as SEC1 (the same keys: the CA hash and issued certs stay valid).
pub fn load(cluster_dir: &Path) -> Result<Secrets, PkiError> {
    let dir = secrets_dir(cluster_dir);
    let mut tls = BTreeMap::new();
    let mut migrated = Vec::new();
    let mut keys: Vec<String> = vec![ca::SERVICE_KEY.into()];
    for (stem, _) in ca::CAS {
        let rel = format!("{stem}.crt");
        tls.insert(rel.clone(), read(&dir.join("tls").join(&rel))?);
        keys.push(format!("{stem}.key"));
    }
    for rel in keys {
        let path = dir.join("tls").join(&rel);
        let (pem, rewritten) = read_key(&path)?;
        if rewritten {
            migrated.push(path);
        }
        tls.insert(rel, pem);
    }
    let parse_tok = |name: &str| -> Result<Token, PkiError> {
        let p = dir.join(name);
        Token::parse(&read(&p)?).map_err(|e| PkiError::Bad {
            path: p,
            reason: e.to_string(),
        })
    };
    let server_token = parse_tok("token")?;
    let agent_token = parse_tok("agent-token")?;
    let hash = hash_ca(tls["server-ca.crt"].as_bytes())?;
    for (name, t) in [("token", &server_token), ("agent-token", &agent_token)] {
        if t.ca_hash != hash {
            return Err(PkiError::Bad { path: dir.join(name), reason: format!("token CA hash {} does not match tls/server-ca.crt ({hash}); the CA was replaced without new tokens", t.ca_hash) });
        }
    }
    let (ceph, mut generated) = ceph::load_completing(&dir)?;
    let (ingress_ca, made) = ingress::load_completing(&dir, &cluster_name(cluster_dir))?;
    generated.extend(made);
    Ok(Secrets {
        dir,
        tls,
        server_token,
        agent_token,
        ceph,
        ingress_ca,
        generated,
        migrated,
    })
}

impl Secrets {
    /// The CA hash both tokens pin.
    pub fn ca_hash(&self) -> &str {
        &self.server_token.ca_hash
    }

    /// CA files a server pre-seeds: every `tls/` file (certificates and keys).
    pub fn server_ca_files(&self) -> BTreeMap<String, Secret> {
        self.tls
            .iter()
            .map(|(k, v)| (k.clone(), Secret::new(v.as_str())))
            .collect()
    }
}
