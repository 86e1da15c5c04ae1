//! `STATE/state.json`: what the last upgrade of this node did (staged, committed, rolled back),
//! for `node status` and the rollout's watcher. Written atomically; a missing file is an empty
//! state.

use std::path::{Path, PathBuf};

use super::SlotsError;

/// Default `--state` directory.
pub const DEFAULT_DIR: &str = "/var/lib/kateskit/upgrade";
const FILE: &str = "state.json";
const MAX: u64 = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpgradeResult {
    Staged,
    Committed,
    RolledBack,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LastUpgrade {
    pub from: String,
    pub to: String,
    pub result: UpgradeResult,
    /// RFC 3339, UTC.
    pub at: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeState {
    #[serde(default)]
    pub last_upgrade: Option<LastUpgrade>,
}

/// The state directory: `--state DIR`, else the default.
pub fn dir(explicit: Option<&Path>) -> PathBuf {
    explicit.map_or_else(|| PathBuf::from(DEFAULT_DIR), Path::to_path_buf)
}

/// Now, as RFC 3339 UTC.
pub fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub fn load(state: &Path) -> Result<NodeState, SlotsError> {
    let path = state.join(FILE);
    let bad = |msg: String| SlotsError::State {
        path: path.clone(),
        msg,
    };
    match crate::fsutil::read_nofollow(&path, MAX).map_err(|e| bad(e.to_string()))? {
        None => Ok(NodeState::default()),
        Some(b) => serde_json::from_slice(&b)
            .map_err(|e| bad(format!("{e}; remove the file to start with an empty state"))),
    }
}

/// Records `from → to` with `result`, now.
pub fn record(state: &Path, from: &str, to: &str, result: UpgradeResult) -> Result<(), SlotsError> {
    let mut s = load(state).unwrap_or_default();
    s.last_upgrade = Some(LastUpgrade {
        from: from.to_string(),
        to: to.to_string(),
        result,
        at: now(),
    });
    crate::fsutil::create_dir_mode(state, 0o700)?;
    let mut bytes = serde_json::to_vec_pretty(&s).expect("state serializes");
    bytes.push(b'\n');
    crate::fsutil::write_atomic(&state.join(FILE), &bytes, 0o644)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_loads() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(load(d.path()).unwrap(), NodeState::default());
        record(d.path(), "1", "2", UpgradeResult::RolledBack).unwrap();
        let s = load(d.path()).unwrap();
        let lu = s.last_upgrade.unwrap();
        assert_eq!((lu.from.as_str(), lu.to.as_str()), ("1", "2"));
        assert_eq!(lu.result, UpgradeResult::RolledBack);
        let text = std::fs::read_to_string(d.path().join(FILE)).unwrap();
        assert!(text.contains("\"rolled-back\""), "{text}");
        std::fs::write(d.path().join(FILE), "{").unwrap();
        assert!(load(d.path())
            .unwrap_err()
            .to_string()
            .contains("state.json"));
    }
}
