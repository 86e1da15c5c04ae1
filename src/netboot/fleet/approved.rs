//! Which MACs are approved, asked on every DHCP packet from an unknown machine. A segment full
//! of foreign PXE clients must not make each packet read every approval file, so the set is
//! kept and read again only when the approvals directory changed (every approval is renamed
//! into it, which moves its mtime). Timestamps are coarse (a kernel tick), so a change within
//! [`SETTLE`] of the last one could leave the mtime as it was: a set read that soon after the
//! last change is not trusted, and the directory is read again on the next ask.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use super::approve::{read_all, APPROVALS_DIR};

/// How long after the directory's last change a read of it counts as final.
pub const SETTLE: Duration = Duration::from_secs(1);

struct Read {
    /// The directory's mtime when it was read.
    mtime: SystemTime,
    /// Whether the read came [`SETTLE`] or more after that mtime.
    settled: bool,
    macs: HashSet<String>,
}

/// The approved MACs of a state directory, read when they may have changed.
pub struct ApprovedMacs {
    state_dir: PathBuf,
    last: Mutex<Option<Read>>,
}

impl ApprovedMacs {
    pub fn new(state_dir: &Path) -> ApprovedMacs {
        ApprovedMacs {
            state_dir: state_dir.to_path_buf(),
            last: Mutex::new(None),
        }
    }

    /// Whether an approval names `mac` (lowercase, colon-separated). A directory that is
    /// missing or cannot be read approves nothing.
    pub fn contains(&self, mac: &str) -> bool {
        let dir = self.state_dir.join(APPROVALS_DIR);
        let Ok(mtime) = std::fs::metadata(&dir).and_then(|m| m.modified()) else {
            return false;
        };
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = last.as_ref().filter(|r| r.settled && r.mtime == mtime) {
            return r.macs.contains(mac);
        }
        let now = SystemTime::now();
        let Ok(approvals) = read_all(&self.state_dir) else {
            *last = None;
            return false;
        };
        let macs: HashSet<String> = approvals.into_iter().map(|a| a.mac).collect();
        let hit = macs.contains(mac);
        let settled = now.duration_since(mtime).is_ok_and(|d| d >= SETTLE);
        *last = Some(Read {
            mtime,
            settled,
            macs,
        });
        hit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netboot::fleet::approve::{write, Target};
    use crate::spec::Role;

    /// Sets the approvals directory's mtime to `t`, as a change at that time would have.
    fn set_mtime(dir: &Path, t: SystemTime) {
        std::fs::File::open(dir).unwrap().set_modified(t).unwrap();
        assert_eq!(std::fs::metadata(dir).unwrap().modified().unwrap(), t);
    }

    #[test]
    fn a_settled_directory_is_read_once_and_a_change_is_seen_at_once() {
        let d = tempfile::tempdir().unwrap();
        let set = ApprovedMacs::new(d.path());
        assert!(
            !set.contains("52:54:00:aa:00:01"),
            "no directory, no approval"
        );
        write(d.path(), "52:54:00:aa:00:01", Target::As(Role::Agent)).unwrap();
        assert!(set.contains("52:54:00:aa:00:01"), "seen on the next ask");
        let dir = d.path().join(APPROVALS_DIR);
        let old = SystemTime::now() - Duration::from_secs(10);
        set_mtime(&dir, old);
        assert!(set.contains("52:54:00:aa:00:01"));
        // A file planted without moving the directory's mtime is not read: the settled set
        // is used, so an ask costs one stat.
        std::fs::copy(
            dir.join("52-54-00-aa-00-01.json"),
            dir.join("52-54-00-aa-00-02.json"),
        )
        .unwrap();
        let text = std::fs::read_to_string(dir.join("52-54-00-aa-00-02.json")).unwrap();
        std::fs::write(
            dir.join("52-54-00-aa-00-02.json"),
            text.replace("52:54:00:aa:00:01", "52:54:00:aa:00:02"),
        )
        .unwrap();
        set_mtime(&dir, old);
        assert!(
            !set.contains("52:54:00:aa:00:02"),
            "the settled set was read again"
        );
        // A real approval renames into the directory, and is seen on the next ask.
        write(d.path(), "52:54:00:aa:00:03", Target::As(Role::Agent)).unwrap();
        assert!(set.contains("52:54:00:aa:00:03"));
        assert!(set.contains("52:54:00:aa:00:02"));
    }

    #[test]
    fn a_read_soon_after_a_change_is_not_trusted() {
        let d = tempfile::tempdir().unwrap();
        let set = ApprovedMacs::new(d.path());
        write(d.path(), "52:54:00:aa:00:01", Target::As(Role::Agent)).unwrap();
        // A change stamped later than the read (here: in the future, so however slow this
        // machine is the read is never SETTLE after it).
        let dir = d.path().join(APPROVALS_DIR);
        let tick = SystemTime::now() + Duration::from_secs(60);
        set_mtime(&dir, tick);
        assert!(set.contains("52:54:00:aa:00:01"));
        // Another approval within the same timestamp tick leaves the mtime as it was: the
        // unsettled read must not be reused.
        write(d.path(), "52:54:00:aa:00:04", Target::As(Role::Agent)).unwrap();
        set_mtime(&dir, tick);
        assert!(set.contains("52:54:00:aa:00:04"));
    }
}
