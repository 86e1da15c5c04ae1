//! Which disk `kateskit install` may write, decided the way the agent decides about OSD disks:
//! from the node's `install_disk` (a by-id path, or match rules over the machine's whole disks)
//! and a `--device`, which must agree; never a disk listed in `osd_disks`; never a disk with
//! content unless the operator names that disk's serial; unattended, never a kernel name
//! (`/dev/sda` differs between boots and between machines of a rack).

use std::path::{Path, PathBuf};

use super::scan::{describe_rules, whole_disks, DiskFacts};
use super::InstallError;
use crate::disk::{self, Classification, ClassifyOptions, Content, DiskEnv, Target};
use crate::spec::{DiskSelector, OsdDisk};

/// What install was asked to do.
#[derive(Debug)]
pub struct TargetRequest<'a> {
    /// `--device`, as given.
    pub device: Option<&'a Path>,
    /// `node.install_disk` of the NodeConfig.
    pub install_disk: Option<&'a DiskSelector>,
    /// `storage.osd_disks` of the NodeConfig.
    pub osd_disks: &'a [OsdDisk],
    /// `--wipe-data SERIAL`: consent to overwrite a disk that is not blank.
    pub wipe_data: Option<&'a str>,
    /// No prompt follows: stable device names only.
    pub unattended: bool,
    /// Where `/dev` and the udev database are (stand-ins in tests).
    pub env: &'a DiskEnv,
    /// The image's size: smaller disks are refused.
    pub min_size: u64,
}

/// The disk install will write, and why.
#[derive(Debug)]
pub struct Chosen {
    pub target: Target,
    /// How it was chosen (`--device`, `install_disk.by_id`, match rules).
    pub how: String,
    pub classification: Classification,
}

fn refuse(device: &Path, reason: impl Into<String>) -> InstallError {
    InstallError::Target {
        device: device.display().to_string(),
        reason: reason.into(),
    }
}

fn resolve(given: &Path) -> Result<Target, InstallError> {
    disk::resolve(given).map_err(|source| InstallError::Disk {
        device: given.to_path_buf(),
        source,
    })
}

/// A stable name: a `/dev/disk/by-id/` or `/dev/disk/by-path/` link.
fn is_stable_name(p: &Path) -> bool {
    ["/dev/disk/by-id/", "/dev/disk/by-path/"]
        .iter()
        .any(|pre| p.starts_with(pre) && p.components().all(|c| c.as_os_str() != ".."))
}

/// Chooses and checks the target; see the module docs. Reads only.
pub fn choose(req: &TargetRequest) -> Result<Chosen, InstallError> {
    let dev_dir = &req.env.dev_dir;
    if let (Some(d), true) = (req.device, req.unattended) {
        if !is_stable_name(d) {
            return Err(refuse(d, "an unattended install takes only a /dev/disk/by-id/ or /dev/disk/by-path/ name (kernel names like /dev/sda differ between boots and machines); boot with kateskit.install.device=/dev/disk/by-id/<disk> or set install_disk in cluster.toml"));
        }
    }
    let given = req
        .device
        .map(|d| disk::device_path(&d.to_string_lossy(), dev_dir));
    let (target, how) = match (req.install_disk, &given) {
        (Some(sel), _) => {
            let (t, how) = from_selector(sel, req.env)?;
            if let Some(g) = &given {
                let d = resolve(g)?;
                if (d.major, d.minor) != (t.major, t.minor) {
                    return Err(refuse(
                        req.device.expect("given"),
                        format!(
                            "it is {} but the node's install_disk ({how}) is {}; drop --device or correct install_disk",
                            d.canonical.display(),
                            t.canonical.display()
                        ),
                    ));
                }
            }
            (t, how)
        }
        (None, Some(g)) => (resolve(g)?, "--device".to_string()),
        (None, None) => {
            return Err(InstallError::NoTarget(
                "no install target: pass --device /dev/disk/by-id/<disk>, or set install_disk for this node in cluster.toml".into(),
            ))
        }
    };
    let shown = req
        .device
        .map(Path::to_path_buf)
        .unwrap_or_else(|| target.given.clone());
    for osd in req.osd_disks {
        let p = disk::device_path(&osd.by_id, dev_dir);
        if let Ok(o) = disk::resolve(&p) {
            if (o.major, o.minor) == (target.major, target.minor) {
                return Err(refuse(&shown, format!("it is the OSD disk {} of this node (storage.osd_disks); install to another disk", osd.by_id)));
            }
        }
    }
    let opts = ClassifyOptions {
        min_size: req.min_size,
        udev_data_dir: req.env.udev_data_dir.clone(),
        ..Default::default()
    };
    let c = disk::classify_with(&target.given, &opts).map_err(|source| InstallError::Disk {
        device: shown.clone(),
        source,
    })?;
    check_content(&c, &shown, req.wipe_data)?;
    Ok(Chosen {
        target,
        how,
        classification: c,
    })
}

