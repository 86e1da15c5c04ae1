//! What the agent's report may show: the private run directory, text with every secret of the
//! run removed, and the config tree's view of `write_files` (path, mode and SHA-256 only).

use std::os::unix::fs::PermissionsExt;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::agent::ladder::effective::{secret_values, WriteFile};
use crate::agent::phases::RunState;
use crate::agent::AgentEnv;
use crate::fsutil::{self, FsError};

/// Creates the run directory 0700; one that exists is narrowed to 0700, never widened.
pub fn prepare_run_dir(env: &AgentEnv) -> Result<(), FsError> {
    let dir = env.run_dir();
    let err = |action, source| FsError {
        action,
        path: dir.clone(),
        source,
    };
    match std::fs::symlink_metadata(&dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fsutil::create_dir_mode(&dir, 0o700),
        Err(e) => Err(err("inspecting", e)),
        Ok(m) if !m.is_dir() => Err(err(
            "using as the run directory",
            std::io::Error::other("not a directory (a symlink or file is there): remove it"),
        )),
        Ok(m) if m.permissions().mode() & 0o077 != 0 => {
            let mode = m.permissions().mode() & 0o700;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))
                .map_err(|e| err("narrowing the mode of", e))
        }
        Ok(_) => Ok(()),
    }
}

/// Removes the run's secrets from text: every known secret value, secret kernel arguments,
/// and URL userinfo and queries.
pub struct Scrubber {
    values: Vec<String>,
}

impl Scrubber {
    /// Knows every secret the run has seen: the effective config's and the merged tree's.
    pub fn new(st: &RunState) -> Scrubber {
        let mut values = Vec::new();
        if let Some(e) = &st.effective {
            if let Some(s) = &e.node.secrets {
                values.extend(s.values().into_iter().map(str::to_string));
            }
            values.extend(secret_values(&e.merged.tree));
        }
        if let Some(l) = &st.ladder {
            values.extend(secret_values(&l.merged.tree));
        }
        // Longest first, so a token is not half-replaced by a shorter secret inside it.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Scrubber { values }
    }

    pub fn text(&self, s: &str) -> String {
        let refs: Vec<&str> = self.values.iter().map(String::as_str).collect();
        crate::redact::values(&crate::redact::text(s), &refs)
    }

    pub fn all(&self, v: &[String]) -> Vec<String> {
        v.iter().map(|s| self.text(s)).collect()
    }
}

/// One `write_files` entry as the config tree shows it: never the content.
fn file_view(f: &WriteFile) -> Value {
    use base64::Engine;
    let data = match f.encoding.as_deref() {
        Some("b64") => base64::engine::general_purpose::STANDARD
            .decode(f.content.expose().trim())
            .unwrap_or_else(|_| f.content.expose().as_bytes().to_vec()),
        _ => f.content.expose().as_bytes().to_vec(),
    };
    json!({
        "path": f.path,
        "mode": f.permissions.as_deref().unwrap_or("0644"),
        "sha256": hex::encode(Sha256::digest(&data)),
    })
}

/// The `agent` subtree as the config tree shows it.
pub fn agent_view(agent: &crate::agent::ladder::effective::AgentSettings) -> Value {
    let mut v = serde_json::to_value(agent).expect("agent settings serialize");
    v["write_files"] = Value::Array(agent.write_files.iter().map(file_view).collect());
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::ladder::effective::AgentSettings;

    #[test]
    fn write_files_show_path_mode_and_digest_only() {
        let a = AgentSettings {
            write_files: vec![WriteFile {
                path: "/etc/rancher/k3s/registries.yaml".into(),
                content: "password: LEAKMARKER\n".into(),
                encoding: None,
                permissions: Some("0600".into()),
                owner: None,
                append: false,
                defer: false,
                instance_id: None,
            }],
            ..AgentSettings::default()
        };
        let v = agent_view(&a);
        assert!(!v.to_string().contains("LEAKMARKER"), "{v}");
        assert_eq!(v["write_files"][0]["mode"], "0600");
        assert_eq!(
            v["write_files"][0]["sha256"],
            hex::encode(Sha256::digest(b"password: LEAKMARKER\n"))
        );
    }

    #[test]
    fn run_dir_is_private_and_only_narrowed() {
        let d = tempfile::tempdir().unwrap();
        let mut env = AgentEnv::from_env();
        env.root = d.path().to_path_buf();
        prepare_run_dir(&env).unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&env.run_dir()), 0o700);
        std::fs::set_permissions(env.run_dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
        prepare_run_dir(&env).unwrap();
        assert_eq!(mode(&env.run_dir()), 0o700);
        std::fs::set_permissions(env.run_dir(), std::fs::Permissions::from_mode(0o500)).unwrap();
        prepare_run_dir(&env).unwrap();
        assert_eq!(mode(&env.run_dir()), 0o500);
    }
}
