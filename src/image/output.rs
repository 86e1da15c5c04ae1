//! May a command put its output file at a path? Shared by every command that writes an image
//! file by renaming a finished temporary over it (`image customize -o`, `image pull`).

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{} exists; pass --force to overwrite it", .0.display())]
    Exists(PathBuf),
    #[error("{} exists and is not a regular file (a device node, directory or link); --force replaces only image files. To write an image to a disk use `kateskit flash IMAGE DEVICE`", .0.display())]
    NotRegular(PathBuf),
}

/// Refuses an existing output without `force`, and anything but a regular file even with it:
/// renaming over a device node would replace the node, never write the disk.
pub fn check(dst: &Path, force: bool) -> Result<(), OutputError> {
    match dst.symlink_metadata() {
        Ok(m) if !m.file_type().is_file() => Err(OutputError::NotRegular(dst.to_path_buf())),
        Ok(_) if !force => Err(OutputError::Exists(dst.to_path_buf())),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_missing_or_forced_regular_files_may_be_replaced() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("a.img");
        assert!(check(&f, false).is_ok());
        std::fs::write(&f, b"x").unwrap();
        assert!(matches!(check(&f, false), Err(OutputError::Exists(_))));
        assert!(check(&f, true).is_ok());
        assert!(matches!(
            check(d.path(), true),
            Err(OutputError::NotRegular(_))
        ));
        assert!(matches!(
            check(Path::new("/dev/null"), true),
            Err(OutputError::NotRegular(_))
        ));
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert!(matches!(
            check(&link, true),
            Err(OutputError::NotRegular(_))
        ));
    }
}
