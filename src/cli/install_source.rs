//! The image `kateskit install` writes: the live image's local file, or a URL streamed onto the
//! disk (`--image-url` with `--image-sha256`). Either way the embed offset and the ESP come
//! from the image's own GPT, read before any disk is touched.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use kateskit::image::flash_url::{UrlImage, UrlOptions};
use kateskit::install::{self, Chosen, Prepared};

pub enum InstallImage {
    File { file: File, path: PathBuf, len: u64 },
    Url(Box<UrlImage>),
}

impl InstallImage {
    pub fn file(path: &Path) -> anyhow::Result<InstallImage> {
        let file = File::open(path).with_context(|| {
            format!(
                "opening the install image {}; pass --image or set KATESKIT_INSTALL_IMAGE (or stream one: --image-url URL --image-sha256 HEX)",
                path.display()
            )
        })?;
        let len = file
            .metadata()
            .with_context(|| format!("reading size of {}", path.display()))?
            .len();
        Ok(InstallImage::File {
            file,
            path: path.to_path_buf(),
            len,
        })
    }

    /// `timeout`: a connect or read stalled this long fails that connection.
    /// `zeros`: the zero map's URL.
    pub fn url(
        url: &str,
        sha256_hex: &str,
        zeros: Option<&str>,
        timeout: Duration,
    ) -> anyhow::Result<InstallImage> {
        let sha = kateskit::image::pull::parse_sha256(sha256_hex)?;
        super::note!(
            "install image: {} (sha256 {sha})",
            kateskit::redact::url(url)
        );
        let image = UrlImage::open(
            url,
            &sha,
            zeros,
            &UrlOptions {
                timeout,
                ..UrlOptions::default()
            },
        )
        .context(
            "reading the install image's size and GPT (nothing was written); check the URL \
             (--image-url or kateskit.install.image_url=) and that its server is up",
        )?;
        if let Some(z) = zeros {
            super::note!(
                "zero map: {} marks {} of {} bytes as zeros; whole chunks of them are written, not downloaded",
                kateskit::redact::url(z),
                image.zero_bytes(),
                image.len()
            );
        }
        Ok(InstallImage::Url(Box::new(image)))
    }

    pub fn len(&self) -> u64 {
        match self {
            InstallImage::File { len, .. } => *len,
            InstallImage::Url(u) => u.len(),
        }
    }

    /// The path, or the URL without credentials, for messages.
    pub fn shown(&self) -> PathBuf {
        match self {
            InstallImage::File { path, .. } => path.clone(),
            InstallImage::Url(u) => PathBuf::from(kateskit::redact::url(u.url()).to_string()),
        }
    }

    pub fn embed_offset(&self) -> Result<u64, install::InstallError> {
        match self {
            InstallImage::File { file, path, .. } => install::embed_offset(file, path),
            InstallImage::Url(u) => {
                install::embed_offset_in(&u.head(), &self.shown().display().to_string())
            }
        }
    }

    /// The ESP's partition number (for the boot entry), or why there is none.
    pub fn esp_partition(&self) -> Result<u32, String> {
        match self {
            InstallImage::File { file, path, .. } => install::firmware::esp_partition(file, path),
            InstallImage::Url(u) => {
                install::firmware::esp_partition_in(&u.head(), &self.shown().display().to_string())
            }
        }
    }

    pub fn prepare(self, chosen: &Chosen) -> Result<Prepared, install::InstallError> {
        match self {
            InstallImage::File { path, .. } => install::prepare_chosen(&path, chosen),
            InstallImage::Url(u) => install::prepare_url(*u, chosen),
        }
    }
}
