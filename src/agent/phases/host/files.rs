//! The host phase's files from the config: `agent.write_files` (owner, mode, append, defer,
//! once per NoCloud instance-id) and the FQDN line of `/etc/hosts`.

use base64::Engine;

use crate::agent::ladder::effective::{Effective, WriteFile};
use crate::agent::phases::host::write_if_changed;
use crate::agent::AgentEnv;
use crate::agent::AgentError;
use crate::fsutil::FsError;

/// Where the instance-id whose write_files were written is recorded, per pass.
pub const INSTANCE_FILE: &str = "var/lib/kateskit/instance-id";
const HOSTS_TAG: &str = "# kateskit fqdn";

fn instance_file(deferred: bool) -> String {
    if deferred {
        format!("{INSTANCE_FILE}.deferred")
    } else {
        INSTANCE_FILE.to_string()
    }
}

/// The instance-id recorded for a pass, if any.
pub fn recorded(env: &AgentEnv, deferred: bool) -> Option<String> {
    std::fs::read_to_string(env.path(instance_file(deferred)))
        .ok()
        .map(|s| s.trim().to_string())
}

/// An `owner` value as (uid, gid), looked up in the node's own passwd and group files.
fn owner(env: &AgentEnv, spec: &str, where_: &str) -> Result<(u32, u32), AgentError> {
    let (user, group) = spec.split_once(':').unwrap_or((spec, ""));
    let lookup = |file: &str, name: &str| -> Result<(u32, Option<u32>), AgentError> {
        if let Ok(n) = name.parse::<u32>() {
            return Ok((n, None));
        }
        let text = std::fs::read_to_string(env.path(file)).unwrap_or_default();
        text.lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.first() == Some(&name))
            .and_then(|f| Some((f.get(2)?.parse().ok()?, f.get(3).and_then(|g| g.parse().ok()))))
            .ok_or_else(|| {
                AgentError::Config(format!("{where_}: owner `{name}` is not in /{file}; create it in the image or use a number"))
            })
    };
    let (uid, primary) = lookup("etc/passwd", user)?;
    let gid = if group.is_empty() {
        primary.unwrap_or(uid)
    } else {
        lookup("etc/group", group)?.0
    };
    Ok((uid, gid))
}

fn bytes(f: &WriteFile, where_: &str) -> Result<Vec<u8>, AgentError> {
    match f.encoding.as_deref() {
        Some("b64") => base64::engine::general_purpose::STANDARD
            .decode(f.content.expose().trim())
            .map_err(|e| AgentError::Config(format!("{where_}: content is not valid base64: {e}"))),
        None => Ok(f.content.expose().as_bytes().to_vec()),
        Some(other) => Err(AgentError::Config(format!(
            "{where_}: encoding `{other}` is not b64; give b64 or plain text"
        ))),
    }
}

/// Writes the entries whose `defer` equals `deferred`; entries of an instance-id already
/// recorded for this pass are skipped. Returns how many files changed, and records the id.
pub fn write_files(env: &AgentEnv, cfg: &Effective, deferred: bool) -> Result<usize, AgentError> {
    let src = cfg
        .merged
        .source_of("agent.write_files")
        .unwrap_or("defaults");
    let done = recorded(env, deferred);
    let mut changed = 0;
    let mut instance = None;
    for (i, f) in cfg.agent.write_files.iter().enumerate() {
        if f.defer != deferred {
            continue;
        }
        if f.instance_id.is_some() && f.instance_id == done {
            continue;
        }
        instance = instance.or(f.instance_id.clone());
        let where_ = format!("{src} (agent.write_files[{i}], {})", f.path);
        if !f.path.starts_with('/') || f.path.split('/').any(|c| c == "..") {
            return Err(AgentError::Config(format!(
                "{where_}: path must be absolute without `..`"
            )));
        }
        let mut data = bytes(f, &where_)?;
        let path = env.path(&f.path);
        let mode = match &f.permissions {
            Some(p) => u32::from_str_radix(p.trim_start_matches("0o"), 8).map_err(|_| {
                AgentError::Config(format!("{where_}: permissions `{p}` is not octal"))
            })?,
            None => 0o644,
        };
        if f.append {
            let mut old = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(source) => {
                    return Err(FsError {
                        action: "reading",
                        path,
                        source,
                    }
                    .into())
                }
            };
            old.extend_from_slice(&data);
            data = old;
        }
        changed += usize::from(write_if_changed(&path, &data, mode)?);
        if let Some(o) = &f.owner {
            let (uid, gid) = owner(env, o, &where_)?;
            std::os::unix::fs::chown(&path, Some(uid), Some(gid)).map_err(|source| FsError {
                action: "changing the owner of",
                path: path.clone(),
                source,
            })?;
        }
    }
    if let Some(id) = instance {
        let p = env.path(instance_file(deferred));
        crate::fsutil::create_dir_mode(p.parent().expect("has a parent"), 0o700)?;
        crate::fsutil::write_atomic(&p, format!("{id}\n").as_bytes(), 0o644)?;
    }
    Ok(changed)
}

/// Keeps one `127.0.1.1 <fqdn> <short>` line in `/etc/hosts` when an FQDN is configured (as
/// cloud-init's manage_etc_hosts does), leaving every other line as it is.
pub fn etc_hosts(env: &AgentEnv, cfg: &Effective) -> Result<bool, AgentError> {
    let path = env.path("etc/hosts");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let mut body: String = old
        .lines()
        .filter(|l| !l.ends_with(HOSTS_TAG))
        .map(|l| format!("{l}\n"))
        .collect();
    match &cfg.agent.fqdn {
        Some(f) => body.push_str(&format!(
            "127.0.1.1 {f} {} {HOSTS_TAG}\n",
            cfg.node.host.hostname
        )),
        None if body == old => return Ok(false),
        None => {}
    }
    if body == old {
        return Ok(false);
    }
    // /etc/hosts may be a link into the Nix store: replace it with a file.
    if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
        std::fs::remove_file(&path).map_err(|source| FsError {
            action: "removing",
            path: path.clone(),
            source,
        })?;
    }
    Ok(write_if_changed(&path, body.as_bytes(), 0o644)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_resolves_names_and_numbers() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nwww:x:33:34::/:/bin/false\n",
        )
        .unwrap();
        std::fs::write(d.path().join("etc/group"), "root:x:0:\nadm:x:4:\n").unwrap();
        let mut env = AgentEnv::from_env();
        env.root = d.path().to_path_buf();
        assert_eq!(owner(&env, "www", "w").unwrap(), (33, 34));
        assert_eq!(owner(&env, "www:adm", "w").unwrap(), (33, 4));
        assert_eq!(owner(&env, "1000:1000", "w").unwrap(), (1000, 1000));
        let e = owner(&env, "nobody", "w").unwrap_err().to_string();
        assert!(e.contains("owner `nobody` is not in /etc/passwd"), "{e}");
    }
}
