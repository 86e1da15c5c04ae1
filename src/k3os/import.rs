//! `kateskit cluster import k3os`: k3os config.yaml files (one per node) turned into a cluster
//! directory (cluster.toml plus `cluster init`'s secrets) that `cluster check` accepts, with a
//! report of everything not carried over.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::map::Unmapped;
use super::K3osError;
use crate::spec::{self, ClusterSpec, NodeSpec, Role};

/// The file under `secrets/` that keeps the live k3os cluster's token (mode 0600).
pub const TOKEN_FILE: &str = "k3os-token";

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] K3osError),
    #[error("{file}: {reason}")]
    Name { file: String, reason: String },
    #[error("{0} already exists; import into a new or empty directory (nothing was written)")]
    Exists(PathBuf),
    #[error("the imported cluster.toml does not validate: {0}")]
    Spec(String),
    #[error(transparent)]
    Fs(#[from] crate::fsutil::FsError),
    #[error("creating the cluster secrets: {0}")]
    Pki(#[from] crate::pki::PkiError),
}

/// One imported node.
#[derive(Debug, Clone, Serialize)]
pub struct NodeReport {
    pub name: String,
    pub role: &'static str,
    pub file: String,
}

/// What the import did and what it did not carry over.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub dir: PathBuf,
    pub nodes: Vec<NodeReport>,
    /// `secrets/k3os-token` when the configs carry a token, for joining the live cluster.
    pub token_file: Option<PathBuf>,
    pub not_carried: Vec<Unmapped>,
}

/// The imported cluster before it is written.
pub struct Plan {
    pub spec: ClusterSpec,
    pub toml: String,
    pub token: Option<crate::secret::Secret>,
    pub nodes: Vec<NodeReport>,
    pub not_carried: Vec<Unmapped>,
}

/// Tree paths the importer carries into cluster.toml; every other mapped leaf is reported.
const CARRIED: [&str; 14] = [
    "host.hostname",
    "node.role",
    "node.labels",
    "node.taints",
    "k3s.server_url",
    "secrets.token",
    "host.ssh_authorized_keys",
    "host.ntp_servers",
    "k3s.tls_sans",
    "k3s.cluster_cidr",
    "k3s.service_cidr",
    "k3s.cluster_domain",
    "k3s.disable",
    "k3s.cluster_init",
];

