//! Lists a flat config tree's files: every directory opened with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, hidden names skipped, bounded in entries
//! and depth.

use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::input::{TreeSource, MAX_DEPTH, MAX_ENTRIES};
use super::FlatError;
use crate::fsutil::ReadError;

fn open_dir(base: &Path, rel: &str, shown: &str) -> Result<Option<OwnedFd>, FlatError> {
    let err = |source| FlatError::Read {
        file: shown.to_string(),
        source,
    };
    let io = |action, e: Errno| {
        err(ReadError::Io {
            action,
            path: base.join(rel),
            source: e.into(),
        })
    };
    let bfd = match rustix::fs::open(
        base,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(None),
        Err(e) => return Err(io("opening directory", e)),
    };
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    match rustix::fs::openat2(&bfd, rel, flags, Mode::empty(), resolve) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::NOENT) => Ok(None),
        Err(Errno::LOOP) => Err(err(ReadError::Symlink {
            path: base.join(rel),
        })),
        Err(Errno::NOTDIR) => Err(err(ReadError::NotRegular {
            path: base.join(rel),
            kind: "file where a directory was expected",
        })),
        Err(e) => Err(io("opening directory", e)),
    }
}

/// The tree's regular files, as relative name segments, sorted; None when it is absent.
pub fn list(src: &TreeSource) -> Result<Option<Vec<Vec<String>>>, FlatError> {
    let mut files = Vec::new();
    let mut stack: Vec<Vec<String>> = vec![Vec::new()];
    let mut entries = 0usize;
    while let Some(segs) = stack.pop() {
        let rel = std::iter::once(src.dir.to_string())
            .chain(segs.iter().cloned())
            .collect::<Vec<_>>()
            .join("/");
        let shown = shown_file(src, &segs);
        let Some(fd) = open_dir(src.base, &rel, &shown)? else {
            if segs.is_empty() {
                return Ok(None);
            }
            continue;
        };
        let dir = rustix::fs::Dir::read_from(&fd).map_err(|e| FlatError::Read {
            file: shown.clone(),
            source: ReadError::Io {
                action: "listing",
                path: src.base.join(&rel),
                source: e.into(),
            },
        })?;
        for entry in dir {
            let entry = entry.map_err(|e| FlatError::Read {
                file: shown.clone(),
                source: ReadError::Io {
                    action: "listing",
                    path: src.base.join(&rel),
                    source: e.into(),
                },
            })?;
            let Ok(name) = entry.file_name().to_str().map(str::to_string) else {
                return Err(FlatError::BadName {
                    file: format!("{shown}/{}", entry.file_name().to_string_lossy()),
                    why: "the file name is not UTF-8".into(),
                });
            };
            // `.`, `..`, and hidden files (editors' swap files, `.keep`): never a key, as a
            // key's leading `.` is written `%2E`.
            if name.starts_with('.') {
                continue;
            }
            entries += 1;
            if entries > MAX_ENTRIES {
                return Err(FlatError::TooMany {
                    dir: src.shown.clone(),
                    max: MAX_ENTRIES,
                });
            }
            let mut child = segs.clone();
            child.push(name.clone());
            let mut ft = entry.file_type();
            if ft == FileType::Unknown {
                ft = rustix::fs::statat(&fd, name.as_str(), AtFlags::SYMLINK_NOFOLLOW)
                    .map(|st| FileType::from_raw_mode(st.st_mode))
                    .unwrap_or(FileType::Unknown);
            }
            match ft {
                FileType::Directory if child.len() > MAX_DEPTH => {
                    return Err(FlatError::TooDeep {
                        file: shown_file(src, &child),
                        max: MAX_DEPTH,
                    })
                }
                FileType::Directory => stack.push(child),
                // Links and special files are refused when opened, with the reason.
                _ => files.push(child),
            }
        }
    }
    files.sort();
    Ok(Some(files))
}

pub fn shown_file(src: &TreeSource, segs: &[String]) -> String {
    std::iter::once(src.shown.clone())
        .chain(segs.iter().cloned())
        .collect::<Vec<_>>()
        .join("/")
}
