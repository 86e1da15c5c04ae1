//! Reads of files another party may have planted: a config drive's files (the drive is
//! attacker-controlled until proven otherwise) and user-owned files a root command reads back.
//! Symlinks are refused rather than followed, only regular files are read (a FIFO would block,
//! a device such as `/dev/zero` never ends), and the size is capped before and during the read.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Largest config drive file read (`kateskit.json`, `meta-data`, `user-data`): 1 MiB, four
/// times the largest embed area, so every real config fits and a hostile drive cannot make the
/// agent allocate more.
pub const DRIVE_FILE_MAX: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{} is a symbolic link; it is read only as a regular file, never through a link", path.display())]
    Symlink { path: PathBuf },
    #[error("{} resolves outside {}; only files inside it are read", path.display(), dir.display())]
    Escapes { path: PathBuf, dir: PathBuf },
    #[error("{} is a {kind}, not a regular file", path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{} is {size} bytes or more, above the {max}-byte limit for this file", path.display())]
    TooLarge { path: PathBuf, size: u64, max: u64 },
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(Errno) -> ReadError + 'a {
    move |e| ReadError::Io {
        action,
        path: path.to_path_buf(),
        source: e.into(),
    }
}

/// Flags for opening a file to read: never blocks on a FIFO, never becomes a controlling tty.
fn read_flags() -> OFlags {
    OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC
}

/// Reads `name` inside `dir` with `openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS)`: no path
/// component may be a symlink or leave `dir`. Ok(None) when the file does not exist.
pub fn read_beneath(dir: &Path, name: &str, max: u64) -> Result<Option<Vec<u8>>, ReadError> {
    Ok(read_beneath_mode(dir, name, max)?.map(|(b, _)| b))
}

/// [`read_beneath`] that also returns the file's permission bits, from the same `fstat`: for
/// files whose mode decides whether they are trusted (a secret must not be group-readable).
pub fn read_beneath_mode(
    dir: &Path,
    name: &str,
    max: u64,
) -> Result<Option<(Vec<u8>, u32)>, ReadError> {
    let path = dir.join(name);
    let dfd = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(io_err("opening directory", dir))?;
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    let opened = match rustix::fs::openat2(&dfd, name, read_flags(), Mode::empty(), resolve) {
        // Kernels before 5.6: one path component opened with O_NOFOLLOW is the same guarantee.
        Err(Errno::NOSYS) if !name.contains('/') && name != ".." => {
            rustix::fs::openat(&dfd, name, read_flags() | OFlags::NOFOLLOW, Mode::empty())
        }
        other => other,
    };
    let fd = match opened {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(None),
        Err(Errno::LOOP) => return Err(ReadError::Symlink { path }),
        Err(Errno::XDEV) => {
            return Err(ReadError::Escapes {
                path,
                dir: dir.to_path_buf(),
            })
        }
        Err(e) => return Err(io_err("opening", &path)(e)),
    };
    read_capped(fd, &path, max).map(Some)
}

/// Reads `path` with `O_NOFOLLOW`: a symlink in its last component is refused (a user who owns
/// the directory could point it at a root-only file). Ok(None) when it does not exist.
pub fn read_nofollow(path: &Path, max: u64) -> Result<Option<Vec<u8>>, ReadError> {
    Ok(read_nofollow_mode(path, max)?.map(|(b, _)| b))
}

/// [`read_nofollow`] that also returns the file's permission bits, from the same `fstat`.
pub fn read_nofollow_mode(path: &Path, max: u64) -> Result<Option<(Vec<u8>, u32)>, ReadError> {
    match rustix::fs::open(path, read_flags() | OFlags::NOFOLLOW, Mode::empty()) {
        Ok(fd) => read_capped(fd, path, max).map(Some),
        Err(Errno::NOENT) => Ok(None),
        Err(Errno::LOOP) => Err(ReadError::Symlink {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(io_err("opening", path)(e)),
    }
}

/// fstat (regular file, size within `max`), then a read that stops after `max + 1` bytes in
/// case the file grows meanwhile. Returns the bytes and the permission bits.
fn read_capped(fd: OwnedFd, path: &Path, max: u64) -> Result<(Vec<u8>, u32), ReadError> {
    let st = rustix::fs::fstat(&fd).map_err(io_err("inspecting", path))?;
    let kind = match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => None,
        FileType::Directory => Some("directory"),
        FileType::Symlink => Some("symbolic link"),
        FileType::Fifo => Some("FIFO"),
        FileType::Socket => Some("socket"),
        FileType::CharacterDevice => Some("character device"),
        FileType::BlockDevice => Some("block device"),
        FileType::Unknown => Some("file of unknown type"),
    };
    if let Some(kind) = kind {
        return Err(ReadError::NotRegular {
            path: path.to_path_buf(),
            kind,
        });
    }
    let size = u64::try_from(st.st_size).unwrap_or(u64::MAX);
    let too_large = |size| ReadError::TooLarge {
        path: path.to_path_buf(),
        size,
        max,
    };
    if size > max {
        return Err(too_large(size));
    }
    let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    File::from(fd)
        .take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|source| ReadError::Io {
            action: "reading",
            path: path.to_path_buf(),
            source,
        })?;
    if buf.len() as u64 > max {
        return Err(too_large(buf.len() as u64));
    }
    Ok((buf, st.st_mode & 0o7777))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beneath_refuses_links_devices_and_oversize() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("ok"), b"hi").unwrap();
        assert_eq!(
            read_beneath(d.path(), "ok", 16).unwrap().as_deref(),
            Some(&b"hi"[..])
        );
        assert!(read_beneath(d.path(), "absent", 16).unwrap().is_none());
        std::os::unix::fs::symlink("/dev/zero", d.path().join("zero")).unwrap();
        let e = read_beneath(d.path(), "zero", 16).unwrap_err();
        assert!(matches!(e, ReadError::Symlink { .. }), "{e}");
        assert!(e.to_string().contains("is a symbolic link"), "{e}");
        std::fs::create_dir(d.path().join("sub")).unwrap();
        let e = read_beneath(d.path(), "sub", 16).unwrap_err();
        assert!(
            matches!(
                e,
                ReadError::NotRegular {
                    kind: "directory",
                    ..
                }
            ),
            "{e}"
        );
        let e = read_beneath(d.path(), "../etc/passwd", 1 << 20).unwrap_err();
        assert!(matches!(e, ReadError::Escapes { .. }), "{e}");
        std::fs::write(d.path().join("big"), vec![b'x'; 17]).unwrap();
        let e = read_beneath(d.path(), "big", 16).unwrap_err();
        assert!(
            matches!(
                e,
                ReadError::TooLarge {
                    size: 17,
                    max: 16,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn beneath_does_not_block_on_a_fifo() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &p,
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let e = read_beneath(d.path(), "fifo", 16).unwrap_err();
        assert!(
            matches!(e, ReadError::NotRegular { kind: "FIFO", .. }),
            "{e}"
        );
    }

    #[test]
    fn nofollow_refuses_a_symlink_in_the_last_component() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("real"), b"secret").unwrap();
        std::os::unix::fs::symlink(d.path().join("real"), d.path().join("link")).unwrap();
        let e = read_nofollow(&d.path().join("link"), 64).unwrap_err();
        assert!(matches!(e, ReadError::Symlink { .. }), "{e}");
        assert_eq!(
            read_nofollow(&d.path().join("real"), 64)
                .unwrap()
                .as_deref(),
            Some(&b"secret"[..])
        );
    }
}
