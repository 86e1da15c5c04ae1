//! Copying an image before stamping it: reflink when the filesystem can share extents (instant),
//! else `copy_file_range` (in-kernel, may be server-side on NFS), else plain read/write. The copy
//! goes to a temp name beside the destination and is renamed into place only when complete.

use std::fs::File;
use std::io;
use std::path::Path;

use tempfile::NamedTempFile;

/// How the bytes were copied (logged, and reported by `customize -o`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyMethod {
    Reflink,
    CopyFileRange,
    ReadWrite,
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("{} exists; pass --force to overwrite it", .0.display())]
    Exists(std::path::PathBuf),
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

const CHUNK: u64 = 64 << 20;

/// Starts (does not wait for) writeback of a byte range; a hint, so errors are ignored.
fn start_writeback(f: &File, offset: u64, len: u64) {
    use std::os::unix::io::AsRawFd;
    // SAFETY: sync_file_range only reads its integer arguments; the fd is open for `f`'s lifetime.
    unsafe {
        libc::sync_file_range(
            f.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

/// Copies all of `src` into `dst` (both open, `dst` empty).
pub fn copy_file(src: &File, dst: &File) -> io::Result<CopyMethod> {
    if rustix::fs::ioctl_ficlone(dst, src).is_ok() {
        return Ok(CopyMethod::Reflink);
    }
    let len = src.metadata()?.len();
    let mut done = 0u64;
    let mut method = CopyMethod::CopyFileRange;
    while done < len {
        // Chunks, each handed to writeback as soon as it is copied, so the fsync before the
        // rename finds most of the data already on its way to the disk.
        let want = (len - done).min(CHUNK) as usize;
        let (mut off_in, mut off_out) = (done, done);
        match rustix::fs::copy_file_range(src, Some(&mut off_in), dst, Some(&mut off_out), want) {
            Ok(0) => break,
            Ok(n) => {
                start_writeback(dst, done, n as u64);
                done += n as u64;
            }
            Err(e)
                if done == 0
                    && matches!(
                        e,
                        rustix::io::Errno::XDEV
                            | rustix::io::Errno::NOSYS
                            | rustix::io::Errno::INVAL
                            | rustix::io::Errno::OPNOTSUPP
                    ) =>
            {
                method = CopyMethod::ReadWrite;
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    if method == CopyMethod::ReadWrite {
        let (mut r, mut w) = (src, dst);
        io::copy(&mut r, &mut w)?;
    } else if done != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("source shrank while copying ({done} of {len} bytes)"),
        ));
    }
    Ok(method)
}

/// Copies `src` to a temp file beside `dst`, lets `edit` change the copy, then fsyncs and renames
/// it to `dst`. Without `force` an existing `dst` is never replaced (checked before copying, and
/// again atomically at the rename).
pub fn copy_edit_persist<E>(
    src: &Path,
    dst: &Path,
    force: bool,
    edit: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<CopyMethod, E>
where
    E: From<CopyError>,
{
    if !force && dst.symlink_metadata().is_ok() {
        return Err(CopyError::Exists(dst.to_path_buf()).into());
    }
    let dir = dst
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let input = File::open(src).map_err(io_err("opening", src))?;
    let tmp = tempfile::Builder::new()
        .prefix(".kateskit-image")
        .tempfile_in(dir)
        .map_err(io_err("creating temp file in", dir))?;
    let method = copy_file(&input, tmp.as_file()).map_err(io_err("copying", src))?;
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
            CopyError::Exists(dst.to_path_buf())
        } else {
            CopyError::Io {
                action: "renaming into place",
                path: dst.to_path_buf(),
                error: e.error,
            }
        }
    })
}
