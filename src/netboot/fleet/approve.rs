//! Approvals: `kateskit netboot approve` writes one file per approval under `approvals/` in
//! the state directory; the running server reads that directory on every config request, so
//! an approval made while it runs takes effect at the machine's next poll. Only the CLI writes
//! approvals and only the server writes `fleet.json`, so neither overwrites the other.
//! The server may run as its own user (the NixOS service) while root runs the CLI, so the
//! approvals directory and files are given the state directory's owner.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::FleetError;
use crate::fsutil;
use crate::spec::Role;

pub const APPROVALS_DIR: &str = "approvals";

/// Which node an approved machine becomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// A node of cluster.toml.
    Node(String),
    /// A new node of this role, named `node-<last three MAC bytes>`.
    As(Role),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    /// Unique per approval: a server config is served once per approval.
    pub id: String,
    pub mac: String,
    pub target: Target,
    /// Unix seconds.
    pub at: u64,
}

fn file_name(mac: &str) -> String {
    format!("{}.json", mac.replace(':', "-"))
}

/// Records an approval for `mac` (replacing an earlier one for it).
pub fn write(state_dir: &Path, mac: &str, target: Target) -> Result<Approval, FleetError> {
    let mac = super::parse_mac(mac)?;
    let owner = owner_of(state_dir)?;
    let dir = state_dir.join(APPROVALS_DIR);
    fsutil::ensure_dir(&dir, 0o700)?;
    hand_over(&dir, owner)?;
    let a = Approval {
        id: uuid::Uuid::new_v4().to_string(),
        mac: mac.clone(),
        target,
        at: super::now(),
    };
    let mut text = serde_json::to_vec_pretty(&a).expect("approval serializes");
    text.push(b'\n');
    // Written and handed over under a name the reader skips, then renamed into place, so the
    // server never sees an approval it cannot open.
    let path = dir.join(file_name(&mac));
    let pending = dir.join(format!(".{}.pending", file_name(&mac)));
    fsutil::write_atomic(&pending, &text, 0o600)?;
    hand_over(&pending, owner)?;
    std::fs::rename(&pending, &path).map_err(io("renaming into place", &path))?;
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io("syncing", &dir))?;
    Ok(a)
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> FleetError + 'a {
    move |source| {
        FleetError::Io(fsutil::FsError {
            action,
            path: path.to_path_buf(),
            source,
        })
    }
}

/// The uid and gid owning the state directory.
fn owner_of(state_dir: &Path) -> Result<(u32, u32), FleetError> {
    let m = std::fs::metadata(state_dir).map_err(io("reading", state_dir))?;
    Ok((m.uid(), m.gid()))
}

/// Gives `path` to `owner` unless it has it already (only root can, and only root needs to).
fn hand_over(path: &Path, owner: (u32, u32)) -> Result<(), FleetError> {
    let m = std::fs::symlink_metadata(path).map_err(io("reading", path))?;
    if (m.uid(), m.gid()) != owner {
        std::os::unix::fs::lchown(path, Some(owner.0), Some(owner.1))
            .map_err(io("changing the owner of", path))?;
    }
    Ok(())
}

/// Every approval in the state directory; a file that does not parse is an error naming it.
pub fn read_all(state_dir: &Path) -> Result<Vec<Approval>, FleetError> {
    let dir = state_dir.join(APPROVALS_DIR);
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(FleetError::Io(fsutil::FsError {
                action: "listing",
                path: dir,
                source,
            }))
        }
    };
    let mut out = Vec::new();
    let mut paths: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    for path in paths {
        let text = fsutil::read_string(&path)?;
        let a: Approval = serde_json::from_str(&text).map_err(|e| FleetError::Parse {
            path: path.clone(),
            reason: format!("{e}; remove it and approve the machine again"),
        })?;
        out.push(a);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_approval_replaces_the_old_with_a_new_id() {
        let d = tempfile::tempdir().unwrap();
        let a = write(d.path(), "52-54-00-AA-00-01", Target::Node("a1".into())).unwrap();
        assert_eq!(a.mac, "52:54:00:aa:00:01");
        let b = write(d.path(), "52:54:00:aa:00:01", Target::As(Role::Server)).unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(read_all(d.path()).unwrap(), vec![b]);
        assert!(write(d.path(), "nonsense", Target::As(Role::Agent)).is_err());
    }

    /// root runs `approve` for a server running as its own user (the NixOS service): the
    /// approvals directory and file must end up that user's, or the server cannot read them.
    #[test]
    fn approvals_belong_to_the_state_directorys_owner() {
        use std::os::unix::fs::MetadataExt;
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipping: handing files to another user needs root");
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let (uid, gid) = (65534, 65534);
        std::os::unix::fs::chown(d.path(), Some(uid), Some(gid)).unwrap();
        write(d.path(), "52:54:00:aa:00:02", Target::As(Role::Agent)).unwrap();
        let dir = d.path().join(APPROVALS_DIR);
        let file = dir.join("52-54-00-aa-00-02.json");
        for p in [&dir, &file] {
            let m = std::fs::metadata(p).unwrap();
            assert_eq!((m.uid(), m.gid()), (uid, gid), "{}", p.display());
        }
        assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
        // Nothing else is left in the directory (no temporary file).
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    }
}
