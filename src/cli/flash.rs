//! `kateskit flash IMAGE DEVICE`: the library checks and locks the disk, this asks for
//! confirmation, shows progress and prints the result.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use kateskit::image::flash::Overlay;
use kateskit::install::{self, Prepared};

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
        let target = kateskit::disk::resolve(&self.device)
            .with_context(|| format!("checking {} before writing", self.device.display()))?;
        let prepared = install::prepare(&self.image, &target)?;
        confirm_and_write(prepared, &self.image, &self.device, self.yes, None)?;
        Ok(ExitCode::SUCCESS)
    }
}

/// Shows the target, asks unless `yes`, writes with a progress bar and prints the result.
pub fn confirm_and_write(
    prepared: Prepared,
    image: &Path,
    device: &Path,
    yes: bool,
    overlay: Option<Overlay>,
) -> anyhow::Result<()> {
    super::note!("target: {}", prepared.canonical().display());
    super::note!("on it now: {}", prepared.on_it());
    if !yes {
        confirm(image, device, prepared.canonical(), prepared.image_len())?;
    }
    let pb = super::progress_bar(prepared.image_len() * 2, "writing");
    let lines = journal_lines(&pb);
    let report = prepared.write(overlay, Some(pb.clone()));
    pb.finish_and_clear();
    if let Some(t) = lines {
        let _ = t.join();
    }
    let report = report?;
    if let Some(w) = &report.reread_warning {
        tracing::warn!("{w}");
    }
    super::note!(
        "{}: wrote {} bytes from {}, sha256 {} verified",
        report.device.display(),
        report.bytes,
        image.display(),
        report.sha256
    );
    Ok(())
}

/// Without a terminal (the installer unit's journal) the bar is not drawn: a plain line every
/// 15 s says how far the write is instead.
fn journal_lines(pb: &indicatif::ProgressBar) -> Option<std::thread::JoinHandle<()>> {
    if std::io::stderr().is_terminal() {
        return None;
    }
    let pb = pb.clone();
    Some(std::thread::spawn(move || {
        let step = std::time::Duration::from_millis(250);
        let mut waited = std::time::Duration::ZERO;
        while !pb.is_finished() {
            std::thread::sleep(step);
            waited += step;
            if waited >= std::time::Duration::from_secs(15) {
                waited = std::time::Duration::ZERO;
                let (pos, len) = (pb.position(), pb.length().unwrap_or(0).max(1));
                super::note!(
                    "{}: {} of {} MiB ({}%)",
                    pb.message(),
                    pos >> 20,
                    len >> 20,
                    pos * 100 / len
                );
            }
        }
    }))
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
