//! `kateskit install`: the live system writes the raw image to a disk, config included.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use kateskit::install;

#[derive(Debug, Args)]
pub struct InstallCmd {
    /// Whole disk to install to, e.g. /dev/disk/by-id/nvme-... (checked first: not mounted,
    /// not in use, not the running system's disk, large enough).
    #[arg(long)]
    pub device: PathBuf,
    /// Raw disk image to install (the live image links it here).
    #[arg(
        long,
        env = "KATESKIT_INSTALL_IMAGE",
        default_value = "/etc/kateskit/install.img"
    )]
    pub image: PathBuf,
    /// NodeConfig JSON to stamp into the installed disk; default: the embed area of the
    /// medium this live system booted from.
    #[arg(long, value_name = "FILE")]
    pub node_config: Option<PathBuf>,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Root under which the live system's embed areas are looked up.
    #[arg(long, env = "KATESKIT_ROOT", default_value = "/", hide = true)]
    pub root: PathBuf,
}

impl InstallCmd {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let image = std::fs::File::open(&self.image).with_context(|| {
            format!(
                "opening the install image {}; pass --image or set KATESKIT_INSTALL_IMAGE",
                self.image.display()
            )
        })?;
        let offset = install::embed_offset(&image, &self.image)?;
        let live: Vec<PathBuf> = kateskit::agent::sources::EMBED_PATHS
            .iter()
            .map(|rel| self.root.join(rel))
            .collect();
        let cfg = install::config_area(self.node_config.as_deref(), &live)?;
        super::note!("node config for the installed disk: {}", cfg.from);
        super::flash::write_to_device(
            &self.image,
            &self.device,
            self.yes,
            Some((offset, cfg.area)),
        )?;
        super::note!("installed; remove the install medium and reboot");
        Ok(ExitCode::SUCCESS)
    }
}
