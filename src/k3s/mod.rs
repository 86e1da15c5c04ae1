//! k3s on the node: config drop-ins, token files, pre-seeded CA files and auto-deploy manifests
//! (nixos-k3s-facts.md 4.4, 4.7, 4.8). Everything here only writes files; starting k3s and
//! verifying the join live in the agent.

pub mod config;

use std::path::{Path, PathBuf};

use crate::agent::phases::host::write_if_changed;
use crate::fsutil::{self, FsError};
use crate::nodecfg::NodeConfig;
use crate::secret::Secret;
use crate::spec::Role;

/// k3s's server TLS directory, relative to the root.
pub const TLS_DIR: &str = "var/lib/rancher/k3s/server/tls";
/// k3s's node password (agents and servers), relative to the root.
pub const NODE_PASSWORD: &str = "etc/rancher/node/password";
/// k3s's auto-deploy manifests directory, relative to the root.
pub const MANIFESTS_DIR: &str = "var/lib/rancher/k3s/server/manifests";

#[derive(Debug, thiserror::Error)]
pub enum K3sError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("the node config has no secrets (token); render it with `kateskit cluster render --node N` (not --public)")]
    NoSecrets,
    #[error("CA file name `{0}` must be a relative path without `..`")]
    BadCaName(String),
    #[error("manifest name `{0}` must be a plain file name ending in .yaml, .yml or .json, not starting with `.`")]
    BadManifestName(String),
}

fn under(root: &Path, rel: &str) -> PathBuf {
    root.join(rel.trim_start_matches('/'))
}

/// Writes the drop-in, the env file and the token files; returns how many files changed.
/// A first server without secrets gets no token file: k3s generates the cluster's token.
pub fn write_config(root: &Path, cfg: &NodeConfig) -> Result<usize, K3sError> {
    if cfg.secrets.is_none() && (cfg.node.role != Role::Server || cfg.k3s.server_url.is_some()) {
        return Err(K3sError::NoSecrets);
    }
    let mut changed = 0;
    let state = under(root, "var/lib/kateskit");
    fsutil::create_dir_mode(&state, 0o700)?;
    if let Some(secrets) = &cfg.secrets {
        changed += usize::from(write_if_changed(
            &under(root, config::TOKEN_FILE),
            format!("{}\n", secrets.token.expose().trim()).as_bytes(),
            0o600,
        )?);
    }
    let agent_tok = under(root, config::AGENT_TOKEN_FILE);
    let agent_token = cfg.secrets.as_ref().and_then(|s| s.agent_token.as_ref());
    match (agent_token, cfg.node.role) {
        (Some(t), Role::Server) => {
            changed += usize::from(write_if_changed(
                &agent_tok,
                format!("{}\n", t.expose().trim()).as_bytes(),
                0o600,
            )?)
        }
        _ if agent_tok.exists() => {
            std::fs::remove_file(&agent_tok).map_err(|source| FsError {
                action: "removing",
                path: agent_tok.clone(),
                source,
            })?;
            changed += 1;
        }
        _ => {}
    }
    let dropin = under(root, config::DROPIN_DIR).join(config::DROPIN);
    changed += usize::from(write_if_changed(
        &dropin,
        config::render(cfg).as_bytes(),
        0o600,
    )?);
    changed += usize::from(write_if_changed(
        &under(root, config::ENV_FILE),
        config::env_file(cfg).as_bytes(),
        0o644,
    )?);
    Ok(changed)
}

