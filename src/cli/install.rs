//! `kateskit install`: the live system writes the raw image to a disk, config included. The
//! library chooses and checks the disk; this prompts (unless told not to) and prints. With no
//! target given on a terminal, the guided session (`install_guided`) asks for one.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use kateskit::disk::DiskEnv;
use kateskit::image::flash::Overlay;
use kateskit::install::{self, TargetRequest};

use super::install_source::InstallImage;

#[derive(Debug, Args)]
pub struct InstallCmd {
    /// Whole disk to install to, e.g. /dev/disk/by-id/nvme-...; optional when the node config
    /// sets install_disk (then it must be that disk).
    #[arg(long)]
    pub device: Option<PathBuf>,
    /// Raw disk image to install; default: $KATESKIT_INSTALL_IMAGE, else
    /// /etc/kateskit/install.img (the live image links it there).
    #[arg(long, value_name = "FILE")]
    pub image: Option<PathBuf>,
    /// Stream the raw image from this http(s) URL straight onto the disk (a netbooted
    /// machine has no room for a local copy); needs --image-sha256.
    #[arg(
        long,
        value_name = "URL",
        conflicts_with = "image",
        requires = "image_sha256"
    )]
    pub image_url: Option<String>,
    /// SHA-256 (64 hex digits) the image at --image-url must have; checked before the disk
    /// gets a partition table.
    #[arg(long, value_name = "HEX", requires = "image_url")]
    pub image_sha256: Option<String>,
    /// The image's zero map (http(s) URL; `netboot serve` serves one at /zeros/NAME): chunks
    /// it marks all zeros are written as zeros, not downloaded. Still verified by the SHA-256.
    #[arg(long, value_name = "URL", requires = "image_url")]
    pub image_zeros: Option<String>,
    /// Seconds a connect or read of --image-url may stall before that connection counts as
    /// dropped (and resumes, within 5 connections).
    #[arg(long, value_name = "SECS", default_value_t = 60, hide = true)]
    pub image_timeout: u64,
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
    /// Write the disk although this machine booted in legacy BIOS mode (the installed system
    /// boots only by UEFI: for a disk that will start on a UEFI machine).
    #[arg(long)]
    pub allow_bios_firmware: bool,
    /// Take the disk and the wipe serial from the boot request: kateskit.install.device= and
    /// kateskit.install.wipe= (and kateskit.install.image_url= with
    /// kateskit.install.image_sha256=) on the kernel command line or stamped into the boot
    /// medium (the installer unit's path).
    #[arg(long, conflicts_with_all = ["device", "wipe_data"])]
    pub boot_request: bool,
    /// Only answer whether the boot requests an install, as a unit's ExecCondition: `install`
    /// exits 0 when one is requested, `live` when none is; otherwise 1 (255 when it cannot
    /// tell). Writes nothing.
    #[arg(long, value_name = "UNIT", conflicts_with_all = ["device", "wipe_data", "boot_request", "node_config", "yes", "unattended"])]
    pub request_check: Option<RequestCheck>,
    /// Leave the firmware's boot entries alone (by default a UEFI install adds a "KatesKit"
    /// entry for the disk and sets BootNext to it).
    #[arg(long)]
    pub no_boot_entry: bool,
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

/// Which unit asks `--request-check`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RequestCheck {
    /// kateskit-install: run when an install is requested.
    Install,
    /// The live system's agent and join: run when none is.
    Live,
}

