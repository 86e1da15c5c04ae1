//! `kateskit install`: the live system writes the raw image to a disk, config included. The
//! library chooses and checks the disk; this prompts (unless told not to) and prints. With no
//! target given on a terminal, the guided session (`install_guided`) asks for one.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use kateskit::disk::DiskEnv;
use kateskit::image::flash::Overlay;
use kateskit::install::{self, TargetRequest};

#[derive(Debug, Args)]
pub struct InstallCmd {
    /// Whole disk to install to, e.g. /dev/disk/by-id/nvme-...; optional when the node config
    /// sets install_disk (then it must be that disk).
    #[arg(long)]
    pub device: Option<PathBuf>,
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
    /// Overwrite a disk that is not blank: the disk's serial number (lsblk -o NAME,SERIAL).
    #[arg(long, value_name = "SERIAL")]
    pub wipe_data: Option<String>,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Never prompt, and accept only /dev/disk/by-id/ or /dev/disk/by-path/ names (the
    /// installer's boot-time path).
    #[arg(long)]
    pub unattended: bool,
    /// Root under which the live system's embed areas are looked up.
    #[arg(long, default_value = "/", hide = true)]
    #[cfg_attr(feature = "test-hooks", arg(env = "KATESKIT_ROOT"))]
    pub root: PathBuf,
    /// Test hook: directory standing in for /dev when resolving disk names.
    #[arg(long, default_value = "/dev", hide = true)]
    #[cfg_attr(feature = "test-hooks", arg(env = "KATESKIT_DEV_DIR"))]
    pub dev_dir: PathBuf,
    /// Test hook: udev database directory used for serial numbers.
    #[arg(long, default_value = kateskit::disk::sysfs::UDEV_DATA_DIR, hide = true)]
    #[cfg_attr(feature = "test-hooks", arg(env = "KATESKIT_UDEV_DATA_DIR"))]
    pub udev_data_dir: PathBuf,
}

impl InstallCmd {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let image = std::fs::File::open(&self.image).with_context(|| {
            format!(
                "opening the install image {}; pass --image or set KATESKIT_INSTALL_IMAGE",
                self.image.display()
            )
        })?;
        let image_len = image
            .metadata()
            .with_context(|| format!("reading size of {}", self.image.display()))?
            .len();
        let offset = install::embed_offset(&image, &self.image)?;
        let live: Vec<PathBuf> = kateskit::agent::ladder::embed::EMBED_PATHS
            .iter()
            .map(|rel| self.root.join(rel))
            .collect();
        let mut cfg = install::config_area(self.node_config.as_deref(), &live)?;
        let env = DiskEnv {
            dev_dir: self.dev_dir.clone(),
            udev_data_dir: self.udev_data_dir.clone(),
            discard: false,
        };
        let guided = if self.wants_guided(&cfg) {
            let g = super::install_guided::ask(
                &env,
                image_len,
                self.wipe_data.as_deref(),
                cfg.is_pristine(),
            )?;
            if let Some(a) = &g.answers {
                cfg = install::guided_area(a)?;
            }
            Some(g)
        } else {
            None
        };
        super::note!("node config for the installed disk: {}", cfg.from);
        let node = cfg.config.as_ref();
        let device = guided
            .as_ref()
            .map(|g| g.device.as_path())
            .or(self.device.as_deref());
        let chosen = install::choose(&TargetRequest {
            device,
            install_disk: node.and_then(|c| c.node.install_disk.as_ref()),
            osd_disks: node.map(|c| c.storage.osd_disks.as_slice()).unwrap_or(&[]),
            wipe_data: self.wipe_data.as_deref(),
            unattended: self.unattended,
            env: &env,
            min_size: image_len,
        })?;
        super::note!(
            "install target: {} (chosen by {})",
            chosen.target.canonical.display(),
            if guided.is_some() {
                "the guided session"
            } else {
                &chosen.how
            }
        );
        let prepared = install::prepare_chosen(&self.image, &chosen)?;
        if let Some(g) = &guided {
            super::install_guided::confirm(g, &prepared)?;
        }
        let given = chosen.target.given.clone();
        super::flash::confirm_and_write(
            prepared,
            &self.image,
            &given,
            self.yes || self.unattended || guided.is_some(),
            Some(Overlay::new(offset, cfg.area)),
        )?;
        super::note!("installed; remove the install medium and reboot");
        Ok(ExitCode::SUCCESS)
    }

    /// The guided session runs when nothing names the target (no `--device`, no `install_disk`
    /// in the config), nothing forbids asking (`--yes`, `--unattended`), and stdin, stdout and
    /// stderr (where the questions go) are a terminal. Otherwise [`install::choose`]'s error
    /// names the flags.
    fn wants_guided(&self, cfg: &install::ConfigArea) -> bool {
        let install_disk = cfg
            .config
            .as_ref()
            .is_some_and(|c| c.node.install_disk.is_some());
        self.device.is_none()
            && !install_disk
            && !self.yes
            && !self.unattended
            && std::io::stdin().is_terminal()
            && std::io::stdout().is_terminal()
            && std::io::stderr().is_terminal()
    }
}
