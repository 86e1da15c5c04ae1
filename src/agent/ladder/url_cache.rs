//! The config_url body the `--before-k3s` run fetched, kept for the rest of this boot in the
//! run directory. The join run (`agent run` after k3s) of the same boot merges that body
//! instead of asking again: a server that hands a config out once (a netboot server's one-shot
//! server config) is asked once per boot, and both runs of a boot act on one config. The next
//! boot asks again (the key holds the kernel's boot id, and /run is gone anyway).

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::agent::ladder::fetch::{FetchPlan, CONFIG_BODY_CAP};
use crate::agent::AgentEnv;

/// The kernel's id of this boot; a new one at every boot.
const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string(BOOT_ID).ok()?;
    let id = id.trim();
    (!id.is_empty()).then(|| id.to_string())
}

/// One file per boot and fetch: the URL and both pins are in the key, so a changed URL or pin
/// is fetched anew.
fn path(env: &AgentEnv, plan: &FetchPlan, boot: &str) -> PathBuf {
    let mut h = Sha256::new();
    for part in [
        boot,
        plan.url.as_str(),
        plan.sha256.as_deref().unwrap_or(""),
        &plan.tls_pin.map(hex::encode).unwrap_or_default(),
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    env.run_dir()
        .join("config-url")
        .join(hex::encode(h.finalize()))
}

/// Keeps `body` (which may hold the node's secrets: mode 0600 in a 0700 directory, on /run).
pub fn save(env: &AgentEnv, plan: &FetchPlan, body: &[u8]) -> Result<(), String> {
    let Some(boot) = boot_id() else {
        return Err(format!(
            "{BOOT_ID} is unreadable: the join run will fetch the config again"
        ));
    };
    let p = path(env, plan, &boot);
    let dir = p.parent().expect("a file in the cache directory");
    crate::fsutil::ensure_dir(dir, 0o700).map_err(|e| e.to_string())?;
    crate::fsutil::write_atomic(&p, body, 0o600).map_err(|e| e.to_string())
}

/// The body this boot's earlier run fetched for the same plan. Only a regular, private file
/// counts (never a symlink, nothing group- or world-accessible); anything else is fetched anew.
pub fn load(env: &AgentEnv, plan: &FetchPlan) -> Option<Vec<u8>> {
    let p = path(env, plan, &boot_id()?);
    match crate::fsutil::read_nofollow_mode(&p, CONFIG_BODY_CAP) {
        Ok(Some((body, mode))) if mode & 0o077 == 0 => Some(body),
        Ok(Some(_)) => {
            tracing::warn!("{}: not private (mode), ignored", p.display());
            None
        }
        Ok(None) => None,
        Err(e) => {
            tracing::warn!("{e}: fetching config_url again");
            None
        }
    }
}
