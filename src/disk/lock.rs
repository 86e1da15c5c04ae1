//! Advisory locks on an opened whole disk, and who holds them when taking one fails.
//!
//! Two conventions guard block devices on Linux: systemd's (a `flock(LOCK_EX)` on the whole disk
//! while writing partition tables or images; udev skips probing while it is held) and ceph-osd's
//! (an OFD `fcntl` write lock over the whole device, with `flock` as a fallback). A writer takes
//! both, non-blocking, so a running OSD, a concurrent flash or a partitioning tool stops it.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;

/// Which lock could not be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    /// `fcntl(F_OFD_SETLK, F_WRLCK)` over the whole device.
    OfdWrite,
    /// `flock(LOCK_EX)`.
    Flock,
}

impl LockKind {
    fn describe(self) -> &'static str {
        match self {
            LockKind::OfdWrite => "an OFD write lock",
            LockKind::Flock => "an exclusive flock",
        }
    }
}

/// Tries both locks on `file`. `Ok(None)`: both held now (they last until the fd closes).
/// `Ok(Some(kind))`: another open file holds a conflicting lock.
pub fn try_lock(file: &File) -> io::Result<Option<LockKind>> {
    // SAFETY: an all-zero `flock` is a valid value; the fields that matter are set below.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = 0;
    fl.l_len = 0; // to the end, whatever the size
                  // SAFETY: F_OFD_SETLK reads one `flock` through the pointer, valid for the call.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &fl) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EACCES) => Ok(Some(LockKind::OfdWrite)),
            _ => Err(e),
        };
    }
    // SAFETY: flock on an open fd has no memory-safety preconditions.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EWOULDBLOCK) => Ok(Some(LockKind::Flock)),
            _ => Err(e),
        };
    }
    Ok(None)
}

/// One lock on the device as `/proc/PID/fdinfo` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    pub pid: u32,
    pub comm: String,
    /// `OFDLCK`, `FLOCK` or `POSIX`.
    pub class: String,
}

/// The `MAJ:MIN:INODE` key under which the kernel lists locks on the file behind `file`
/// (the device node's own inode, on the filesystem holding the node).
pub fn lock_key(file: &File) -> io::Result<String> {
    let m = file.metadata()?;
    let (major, minor) = super::sysfs::split_devno(m.dev());
    Ok(format!("{major:02x}:{minor:02x}:{}", m.ino()))
}

/// Parses the `lock:` lines of one fdinfo file: the lock classes held on `key`.
pub fn parse_fdinfo_locks(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("lock:"))
        .filter(|l| l.split_whitespace().any(|f| f == key))
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect()
}

/// Every process with an open file holding a lock on `key`, found through `/proc/*/fdinfo`
/// (the OFD locks of `/proc/locks` carry no pid). Processes that vanish meanwhile are skipped.
pub fn holders(key: &str) -> Vec<LockHolder> {
    let mut out: Vec<LockHolder> = Vec::new();
    let Ok(procs) = fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.filter_map(|e| e.ok()) {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = fs::read_dir(p.path().join("fdinfo")) else {
            continue;
        };
        for fd in fds.filter_map(|e| e.ok()) {
            let text = fs::read_to_string(fd.path()).unwrap_or_default();
            for class in parse_fdinfo_locks(&text, key) {
                let comm = fs::read_to_string(p.path().join("comm"))
                    .map(|s| s.trim().to_string())
                    .unwrap_or_else(|_| "?".into());
                let h = LockHolder { pid, comm, class };
                if !out.contains(&h) {
                    out.push(h);
                }
            }
        }
    }
    out
}

/// A sentence naming who holds the lock that `kind` could not take.
pub fn describe_holder(file: &File, kind: LockKind) -> String {
    // An OFD write lock conflicts with OFD and classic POSIX locks; flock only with flock.
    let want: &[&str] = match kind {
        LockKind::OfdWrite => &["OFDLCK", "POSIX"],
        LockKind::Flock => &["FLOCK"],
    };
    let found: Vec<LockHolder> = lock_key(file)
        .map(|k| holders(&k))
        .unwrap_or_default()
        .into_iter()
        .filter(|h| want.contains(&h.class.as_str()))
        .collect();
    if found.is_empty() {
        return format!(
            "another process (not found in /proc) with {}",
            kind.describe()
        );
    }
    found
        .iter()
        .map(|h| format!("{} (pid {}) with {}", h.comm, h.pid, kind.describe()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_lock_lines_for_one_file_only() {
        let text = "pos:\t0\nflags:\t02\nmnt_id:\t25\nino:\t99\n\
                    lock:\t1: OFDLCK ADVISORY  WRITE -1 00:05:812 0 EOF\n\
                    lock:\t2: FLOCK  ADVISORY  WRITE 77 00:05:8120 0 EOF\n";
        assert_eq!(parse_fdinfo_locks(text, "00:05:812"), ["OFDLCK"]);
        assert_eq!(parse_fdinfo_locks(text, "00:05:8120"), ["FLOCK"]);
        assert!(parse_fdinfo_locks(text, "00:05:81").is_empty());
    }

    #[test]
    fn names_a_holder_in_this_process() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let rw = || {
            fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(f.path())
                .unwrap()
        };
        let mine = rw();
        assert_eq!(try_lock(&mine).unwrap(), None);
        let other = rw();
        assert_eq!(try_lock(&other).unwrap(), Some(LockKind::OfdWrite));
        let text = describe_holder(&other, LockKind::OfdWrite);
        assert!(
            text.contains(&format!(
                "(pid {}) with an OFD write lock",
                std::process::id()
            )),
            "{text}"
        );
        drop(mine);
        assert_eq!(try_lock(&other).unwrap(), None);
    }
}
