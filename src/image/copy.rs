//! Copying an image before stamping it. The copy must be on disk before it gets its final name
//! (a crash must never leave a renamed but half-written image), so the choice of method is about
//! making that durable copy cheap: a reflink where the filesystem shares extents (instant); direct
//! I/O on local filesystems (one pass to the disk, nothing left to flush); `copy_file_range` on
//! network filesystems, where the server may copy without the data crossing the wire; plain
//! read/write when nothing else works. The copy goes to a temp name beside the destination and is
//! renamed into place only when complete and synced.

use std::fs::File;
use std::io;
use std::path::Path;

use indicatif::ProgressBar;
use tempfile::NamedTempFile;

use super::copy_direct;

/// How the bytes were copied (logged, and reported by `customize -o`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyMethod {
    Reflink,
    DirectIo,
    CopyFileRange,
    ReadWrite,
}

impl std::fmt::Display for CopyMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CopyMethod::Reflink => "reflink",
            CopyMethod::DirectIo => "direct I/O",
            CopyMethod::CopyFileRange => "copy_file_range",
            CopyMethod::ReadWrite => "read/write",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Output(#[from] super::output::OutputError),
    #[error("{action} {}: {error}", path.display())]
    Io {
        action: &'static str,
        path: std::path::PathBuf,
        error: io::Error,
    },
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> CopyError + 'a {
    move |error| CopyError::Io {
        action,
        path: path.to_path_buf(),
        error,
    }
}

/// Filesystems where `copy_file_range` may be done by the server (NFS 4.2, SMB, Ceph, FUSE).
fn offloads_copies(f: &File) -> bool {
    const NFS: u32 = 0x6969;
    const SMB2: u32 = 0xFE53_4D42;
    const CIFS: u32 = 0xFF53_4D42;
    const CEPH: u32 = 0x00C3_6400;
    const FUSE: u32 = 0x6573_5546;
    rustix::fs::fstatfs(f)
        .map(|st| [NFS, SMB2, CIFS, CEPH, FUSE].contains(&(st.f_type as u32)))
        .unwrap_or(false)
}

/// Copies all of `src` into the empty file `dst`, with the first method that works
/// in the order given in the module docs; `only` forces one method (tests).
pub fn copy_file(
    src: &File,
    dst: &File,
    only: Option<CopyMethod>,
    progress: Option<&ProgressBar>,
) -> io::Result<CopyMethod> {
    let len = src.metadata()?.len();
    let wants = |m| only.is_none_or(|o| o == m);
    if wants(CopyMethod::Reflink) && rustix::fs::ioctl_ficlone(dst, src).is_ok() {
        return Ok(CopyMethod::Reflink);
    }
    let _ = rustix::fs::fadvise(src, 0, 0, rustix::fs::Advice::Sequential);
    if wants(CopyMethod::DirectIo) && (only.is_some() || !offloads_copies(dst)) {
        // Not every filesystem takes O_DIRECT (EINVAL at open or at the first write); any such
        // refusal falls through to the buffered methods, which overwrite from byte 0.
        let direct = copy_direct::reopen_direct(dst)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL));
        match direct
            .and_then(|d| copy_direct::copy(src, &d, dst, len, copy_direct::CHUNK, progress))
        {
            Ok(()) => return Ok(CopyMethod::DirectIo),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && only.is_none() => {
                tracing::debug!("direct I/O refused ({e}); copying through the page cache");
            }
            Err(e) => return Err(e),
        }
    }
    if wants(CopyMethod::CopyFileRange) && copy_range(src, dst, len, progress)? {
        return Ok(CopyMethod::CopyFileRange);
    }
    if only.is_some_and(|o| o != CopyMethod::ReadWrite) {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{} is not supported here", only.expect("checked")),
        ));
    }
    let (mut r, mut w) = (src, dst);
    io::Seek::seek(&mut r, io::SeekFrom::Start(0))?;
    io::Seek::seek(&mut w, io::SeekFrom::Start(0))?;
    io::copy(&mut r, &mut w)?;
    Ok(CopyMethod::ReadWrite)
}

/// `copy_file_range` in chunks (so progress moves); `Ok(false)` when the kernel or filesystem
/// does not offer it for these files.
fn copy_range(
    src: &File,
    dst: &File,
    len: u64,
    progress: Option<&ProgressBar>,
) -> io::Result<bool> {
    const CHUNK: u64 = 64 << 20;
    let mut done = 0u64;
    while done < len {
        let want = (len - done).min(CHUNK) as usize;
        let (mut off_in, mut off_out) = (done, done);
        match rustix::fs::copy_file_range(src, Some(&mut off_in), dst, Some(&mut off_out), want) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("source shrank while copying ({done} of {len} bytes)"),
                ))
            }
            Ok(n) => done += n as u64,
            Err(
                rustix::io::Errno::XDEV
                | rustix::io::Errno::NOSYS
                | rustix::io::Errno::INVAL
                | rustix::io::Errno::OPNOTSUPP,
            ) if done == 0 => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        if let Some(pb) = progress {
            pb.set_position(done);
        }
    }
    Ok(true)
}

/// Copies `src` to a temp file beside `dst`, lets `edit` change the copy, then fsyncs and renames
/// it to `dst`. Without `force` an existing `dst` is never replaced (checked before copying, and
/// again atomically at the rename).
pub fn copy_edit_persist<E>(
    src: &Path,
    dst: &Path,
    force: bool,
    progress: Option<&ProgressBar>,
    edit: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<CopyMethod, E>
where
    E: From<CopyError>,
{
    super::output::check(dst, force).map_err(CopyError::from)?;
    let dir = dst
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let input = File::open(src).map_err(io_err("opening", src))?;
    let tmp = tempfile::Builder::new()
        .prefix(".kateskit-image")
        .tempfile_in(dir)
        .map_err(io_err("creating temp file in", dir))?;
    let len = input
        .metadata()
        .map_err(io_err("reading size of", src))?
        .len();
    if let Some(pb) = progress {
        pb.set_length(len);
    }
    let method =
        copy_file(&input, tmp.as_file(), None, progress).map_err(io_err("copying", src))?;
    tracing::info!(?method, src = %src.display(), "copied image");
    edit(tmp.path())?;
    tmp.as_file()
        .sync_all()
        .map_err(io_err("syncing", tmp.path()))?;
    persist(tmp, dst, force)?;
    crate::fsutil::sync_dir(dir).map_err(|e| CopyError::Io {
        action: "syncing directory",
        path: dir.to_path_buf(),
        error: e.source,
    })?;
    Ok(method)
}

fn persist(tmp: NamedTempFile, dst: &Path, force: bool) -> Result<(), CopyError> {
    let r = if force {
        tmp.persist(dst).map(drop)
    } else {
        tmp.persist_noclobber(dst).map(drop)
    };
    r.map_err(|e| {
        if e.error.kind() == io::ErrorKind::AlreadyExists {
            CopyError::Output(super::output::OutputError::Exists(dst.to_path_buf()))
        } else {
            CopyError::Io {
                action: "renaming into place",
                path: dst.to_path_buf(),
                error: e.error,
            }
        }
    })
}