/// Pre-seeds CA files on the server that starts the cluster. A server that joins (a `server:`
/// in its config, also a reinstalled first server rejoining) writes none: k3s's bootstrap hands
/// it the cluster's CAs, and a seeded file differing from the datastore would stop k3s.
/// Existing files are never overwritten (k3s only generates missing ones); a differing
/// existing file is returned as a warning.
pub fn seed_ca(root: &Path, cfg: &NodeConfig) -> Result<Vec<String>, K3sError> {
    let mut warnings = Vec::new();
    if cfg.node.role != Role::Server || cfg.k3s.server_url.is_some() {
        return Ok(warnings);
    }
    // Without secrets k3s generates its CAs itself.
    let Some(secrets) = &cfg.secrets else {
        return Ok(warnings);
    };
    let tls = under(root, TLS_DIR);
    for (rel, pem) in &secrets.ca_files {
        if rel.starts_with('/') || rel.split('/').any(|c| c == ".." || c.is_empty()) {
            return Err(K3sError::BadCaName(rel.clone()));
        }
        let path = tls.join(rel);
        match std::fs::read(&path) {
            Ok(old) if old == pem.expose().as_bytes() => continue,
            Ok(_) => {
                warnings.push(format!("{} already exists with different content; kept it (k3s uses existing CA files), so the token's CA hash may not match", path.display()));
                continue;
            }
            Err(_) => {}
        }
        fsutil::create_dir_mode(path.parent().expect("tls file has a parent"), 0o700)?;
        let mode = if rel.ends_with(".key") { 0o600 } else { 0o644 };
        fsutil::write_new(&path, pem.expose().as_bytes(), mode)?;
    }
    Ok(warnings)
}

/// Writes k3s's node password from the NodeConfig when the node has none, so a node whose copy
/// was lost (tmpfs root, reinstall) presents the password its Node's secret already holds. An
/// existing file is kept (k3s uses it); a different one is named in the returned warning.
pub fn seed_node_password(root: &Path, cfg: &NodeConfig) -> Result<Option<String>, K3sError> {
    let Some(want) = cfg
        .secrets
        .as_ref()
        .and_then(|s| s.node_password.as_ref().map(Secret::expose))
    else {
        return Ok(None);
    };
    let path = under(root, NODE_PASSWORD);
    match std::fs::read_to_string(&path) {
        Ok(have) if have.trim() == want => Ok(None),
        Ok(_) => Ok(Some(format!(
            "{} differs from the node password in the node config; kept it (k3s uses it). \
             If k3s reports \"Node password rejected\", delete the Node object \
             (kubectl delete node {}) so the node registers again",
            path.display(),
            cfg.node.name
        ))),
        Err(_) => {
            fsutil::create_dir_mode(path.parent().expect("password file has a parent"), 0o700)?;
            fsutil::write_new(&path, format!("{want}\n").as_bytes(), 0o600)?;
            Ok(None)
        }
    }
}

/// Writes bundle manifests `(file name, YAML)` into the server manifests directory; returns
/// how many changed. k3s applies each file and re-applies it when its content changes.
pub fn write_manifests(root: &Path, manifests: &[(String, String)]) -> Result<usize, K3sError> {
    let dir = under(root, MANIFESTS_DIR);
    let mut changed = 0;
    for (name, yaml) in manifests {
        let lower = name.to_ascii_lowercase();
        let ok_ext = [".yaml", ".yml", ".json"]
            .iter()
            .any(|e| lower.ends_with(e));
        if name.starts_with('.') || name.contains('/') || !ok_ext {
            return Err(K3sError::BadManifestName(name.clone()));
        }
        changed += usize::from(write_if_changed(&dir.join(name), yaml.as_bytes(), 0o600)?);
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_names_are_checked() {
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(
            write_manifests(d.path(), &[("../x.yaml".into(), "a".into())]),
            Err(K3sError::BadManifestName(_))
        ));
        assert!(matches!(
            write_manifests(d.path(), &[(".hidden.yaml".into(), "a".into())]),
            Err(K3sError::BadManifestName(_))
        ));
        assert_eq!(
            write_manifests(d.path(), &[("dex.yaml".into(), "kind: X\n".into())]).unwrap(),
            1
        );
        assert_eq!(
            write_manifests(d.path(), &[("dex.yaml".into(), "kind: X\n".into())]).unwrap(),
            0
        );
        assert_eq!(
            std::fs::read_to_string(d.path().join(MANIFESTS_DIR).join("dex.yaml")).unwrap(),
            "kind: X\n"
        );
    }
}