/// A blank disk is fine; anything else only with its serial given as `--wipe-data`.
pub fn check_content(
    c: &Classification,
    shown: &Path,
    wipe_data: Option<&str>,
) -> Result<(), InstallError> {
    if c.content == Content::Blank {
        return Ok(());
    }
    let dev = c.canonical.display();
    match (&c.serial, wipe_data) {
        (None, _) => Err(refuse(shown, format!("it holds {} and has no serial number, so it cannot be confirmed with --wipe-data; if its data is not needed, clear it by hand (wipefs --all {dev}) and run install again", c.content))),
        (Some(_), None) => Err(refuse(shown, format!("it holds {}; to overwrite it pass --wipe-data with the disk's serial (lsblk -o NAME,SERIAL {dev}), or boot with kateskit.install.wipe=<serial>", c.content))),
        (Some(s), Some(w)) if s == w.trim() => Ok(()),
        (Some(s), Some(w)) => Err(refuse(shown, format!("it holds {}; --wipe-data {w} does not match its serial {s}", c.content))),
    }
}

/// The disk a selector names: by_id directly, or the one whole disk that matches every rule.
fn from_selector(sel: &DiskSelector, env: &DiskEnv) -> Result<(Target, String), InstallError> {
    if let Some(id) = &sel.by_id {
        let t = resolve(&disk::device_path(id, &env.dev_dir))?;
        return Ok((t, format!("install_disk.by_id {id}")));
    }
    let disks = whole_disks(&env.udev_data_dir);
    let matching: Vec<&DiskFacts> = disks.iter().filter(|d| d.matches(sel)).collect();
    let rules = describe_rules(sel);
    match matching.as_slice() {
        [one] => {
            let t = resolve(&PathBuf::from(format!("/dev/{}", one.name)))?;
            Ok((t, format!("install_disk rules ({rules})")))
        }
        many => {
            let list = |ds: &[&DiskFacts]| {
                ds.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            let all: Vec<&DiskFacts> = disks.iter().collect();
            Err(InstallError::NoTarget(if many.is_empty() {
                format!(
                    "no disk matches install_disk ({rules}); disks here: {}",
                    list(&all)
                )
            } else {
                format!("{} disks match install_disk ({rules}): {}; make the rules select one (serial, or by_id)", many.len(), list(many))
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_by_id_and_by_path_names_are_stable() {
        assert!(is_stable_name(Path::new("/dev/disk/by-id/nvme-X")));
        assert!(is_stable_name(Path::new(
            "/dev/disk/by-path/pci-0000:00:1f.2-ata-1"
        )));
        assert!(!is_stable_name(Path::new("/dev/sda")));
        assert!(!is_stable_name(Path::new("/dev/nvme0n1")));
        assert!(!is_stable_name(Path::new("/dev/disk/by-id/../../sda")));
        assert!(!is_stable_name(Path::new("/dev/disk/by-label/root")));
    }
}
