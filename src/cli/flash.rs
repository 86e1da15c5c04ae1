//! `kateskit flash IMAGE DEVICE`: preflight through the disk module, confirm, stream with the
//! first MiB last, verify by reading back.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use kateskit::disk;
use kateskit::image::flash::{self, FlashOptions};

#[derive(Debug, Args)]
pub struct FlashCmd {
    /// Image to write (ISO or raw disk image, stamped or generic).
    pub image: PathBuf,
    /// Whole disk to overwrite, e.g. /dev/disk/by-id/usb-... (resolved and checked first).
    pub device: PathBuf,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long)]
    pub yes: bool,
}

impl FlashCmd {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        write_to_device(&self.image, &self.device, self.yes, None)?;
        Ok(ExitCode::SUCCESS)
    }
}

/// Preflight, confirmation, streaming with the first MiB last, read-back verification;
/// `overlay` replaces image bytes on the way (install stamps the embed partition so).
pub fn write_to_device(
    image_path: &Path,
    device: &Path,
    yes: bool,
    overlay: Option<(u64, Vec<u8>)>,
) -> anyhow::Result<()> {
    let image = std::fs::File::open(image_path)
        .with_context(|| format!("opening {}", image_path.display()))?;
    let image_len = image
        .metadata()
        .with_context(|| format!("reading size of {}", image_path.display()))?
        .len();
    if image_len == 0 {
        bail!("{} is empty; nothing to write", image_path.display());
    }
    // Preflight first: refuse a mounted or busy device before asking anything.
    let target = disk::open_for_write(device, image_len)
        .with_context(|| format!("checking {} before writing", device.display()))?;
    // A GPT made for 512-byte sectors is unreadable on a 4Kn disk (and the reverse).
    if let Some(image_ss) = kateskit::image::gpt::detect(&image) {
        let disk_ss = rustix::fs::ioctl_blksszget(target.file())
            .with_context(|| format!("reading the sector size of {}", device.display()))?;
        if u64::from(disk_ss) != image_ss {
            bail!(
                "{} has a GPT for {image_ss}-byte sectors but {} uses {disk_ss}-byte sectors; \
                 the disk would not boot. Use an image built for {disk_ss}-byte sectors",
                image_path.display(),
                target.canonical().display()
            );
        }
    }
    let opts = disk::ClassifyOptions {
        min_size: image_len,
        ..Default::default()
    };
    let what = match disk::classify_with(device, &opts) {
        Ok(c) => c.to_string(),
        Err(e) => format!("(could not classify: {e})"),
    };
    super::note!("target: {}", target.canonical().display());
    super::note!("on it now: {what}");
    if !yes {
        confirm(image_path, device, target.canonical(), image_len)?;
    }
    let pb = super::progress_bar(image_len * 2, "writing");
    let mut opts = FlashOptions::from_env(Some(pb));
    opts.overlay = overlay;
    match flash::flash(&image, target.file(), target.size(), &opts) {
        Ok(report) => {
            if let Err(e) = target.reread_partitions() {
                tracing::warn!(
                    "{e}; the kernel will see the new partitions after replug or reboot"
                );
            }
            super::note!(
                "{}: wrote {} bytes from {}, sha256 {} verified",
                target.canonical().display(),
                report.bytes,
                image_path.display(),
                report.sha256
            );
            Ok(())
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!(
            "writing {} to {} failed; its first MiB was zeroed so it will not boot half-written",
            image_path.display(),
            target.canonical().display()
        ))),
    }
}

fn confirm(image: &Path, device: &Path, canonical: &Path, image_len: u64) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!(
            "refusing to overwrite {} without confirmation: stdin is not a terminal; pass --yes",
            canonical.display()
        );
    }
    eprint!(
        "Overwrite {} ({}) with {} ({image_len} bytes)? Everything on it is lost. Type 'yes': ",
        canonical.display(),
        device.display(),
        image.display()
    );
    std::io::stderr().flush().context("writing prompt")?;
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("reading confirmation")?;
    if line.trim() != "yes" {
        bail!("not confirmed; {} left untouched", canonical.display());
    }
    Ok(())
}
