//! `kateskit install`: writes the generic raw disk image to a disk and carries the node's
//! configuration into the installed disk's embed partition in the same pass, so the disk is
//! never bootable without it.
//!
//! The configuration is, in order: a NodeConfig file given on the command line, or the embed
//! area of the medium the live system booted from (config and stamped kernel arguments,
//! re-encoded for the 1 MiB partition), or nothing (the installed node then takes its config
//! from a config drive, the kernel command line or `kateskit.config_url`).

mod answers;
mod candidates;
pub mod firmware;
pub mod request;
mod request_image;
mod scan;
mod target;
mod write;

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::disk::DiskError;
use crate::image::{self, embed, flash::FlashError, CarrierKind};
use crate::nodecfg::NodeConfig;

pub use answers::{
    check_hostname, check_server_url, check_ssh_key, check_token, parse_role, ssh_keys_from_file,
    AnswerError, Answers,
};
pub use candidates::{candidates, pick, Candidate};
pub use scan::DiskFacts;
pub use target::{choose, Chosen, TargetRequest};
pub use write::{prepare, prepare_chosen, prepare_url, Prepared, WriteReport};

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid NodeConfig: {reason}")]
    BadConfig { path: String, reason: String },
    #[error("{path}: {source}; restamp the boot medium or pass --node-config")]
    Embed {
        path: String,
        source: embed::EmbedError,
    },
    #[error("{path}: {source}")]
    Locate {
        path: String,
        source: image::LocateError,
    },
    #[error("{path} carries its embed area as {kind}; install needs the raw disk image (GPT with a KATESKIT-EMBED partition), not the ISO")]
    NotRaw { path: String, kind: CarrierKind },
    #[error("{} is empty; nothing to write", .0.display())]
    EmptyImage(PathBuf),
    #[error("checking {} before writing", device.display())]
    Disk {
        device: PathBuf,
        #[source]
        source: DiskError,
    },
    #[error("{} has a GPT for {image_ss}-byte sectors but {} uses {disk_ss}-byte sectors; the disk would not boot. Use an image built for {disk_ss}-byte sectors", image.display(), device.display())]
    SectorSize {
        image: PathBuf,
        device: PathBuf,
        image_ss: u64,
        disk_ss: u32,
    },
    #[error("writing {} to {} failed; its first MiB was zeroed so it will not boot half-written", image.display(), device.display())]
    Flash {
        image: PathBuf,
        device: PathBuf,
        #[source]
        source: FlashError,
    },
    #[error("installing to {} failed; its partition tables were wiped so it will not boot half-written", device.display())]
    UrlFlash {
        device: PathBuf,
        source: crate::image::flash_url::UrlFlashError,
    },
    #[error("refusing {device}: {reason}")]
    Target { device: String, reason: String },
    #[error("{0}")]
    NoTarget(String),
    #[error("this machine booted in legacy BIOS mode (no /sys/firmware/efi), but the installed system boots only by UEFI: the disk would not start here. Switch the firmware to UEFI boot (setup utility: boot mode UEFI, CSM/legacy boot off), boot this medium again and rerun; or pass --allow-bios-firmware to write the disk anyway (for a disk that will boot on a UEFI machine)")]
    BiosFirmware,
}

/// The embed area for the installed disk, where its content came from, and the NodeConfig it
/// carries (which names the install disk and the OSD disks install must not touch).
#[derive(Debug)]
pub struct ConfigArea {
    pub area: Vec<u8>,
    pub from: String,
    pub config: Option<NodeConfig>,
}

/// Builds the 1 MiB area from `--node-config`, else from the first stamped embed area among
/// `live_areas` (paths the agent reads), else an empty (pristine) area.
pub fn config_area(
    node_config: Option<&Path>,
    live_areas: &[std::path::PathBuf],
) -> Result<ConfigArea, InstallError> {
    let build = |json: Option<&str>, kargs: &[String], path: &str| {
        embed::build_area(embed::GPT_AREA_SIZE, json, kargs).map_err(|source| InstallError::Embed {
            path: path.to_string(),
            source,
        })
    };
    if let Some(p) = node_config {
        let path = p.display().to_string();
        let text = std::fs::read_to_string(p).map_err(|source| InstallError::Read {
            path: path.clone(),
            source,
        })?;
        let config = NodeConfig::from_json(&text).map_err(|reason| InstallError::BadConfig {
            path: path.clone(),
            reason,
        })?;
        let area = build(Some(&text), &[], &path)?;
        return Ok(ConfigArea {
            area,
            from: path,
            config: Some(config),
        });
    }
    for p in live_areas.iter().filter(|p| p.exists()) {
        let path = p.display().to_string();
        match embed::read_path(p) {
            Ok(None) => continue,
            Ok(Some(e)) => {
                let config = match e.node_config_json.as_deref() {
                    Some(text) => Some(NodeConfig::from_json(text).map_err(|reason| {
                        InstallError::BadConfig {
                            path: path.clone(),
                            reason,
                        }
                    })?),
                    None => None,
                };
                let area = build(e.node_config_json.as_deref(), &e.kargs, &path)?;
                return Ok(ConfigArea {
                    area,
                    from: path,
                    config,
                });
            }
            Err(source) => return Err(InstallError::Embed { path, source }),
        }
    }
    Ok(ConfigArea {
        area: vec![0; embed::GPT_AREA_SIZE],
        from: "none (pristine area)".into(),
        config: None,
    })
}

impl ConfigArea {
    /// Nothing stamped: no NodeConfig and no kernel arguments (the generic live medium).
    pub fn is_pristine(&self) -> bool {
        self.config.is_none() && self.area.iter().all(|b| *b == 0)
    }
}

/// The area for the answers of a guided install: their config layer, no kernel arguments.
pub fn guided_area(answers: &Answers) -> Result<ConfigArea, InstallError> {
    let json = answers.layer().to_string();
    let area = embed::build_area(embed::GPT_AREA_SIZE, Some(&json), &[]).map_err(|source| {
        InstallError::Embed {
            path: "the guided session's answers".into(),
            source,
        }
    })?;
    Ok(ConfigArea {
        area,
        from: "the guided session's answers".into(),
        config: None,
    })
}

/// Where the raw image keeps its embed partition, checked to be the GPT carrier.
pub fn embed_offset(image_file: &File, image_path: &Path) -> Result<u64, InstallError> {
    embed_offset_in(image_file, &image_path.display().to_string())
}

/// [`embed_offset`] over any source: a file, or the first MiB of an image being downloaded
/// ([`crate::image::flash_url::Head`]), where the GPT and its entries are.
pub fn embed_offset_in<S: image::ImageSource + ?Sized>(
    src: &S,
    name: &str,
) -> Result<u64, InstallError> {
    let path = name.to_string();
    let c = image::locate_in(src).map_err(|source| InstallError::Locate {
        path: path.clone(),
        source,
    })?;
    if c.kind != CarrierKind::Gpt {
        return Err(InstallError::NotRaw { path, kind: c.kind });
    }
    Ok(c.extent.offset)
}