impl InstallCmd {
    pub fn run(mut self) -> anyhow::Result<ExitCode> {
        let live: Vec<PathBuf> = kateskit::agent::ladder::embed::EMBED_PATHS
            .iter()
            .map(|rel| self.root.join(rel))
            .collect();
        let cmdline = kateskit::agent::AgentEnv::from_env().cmdline;
        if let Some(which) = self.request_check {
            let found = install::request::read(&cmdline, &live);
            let check = match which {
                RequestCheck::Install => install::request::Check::Install,
                RequestCheck::Live => install::request::Check::Live,
            };
            let (code, why) = install::request::condition(check, &found);
            eprintln!("kateskit: {why}");
            return Ok(ExitCode::from(code));
        }
        if self.boot_request {
            let found = install::request::read(&cmdline, &live);
            let r = match (found.request, found.area_error) {
                (Some(r), _) => r,
                (None, Some(e)) => anyhow::bail!("cannot read the boot request: {e}"),
                (None, None) => anyhow::bail!(
                    "--boot-request: no kateskit.install.device= on the kernel command line or \
                     stamped into the boot medium; boot with \
                     kateskit.install.device=/dev/disk/by-id/<disk> (or =auto for the node's \
                     install_disk)"
                ),
            };
            if let Some(e) = found.image_error {
                anyhow::bail!("cannot install: {e}");
            }
            super::note!("install requested by {}", r.from);
            self.device = r.device.map(PathBuf::from);
            self.wipe_data = r.wipe;
            if let Some(i) = r.image {
                if let Some(img) = &self.image {
                    anyhow::bail!(
                        "--image {} and kateskit.install.image_url= ({}) both name the image; drop one",
                        img.display(),
                        r.from
                    );
                }
                self.image_url = Some(i.url);
                self.image_sha256 = Some(i.sha256);
                self.image_zeros = i.zeros;
            }
        }
        // Before any question or disk check: a BIOS boot cannot start what is written.
        let uefi = install::firmware::check(&self.root, self.allow_bios_firmware)?;
        let image = self.open_image()?;
        let (image_len, offset) = (image.len(), image.embed_offset()?);
        let esp = image.esp_partition();
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
        let shown = image.shown();
        let prepared = image.prepare(&chosen)?;
        if let Some(g) = &guided {
            super::install_guided::confirm(g, &prepared)?;
        }
        let given = chosen.target.given.clone();
        let canonical = chosen.target.canonical.clone();
        super::flash::confirm_and_write(
            prepared,
            &shown,
            &given,
            self.yes || self.unattended || guided.is_some(),
            Some(Overlay::new(offset, cfg.area)),
        )?;
        if uefi && !self.no_boot_entry {
            self.boot_entry(esp, &canonical);
        } else if !uefi {
            super::note!(
                "warning: no boot entry set (this machine booted by BIOS); the disk boots only on \
                 UEFI firmware"
            );
        }
        super::note!("installed; remove the install medium and reboot");
        Ok(ExitCode::SUCCESS)
    }

    /// Adds the boot entry and BootNext; a failure is a warning naming the manual command,
    /// since the disk itself is installed.
    fn boot_entry(&self, esp: Result<u32, String>, disk: &std::path::Path) {
        let part = match esp {
            Ok(p) => p,
            Err(e) => {
                super::note!("warning: no boot entry set: {e}");
                return;
            }
        };
        let cmd: Vec<String> = kateskit::hooks::var(kateskit::hooks::EFIBOOTMGR)
            .unwrap_or_else(|| "efibootmgr".into())
            .split_whitespace()
            .map(str::to_string)
            .collect();
        match install::firmware::set_boot_entry(&cmd, disk, part) {
            Ok(num) => super::note!(
                "boot entry Boot{num} ({}) set for {}; BootNext={num}",
                install::firmware::ENTRY_LABEL,
                disk.display()
            ),
            Err(e) => super::note!(
                "warning: the disk is installed, but its boot entry was not set ({e}); a machine \
                 that boots the network or USB first will start the installer again. Set it by \
                 hand: {}",
                install::firmware::manual_command(disk, part)
            ),
        }
    }

    /// The local image file, or the image at --image-url (its size and first MiB read).
    fn open_image(&self) -> anyhow::Result<InstallImage> {
        match (&self.image_url, &self.image_sha256) {
            (Some(url), Some(hex)) => InstallImage::url(
                url,
                hex,
                self.image_zeros.as_deref(),
                std::time::Duration::from_secs(self.image_timeout.max(1)),
            ),
            // The variable is read here, not by clap, so a live system that sets it can still
            // be given --image-url.
            _ => InstallImage::file(&self.image.clone().unwrap_or_else(|| {
                std::env::var_os("KATESKIT_INSTALL_IMAGE")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("/etc/kateskit/install.img"))
            })),
        }
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