/// Builds the cluster from `configs` (display name, bytes), one node each.
pub fn plan(configs: &[(String, Vec<u8>)], name: &str) -> Result<Plan, ImportError> {
    let mut spec: ClusterSpec =
        toml::from_str(&format!("[cluster]\nname = {}\n", toml::Value::from(name)))
            .map_err(|e| ImportError::Spec(e.to_string()))?;
    let mut not_carried = Vec::new();
    let mut token: Option<(String, String)> = None;
    let mut nodes: Vec<(u8, NodeSpec, String)> = Vec::new();
    for (file, bytes) in configs {
        let cfg = super::parse_yaml(bytes, file)?;
        let m = super::map(&cfg, file)?;
        not_carried.extend(m.unmapped);
        let t = &m.layer.tree;
        let get = |p: &str| crate::agent::ladder::merge::get(t, p);
        let s = |p: &str| get(p).and_then(Value::as_str).map(str::to_string);
        let list = |p: &str| -> Vec<String> {
            get(p)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut report = |key: &str, reason: &str| {
            not_carried.push(Unmapped {
                key: key.into(),
                source: file.clone(),
                reason: reason.into(),
            })
        };
        let mut seen = std::collections::BTreeSet::new();
        for (path, origin) in &m.layer.origin {
            let carried = CARRIED.iter().any(|c| {
                path.strip_prefix(c)
                    .is_some_and(|r| r.is_empty() || r.starts_with('.') || r.starts_with('['))
            });
            let key = origin.strip_prefix(&format!("{file} ")).unwrap_or(origin);
            if !carried && seen.insert(key.to_string()) {
                let field = path.split('[').next().unwrap_or(path);
                report(key, &format!("a per-node setting ({field}) with no cluster.toml field: give it to that node on a config drive or as kernel arguments"));
            }
        }
        let node_name = node_name(s("host.hostname"), file)?;
        let role = match s("node.role").as_deref() {
            Some("agent") => Role::Agent,
            _ => Role::Server,
        };
        // The server without a server_url is the one the others joined: first in cluster.toml.
        let rank = match (role, s("k3s.server_url")) {
            (Role::Server, None) => 0,
            (Role::Server, Some(_)) => 1,
            (Role::Agent, _) => 2,
        };
        if let Some(u) = s("k3s.server_url") {
            report(&format!("k3os.server_url {u}"), "nodes join the first server of cluster.toml (its static address, else its name); give that server network = { addresses = [...] }");
        }
        if let Some(tok) = s("secrets.token") {
            match &token {
                None => token = Some((tok, file.clone())),
                Some((first, from)) if *first != tok => report(
                    "k3os.token",
                    &format!("differs from the token in {from}, which is the one kept"),
                ),
                Some(_) => {}
            }
        }
        for k in list("host.ssh_authorized_keys") {
            if !spec.cluster.ssh_authorized_keys.contains(&k) {
                spec.cluster.ssh_authorized_keys.push(k);
            }
        }
        let ntp = list("host.ntp_servers");
        if !ntp.is_empty() && spec.cluster.ntp_servers.is_empty() {
            spec.cluster.ntp_servers = ntp;
        }
        for san in list("k3s.tls_sans") {
            if !spec.network.tls_sans.contains(&san) {
                spec.network.tls_sans.push(san);
            }
        }
        if let Some(v) = s("k3s.cluster_cidr") {
            spec.network.cluster_cidr = v;
        }
        if let Some(v) = s("k3s.service_cidr") {
            spec.network.service_cidr = v;
        }
        if let Some(v) = s("k3s.cluster_domain") {
            spec.cluster.domain = v;
        }
        for d in list("k3s.disable") {
            let b = &mut spec.bundle;
            match d.as_str() {
                "traefik" => b.traefik.enable = false,
                "servicelb" => b.servicelb.enable = false,
                "metrics-server" => b.metrics_server.enable = false,
                "coredns" => b.coredns.enable = false,
                other => report(
                    &format!("k3os.k3s_args --disable {other}"),
                    "not a component cluster.toml switches off",
                ),
            }
        }
        let labels = get("node.labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let n = NodeSpec {
            name: node_name,
            role,
            macs: Vec::new(),
            install_disk: None,
            osd_disks: Vec::new(),
            labels,
            taints: list("node.taints"),
            network: None,
        };
        nodes.push((rank, n, file.clone()));
    }
    nodes.sort_by_key(|(rank, ..)| *rank);
    let reports = nodes
        .iter()
        .map(|(_, n, f)| NodeReport {
            name: n.name.clone(),
            role: n.role.as_str(),
            file: f.clone(),
        })
        .collect();
    spec.nodes = nodes.into_iter().map(|(_, n, _)| n).collect();
    let body = toml::to_string(&spec).map_err(|e| ImportError::Spec(e.to_string()))?;
    let toml = format!("# Imported from k3os by `kateskit cluster import k3os` (docs/migrate-k3os.md).\n# Reference: docs/cluster-toml.md.\n\n{body}");
    spec::parse_str(&toml, "cluster.toml").map_err(|e| ImportError::Spec(e.to_string()))?;
    Ok(Plan {
        spec,
        toml,
        token: token.map(|(t, _)| crate::secret::Secret::new(t)),
        nodes: reports,
        not_carried,
    })
}

/// The node name: the k3os hostname's first label, else the file's stem.
fn node_name(hostname: Option<String>, file: &str) -> Result<String, ImportError> {
    let stem = Path::new(file)
        .file_stem()
        .map(|s| s.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let name = match hostname {
        Some(h) => h.split('.').next().unwrap_or_default().to_lowercase(),
        None => stem,
    };
    if spec::is_dns_label(&name) {
        Ok(name)
    } else {
        Err(ImportError::Name {
            file: file.into(),
            reason: format!("node name `{name}` (from its hostname, else the file name) is not a DNS label: set `hostname:` in that file to 1-63 lower-case letters, digits and `-`"),
        })
    }
}

/// Reads `files`, plans, and writes DIR/cluster.toml and DIR/secrets (refusing to replace
/// either).
pub fn import(files: &[PathBuf], dir: &Path, name: &str) -> Result<Report, ImportError> {
    let mut configs = Vec::new();
    for f in files {
        let b = std::fs::read(f).map_err(|source| ImportError::Read {
            path: f.clone(),
            source,
        })?;
        configs.push((f.display().to_string(), b));
    }
    let p = plan(&configs, name)?;
    let toml_path = dir.join("cluster.toml");
    for existing in [toml_path.clone(), crate::pki::secrets_dir(dir)] {
        if existing.exists() {
            return Err(ImportError::Exists(existing));
        }
    }
    crate::fsutil::ensure_dir(dir, 0o755)?;
    crate::fsutil::write_new(&toml_path, p.toml.as_bytes(), 0o644)?;
    let secrets = crate::pki::init(dir)?;
    let token_file = match &p.token {
        Some(t) => {
            let path = secrets.dir.join(TOKEN_FILE);
            let mut text = t.expose().to_string();
            text.push('\n');
            crate::fsutil::write_new(&path, text.as_bytes(), 0o600)?;
            Some(path)
        }
        None => None,
    };
    Ok(Report {
        dir: dir.to_path_buf(),
        nodes: p.nodes,
        token_file,
        not_carried: p.not_carried,
    })
}
