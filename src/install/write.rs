//! Writing an image to a whole disk, shared by `kateskit flash` and `kateskit install`: open the
//! image, open and lock the disk (every check of [`crate::disk::open_resolved`]), check that the
//! image's GPT suits the disk's sector size, say what is on the disk now; then, once the caller
//! has its confirmation, flash with read-back verification and re-read the partitions. The
//! image is a local file or, for a netbooted machine, a URL streamed onto the disk
//! ([`crate::image::flash_url`]).

use std::fs::File;
use std::path::{Path, PathBuf};

use indicatif::ProgressBar;

use super::{Chosen, InstallError};
use crate::disk::{self, Content, Target, WritableDisk};
use crate::image::flash::{self, FlashOptions, Overlay};
use crate::image::flash_url::UrlImage;
use crate::image::ImageSource;

/// Where the image comes from.
#[derive(Debug)]
enum Source {
    File(File),
    Url(Box<UrlImage>),
}

/// An image and a locked disk, ready to be written once the caller confirmed.
#[derive(Debug)]
pub struct Prepared {
    image: Source,
    /// The file's path, or the URL redacted, for messages.
    image_path: PathBuf,
    image_len: u64,
    disk: WritableDisk,
    on_it: String,
    content: Option<Content>,
}

/// What a completed write did.
#[derive(Debug, Clone)]
pub struct WriteReport {
    pub device: PathBuf,
    pub bytes: u64,
    pub sha256: String,
    /// Set when the kernel could not re-read the new partition table yet.
    pub reread_warning: Option<String>,
}

/// Opens `image_path` and the disk `target` and runs every check that needs no confirmation.
pub fn prepare(image_path: &Path, target: &Target) -> Result<Prepared, InstallError> {
    let read_err = |source| InstallError::Read {
        path: image_path.display().to_string(),
        source,
    };
    let image = File::open(image_path).map_err(read_err)?;
    let image_len = image.metadata().map_err(read_err)?.len();
    if image_len == 0 {
        return Err(InstallError::EmptyImage(image_path.to_path_buf()));
    }
    let (disk, on_it, content) = open_disk(&image, image_len, image_path, target)?;
    Ok(Prepared {
        image: Source::File(image),
        image_path: image_path.to_path_buf(),
        image_len,
        disk,
        on_it,
        content,
    })
}

/// [`prepare`] for an image on an HTTP(S) server, its GPT read from the first MiB.
pub fn prepare_url(image: UrlImage, chosen: &Chosen) -> Result<Prepared, InstallError> {
    let shown = PathBuf::from(crate::redact::url(image.url()).to_string());
    let (disk, on_it, content) = open_disk(&image.head(), image.len(), &shown, &chosen.target)?;
    let p = Prepared {
        image_len: image.len(),
        image: Source::Url(Box::new(image)),
        image_path: shown,
        disk,
        on_it,
        content,
    };
    p.check_unchanged(chosen)
}

/// Opens and locks the disk, checks the image's sector size against it, says what is on it.
fn open_disk<S: ImageSource + ?Sized>(
    image: &S,
    image_len: u64,
    image_path: &Path,
    target: &Target,
) -> Result<(WritableDisk, String, Option<Content>), InstallError> {
    let disk = disk::open_resolved(target, image_len).map_err(|source| InstallError::Disk {
        device: target.given.clone(),
        source,
    })?;
    // A GPT made for 512-byte sectors is unreadable on a 4Kn disk (and the reverse).
    if let Some(image_ss) = crate::image::gpt::detect(image) {
        let disk_ss = rustix::fs::ioctl_blksszget(disk.file()).map_err(|e| InstallError::Disk {
            device: disk.canonical().to_path_buf(),
            source: disk::DiskError::Ioctl {
                device: disk.canonical().to_path_buf(),
                op: "BLKSSZGET",
                source: e.into(),
            },
        })?;
        if u64::from(disk_ss) != image_ss {
            return Err(InstallError::SectorSize {
                image: image_path.to_path_buf(),
                device: disk.canonical().to_path_buf(),
                image_ss,
                disk_ss,
            });
        }
    }
    let opts = disk::ClassifyOptions {
        min_size: image_len,
        ..Default::default()
    };
    let (on_it, content) = match disk::classify_with(disk.canonical(), &opts) {
        Ok(c) => (c.to_string(), Some(c.content)),
        Err(e) => (format!("(could not classify: {e})"), None),
    };
    Ok((disk, on_it, content))
}

/// [`prepare`] for a disk chosen by [`super::choose`]: once the disk is locked its content must
/// still be what the choice was based on.
pub fn prepare_chosen(image_path: &Path, chosen: &Chosen) -> Result<Prepared, InstallError> {
    prepare(image_path, &chosen.target)?.check_unchanged(chosen)
}

impl Prepared {
    /// Once the disk is locked its content must still be what the choice was based on.
    fn check_unchanged(self, chosen: &Chosen) -> Result<Prepared, InstallError> {
        let p = self;
        if p.content.as_ref() != Some(&chosen.classification.content) {
            return Err(InstallError::Target {
            device: chosen.target.given.display().to_string(),
            reason: format!(
                "its content changed while it was being checked (was {}, now {}); run install again",
                chosen.classification.content, p.on_it
            ),
        });
        }
        Ok(p)
    }

    /// The device node being written.
    pub fn canonical(&self) -> &Path {
        self.disk.canonical()
    }

    pub fn image_len(&self) -> u64 {
        self.image_len
    }

    /// One line saying what the disk holds now (for the confirmation prompt).
    pub fn on_it(&self) -> &str {
        &self.on_it
    }

    /// Writes the image (with `overlay` stamped on the way), verifies it, re-reads partitions.
    pub fn write(
        self,
        overlay: Option<Overlay>,
        progress: Option<ProgressBar>,
    ) -> Result<WriteReport, InstallError> {
        let mut opts = FlashOptions::from_env(progress);
        opts.overlay = overlay;
        let (file, size) = (self.disk.file(), self.disk.size());
        let report = match self.image {
            Source::File(image) => {
                flash::flash(&image, file, size, &opts).map_err(|source| InstallError::Flash {
                    image: self.image_path.clone(),
                    device: self.disk.canonical().to_path_buf(),
                    source,
                })?
            }
            Source::Url(image) => {
                image
                    .flash(file, size, &opts)
                    .map_err(|source| InstallError::UrlFlash {
                        device: self.disk.canonical().to_path_buf(),
                        source,
                    })?
            }
        };
        let reread_warning =
            self.disk.reread_partitions().err().map(|e| {
                format!("{e}; the kernel will see the new partitions after replug or reboot")
            });
        Ok(WriteReport {
            device: self.disk.canonical().to_path_buf(),
            bytes: report.bytes,
            sha256: report.sha256,
            reread_warning,
        })
    }
}
