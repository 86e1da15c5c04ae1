//! The node's identity record, `/var/lib/kateskit/identity.json`: written after the first
//! successful run, it ends the first boot (config drives are no longer read) and pins the
//! cluster CA hash later config must carry (docs/agent.md "Trust model").

use serde::{Deserialize, Serialize};

use crate::agent::ladder::effective::Effective;
use crate::agent::AgentEnv;
use crate::fsutil;

pub const IDENTITY: &str = "var/lib/kateskit/identity.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    pub version: u32,
    pub node_name: String,
    /// The cluster CA hash the token pins (`hashCA`); absent for a token without one.
    pub ca_hash: Option<String>,
    pub server_url: Option<String>,
}

impl Identity {
    pub fn of(cfg: &Effective) -> Identity {
        Identity {
            version: 1,
            node_name: cfg.node.node.name.clone(),
            ca_hash: ca_hash(cfg),
            server_url: cfg.node.k3s.server_url.clone(),
        }
    }
}

/// The CA hash of the config's token, else the one the secrets carry.
fn ca_hash(cfg: &Effective) -> Option<String> {
    let s = cfg.node.secrets.as_ref()?;
    crate::pki::token::Token::parse(s.token.expose())
        .ok()
        .map(|t| t.ca_hash)
        .filter(|h| !h.is_empty())
        .or_else(|| Some(s.ca_hash.clone()).filter(|h| !h.is_empty()))
}

/// The recorded identity, if any; a record that does not parse is an error (it is the agent's
/// own file, so damage should be looked at, not papered over).
pub fn load(env: &AgentEnv) -> Result<Option<Identity>, String> {
    let path = env.path(IDENTITY);
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
            format!(
                "{}: {e}; it is written by the agent after the first successful run: \
                 remove it to re-provision this node",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("reading {}: {e}", path.display())),
    }
}

/// Whether a record exists (the first boot is over). An unreadable one counts as existing.
pub fn exists(env: &AgentEnv) -> bool {
    env.path(IDENTITY).symlink_metadata().is_ok()
}

/// Refuses config whose token pins another cluster CA than the recorded one.
pub fn check(env: &AgentEnv, cfg: &Effective) -> Result<(), String> {
    let Some(rec) = load(env)? else {
        return Ok(());
    };
    let (Some(recorded), Some(now)) = (rec.ca_hash.as_deref(), ca_hash(cfg)) else {
        return Ok(());
    };
    if recorded == now {
        return Ok(());
    }
    let src = cfg.merged.source_of("secrets.token").unwrap_or("config");
    Err(format!(
        "{src}: the token pins cluster CA hash {now}, but this node joined the cluster with CA \
         hash {recorded} (/{IDENTITY}); refusing config for another cluster. To re-provision \
         this node deliberately, remove /{IDENTITY} and reboot"
    ))
}

/// Writes the record (0600, atomically); unchanged content is not rewritten.
pub fn record(env: &AgentEnv, cfg: &Effective) -> Result<bool, fsutil::FsError> {
    let id = Identity::of(cfg);
    let mut body = serde_json::to_vec_pretty(&id).expect("identity serializes");
    body.push(b'\n');
    let path = env.path(IDENTITY);
    if std::fs::read(&path).ok().as_deref() == Some(&body[..]) {
        return Ok(false);
    }
    fsutil::create_dir_mode(path.parent().expect("has a parent"), 0o700)?;
    fsutil::write_atomic(&path, &body, 0o600)?;
    Ok(true)
}
