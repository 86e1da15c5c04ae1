//! Opening a client-named file beneath a served directory, shared by TFTP and HTTP.
//!
//! A name is normalised first (both `/` and `\` separate components, a leading separator means
//! the root, `.` and empty components are dropped, `..`, NUL and control characters are refused)
//! and then opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)` relative to the root
//! directory's descriptor, so the kernel refuses a symlink or mount that leads out of the root at
//! any component, also when the tree changes between check and open. Only regular files are
//! served.

use std::collections::HashSet;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{Mode, OFlags, ResolveFlags};

/// Why a name was not served.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ConfineError {
    #[error("the name is empty or names the root directory")]
    Empty,
    #[error("the name has a `..` component")]
    DotDot,
    #[error("the name has a NUL or control character")]
    Control,
    #[error("the name leads outside the served directory (symlink or mount)")]
    Escapes,
    #[error("no such file")]
    NotFound,
    #[error("not a regular file")]
    NotRegular,
    #[error("opening the file: {0}")]
    Io(String),
}

/// A directory opened once; every file is opened relative to it.
#[derive(Clone, Debug)]
pub struct Root {
    fd: Arc<OwnedFd>,
    path: PathBuf,
    /// Names of the server's own choosing whose symlinks are followed ([`Root::follow_links_of`]).
    linked: Arc<HashSet<String>>,
}

impl Root {
    /// Opens `path` as the served directory.
    pub fn open(path: &Path) -> std::io::Result<Root> {
        let fd = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| {
            std::io::Error::new(
                std::io::Error::from(e).kind(),
                format!("opening served directory {}: {e}", path.display()),
            )
        })?;
        Ok(Root {
            fd: Arc::new(fd),
            path: path.to_path_buf(),
            linked: Arc::default(),
        })
    }

    /// Follows symlinks for exactly these top-level names, wherever they lead. The names are
    /// the server's (the iPXE builds DHCP hands out), not a client's, and the package that
    /// provides the directory may link them elsewhere: Debian's `/usr/lib/ipxe/ipxe.efi` is a
    /// symlink to `/boot/ipxe.efi`. Every other name stays confined.
    pub fn follow_links_of<I: IntoIterator<Item = String>>(mut self, names: I) -> Root {
        self.linked = Arc::new(names.into_iter().filter(|n| !n.contains('/')).collect());
        self
    }

    /// The directory as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the client-named file `name` for reading, with its length.
    pub fn open_file(&self, name: &str) -> Result<(File, u64), ConfineError> {
        let rel = normalise(name)?;
        let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK;
        let opened = if self.linked.contains(&rel) {
            rustix::fs::openat(&*self.fd, rel.as_str(), flags, Mode::empty())
        } else {
            rustix::fs::openat2(
                &*self.fd,
                rel.as_str(),
                flags,
                Mode::empty(),
                ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
            )
        };
        let fd = opened.map_err(|e| match e {
            rustix::io::Errno::XDEV | rustix::io::Errno::LOOP => ConfineError::Escapes,
            rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR => ConfineError::NotFound,
            other => ConfineError::Io(other.to_string()),
        })?;
        let st = rustix::fs::fstat(&fd).map_err(|e| ConfineError::Io(e.to_string()))?;
        if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
            return Err(ConfineError::NotRegular);
        }
        // O_NONBLOCK only kept a FIFO from blocking the open; regular files ignore it.
        Ok((File::from(fd), st.st_size as u64))
    }
}

/// The relative path a client-supplied name stands for, or why it is refused.
pub fn normalise(name: &str) -> Result<String, ConfineError> {
    if name.chars().any(|c| c.is_control()) {
        return Err(ConfineError::Control);
    }
    let mut parts = Vec::new();
    for part in name.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => return Err(ConfineError::DotDot),
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(ConfineError::Empty);
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn names_are_normalised_and_dot_dot_refused() {
        assert_eq!(normalise("/ipxe.efi").unwrap(), "ipxe.efi");
        assert_eq!(normalise("\\boot\\.\\x//y").unwrap(), "boot/x/y");
        for bad in ["../etc/passwd", "a/../../b", "..\\x", "a/..", "/.."] {
            assert_eq!(normalise(bad), Err(ConfineError::DotDot), "{bad}");
        }
        assert_eq!(normalise("a\0b"), Err(ConfineError::Control));
        assert_eq!(normalise("a\nb"), Err(ConfineError::Control));
        assert_eq!(normalise("//./"), Err(ConfineError::Empty));
    }

    #[test]
    fn symlinks_out_of_the_root_and_non_files_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(t.path().join("secret"), b"outside").unwrap();
        std::fs::write(root.join("sub/ok"), b"inside").unwrap();
        symlink("../secret", root.join("out")).unwrap();
        symlink(t.path().join("secret"), root.join("abs")).unwrap();
        symlink("sub/ok", root.join("in")).unwrap();
        symlink("..", root.join("sub/up")).unwrap();
        let r = Root::open(&root).unwrap();
        assert_eq!(r.open_file("out").unwrap_err(), ConfineError::Escapes);
        assert_eq!(r.open_file("abs").unwrap_err(), ConfineError::Escapes);
        assert_eq!(
            r.open_file("sub/up/../secret").unwrap_err(),
            ConfineError::DotDot
        );
        assert_eq!(r.open_file("/in").unwrap().1, 6);
        assert_eq!(r.open_file("sub").unwrap_err(), ConfineError::NotRegular);
        assert_eq!(r.open_file("nope").unwrap_err(), ConfineError::NotFound);
        assert_eq!(r.open_file("sub/ok").unwrap().1, 6);
        // Only the names the server chose follow their links; a client's other names do not.
        // A name with a separator is never followed.
        symlink(t.path().join("secret"), root.join("sub/abs")).unwrap();
        let r = r.follow_links_of(["abs".to_string(), "sub/abs".to_string()]);
        assert_eq!(r.open_file("/abs").unwrap().1, 7);
        assert_eq!(r.open_file("out").unwrap_err(), ConfineError::Escapes);
        assert_eq!(r.open_file("sub/abs").unwrap_err(), ConfineError::Escapes);
    }
}
