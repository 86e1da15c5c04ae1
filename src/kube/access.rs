//! Where the API is and who we are: from a cluster directory (an admin certificate minted from
//! its client CA, as `kateskit kubeconfig` does) or from a kubeconfig file.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value;

use crate::secret::Secret;
use crate::{nodecfg, pki, spec};

/// Admin certificates minted for one rollout are short-lived: nothing is written to disk.
const ADMIN_CERT_DAYS: i64 = 2;
/// Largest kubeconfig read (real ones are kilobytes).
const KUBECONFIG_MAX: u64 = 16 * 1024 * 1024;

/// API URL, the CA bundle it must chain to, and the client identity (PEM).
pub struct Access {
    pub server: String,
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: Secret,
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(transparent)]
    Spec(#[from] spec::SpecError),
    #[error("loading the secrets of {dir}: {source}")]
    Pki {
        dir: PathBuf,
        #[source]
        source: pki::PkiError,
    },
    #[error("{dir}/cluster.toml: {source}")]
    Endpoint {
        dir: PathBuf,
        #[source]
        source: nodecfg::RenderError,
    },
    #[error("{path}: {reason}")]
    Kubeconfig { path: PathBuf, reason: String },
}

impl Access {
    /// The cluster directory's API endpoint (`network.api_vip`, else the first server) on 6443,
    /// unless `server` overrides it, with a fresh admin certificate from the client CA.
    pub fn from_cluster_dir(dir: &Path, server: Option<&str>) -> Result<Access, AccessError> {
        let loaded = spec::load(&dir.join("cluster.toml"))?;
        let pki_err = |source| AccessError::Pki {
            dir: dir.to_path_buf(),
            source,
        };
        let secrets = pki::load(dir).map_err(pki_err)?;
        let admin = pki::kubeconfig::mint_admin(&secrets, ADMIN_CERT_DAYS).map_err(pki_err)?;
        let server = match server {
            Some(s) => s.to_string(),
            None => {
                let host = nodecfg::api_endpoint(&loaded.spec).map_err(|source| {
                    AccessError::Endpoint {
                        dir: dir.to_path_buf(),
                        source,
                    }
                })?;
                format!("https://{host}:6443")
            }
        };
        let ca_pem = secrets
            .tls
            .get("server-ca.crt")
            .cloned()
            .ok_or_else(|| AccessError::Pki {
                dir: dir.to_path_buf(),
                source: pki::PkiError::Missing {
                    path: dir.join("secrets/tls/server-ca.crt"),
                },
            })?;
        Ok(Access {
            server,
            ca_pem,
            cert_pem: admin.cert_pem,
            key_pem: admin.key_pem,
        })
    }

    /// The current context of a kubeconfig (else its first cluster and user). `*-data` fields
    /// are inline base64; plain fields are paths, relative to the kubeconfig's directory.
    pub fn from_kubeconfig(path: &Path) -> Result<Access, AccessError> {
        let bad = |reason: String| AccessError::Kubeconfig {
            path: path.to_path_buf(),
            reason,
        };
        let text = crate::fsutil::read_nofollow(path, KUBECONFIG_MAX)
            .map_err(|e| bad(e.to_string()))?
            .ok_or_else(|| bad("no such file".into()))?;
        let y: serde_yaml_ng::Value =
            serde_yaml_ng::from_slice(&text).map_err(|e| bad(e.to_string()))?;
        let v: Value = serde_json::to_value(y).map_err(|e| bad(e.to_string()))?;
        let current = v.get("current-context").and_then(Value::as_str);
        let context = v
            .get("contexts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|c| current.is_some() && c.get("name").and_then(Value::as_str) == current)
            .and_then(|c| c.get("context"));
        let pick = |section: &str, key: &str| -> Result<&Value, AccessError> {
            let want = context.and_then(|c| c.get(key)).and_then(Value::as_str);
            let list = v.get(section).and_then(Value::as_array);
            let entry = list
                .into_iter()
                .flatten()
                .find(|e| want.is_none() || e.get("name").and_then(Value::as_str) == want)
                .ok_or_else(|| bad(format!("no {section} entry {}", want.unwrap_or(""))))?;
            let inner = &section[..section.len() - 1];
            entry
                .get(inner)
                .ok_or_else(|| bad(format!("{section} entry has no `{inner}`")))
        };
        let cluster = pick("clusters", "cluster")?;
        let user = pick("users", "user")?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let field = |m: &Value, name: &str| -> Result<String, AccessError> {
            if let Some(d) = m.get(format!("{name}-data")).and_then(Value::as_str) {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(d.trim())
                    .map_err(|e| bad(format!("{name}-data is not base64: {e}")))?;
                return String::from_utf8(raw).map_err(|_| bad(format!("{name}-data is not PEM")));
            }
            let p = m
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| bad(format!("neither {name} nor {name}-data is set")))?;
            std::fs::read_to_string(base.join(p))
                .map_err(|e| bad(format!("reading {name} {p}: {e}")))
        };
        let server = cluster
            .get("server")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("the cluster has no `server`".into()))?;
        Ok(Access {
            server: server.to_string(),
            ca_pem: field(cluster, "certificate-authority")?,
            cert_pem: field(user, "client-certificate")?,
            key_pem: Secret::new(field(user, "client-key")?),
        })
    }
}
