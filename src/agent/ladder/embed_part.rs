//! Which `KATESKIT-EMBED` partition is this node's: the one with the PARTUUID the image
//! recorded at build time, else the one on the disk that holds `/`. udev's
//! `/dev/disk/by-partlabel/KATESKIT-EMBED` names whichever partition it saw last, so with two
//! KatesKit disks in a machine it could be the other disk's; it is never used.
//!
//! Partitions are found through sysfs (`<root>/sys/class/block/*/uevent`, `PARTNAME=`), the
//! disk of each is its parent directory in sysfs, and the root disk is the parent of the
//! device behind the root filesystem (`/sys/dev/block/MAJ:MIN`).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::agent::AgentEnv;
use crate::image::gpt::EMBED_PART_NAME;

/// One partition labelled `KATESKIT-EMBED`.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Kernel name (`sda2`).
    pub name: String,
    /// Kernel name of the disk holding it (`sda`).
    pub disk: String,
    /// Its device node under the device directory.
    pub dev: PathBuf,
}

/// The chosen partition, and whether it is on the root disk.
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    /// The PARTUUID the image recorded, or the one on the root disk.
    Own(Candidate, String),
    /// Not on the root disk: the only one there is (read on the first boot only).
    Foreign(Candidate),
    None,
}

fn uevent(dir: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(dir.join("uevent"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Every partition whose GPT name is `KATESKIT-EMBED`, sorted by kernel name.
pub fn candidates(env: &AgentEnv) -> Vec<Candidate> {
    let class = env.path("sys/class/block");
    let Ok(rd) = std::fs::read_dir(&class) else {
        return Vec::new();
    };
    let mut out: Vec<Candidate> = rd
        .flatten()
        .filter_map(|e| {
            let dir = std::fs::canonicalize(e.path()).ok()?;
            let ev = uevent(&dir);
            let get = |k: &str| ev.iter().find(|(ek, _)| ek == k).map(|(_, v)| v.clone());
            if get("PARTNAME").as_deref() != Some(EMBED_PART_NAME) {
                return None;
            }
            let name = get("DEVNAME").unwrap_or_else(|| e.file_name().to_string_lossy().into());
            let disk = dir.parent()?.file_name()?.to_string_lossy().into_owned();
            Some(Candidate {
                dev: env.dev(&name),
                name,
                disk,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// `major:minor` of the device holding the root filesystem. Filesystems with anonymous
/// device numbers (btrfs, overlay) on the real root are looked up in `/proc/self/mountinfo`.
fn root_devno(env: &AgentEnv) -> Option<(u64, u64)> {
    let dev = std::fs::metadata(&env.root).ok()?.dev();
    let (maj, min) = (rustix::fs::major(dev) as u64, rustix::fs::minor(dev) as u64);
    if maj != 0 || env.root != Path::new("/") {
        return Some((maj, min));
    }
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    // Fields: id parent maj:min root mountpoint opts ... - fstype source superopts.
    let src = info
        .lines()
        .filter(|l| l.split(' ').nth(4) == Some("/"))
        .filter_map(|l| l.split(" - ").nth(1)?.split(' ').nth(1).map(str::to_string))
        .next_back()
        .filter(|s| s.starts_with("/dev/"))?;
    let rdev = std::fs::metadata(&src).ok()?.rdev();
    Some((
        rustix::fs::major(rdev) as u64,
        rustix::fs::minor(rdev) as u64,
    ))
}

/// Kernel name of the disk holding `/` (the partition's parent in sysfs; a whole-disk
/// filesystem is its own disk). A device-mapper root (LVM, LUKS) with a single underlying
/// device is followed through `slaves/` to it.
pub fn root_disk(env: &AgentEnv) -> Option<String> {
    let (maj, min) = root_devno(env)?;
    let mut dir = std::fs::canonicalize(env.path(format!("sys/dev/block/{maj}:{min}"))).ok()?;
    for _ in 0..8 {
        let below: Vec<PathBuf> = std::fs::read_dir(dir.join("slaves"))
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        match below.as_slice() {
            [one] => dir = std::fs::canonicalize(one).ok()?,
            _ => break,
        }
    }
    if dir.join("partition").exists() {
        dir.parent()?
            .file_name()
            .map(|n| n.to_string_lossy().into())
    } else {
        dir.file_name().map(|n| n.to_string_lossy().into())
    }
}

/// The partition whose PARTUUID is `uuid`, through udev's by-partuuid link (unique by nature).
fn by_partuuid(env: &AgentEnv, uuid: &str, cands: &[Candidate]) -> Option<Candidate> {
    let link = env.dev(&format!("disk/by-partuuid/{}", uuid.to_ascii_lowercase()));
    let target = std::fs::canonicalize(link).ok()?;
    let name = target.file_name()?.to_string_lossy().into_owned();
    cands.iter().find(|c| c.name == name).cloned()
}

/// Chooses this node's embed partition; the second value explains any partition not used.
pub fn choose(env: &AgentEnv, partuuid: Option<&str>) -> (Choice, Vec<String>) {
    let cands = candidates(env);
    let names = |cs: &[Candidate]| {
        cs.iter()
            .map(|c| format!("{} on {}", c.dev.display(), c.disk))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut notes = Vec::new();
    if let Some(uuid) = partuuid {
        return match by_partuuid(env, uuid, &cands) {
            Some(c) => (Choice::Own(c, format!("PARTUUID {uuid}")), notes),
            None => {
                if !cands.is_empty() {
                    notes.push(format!("embed partitions {} ignored: the image records PARTUUID {uuid} for its own, and none of them has it", names(&cands)));
                }
                (Choice::None, notes)
            }
        };
    }
    if cands.is_empty() {
        return (Choice::None, notes);
    }
    let root = root_disk(env);
    let (own, other): (Vec<Candidate>, Vec<Candidate>) = cands
        .iter()
        .cloned()
        .partition(|c| Some(&c.disk) == root.as_ref());
    let root_name = root.clone().unwrap_or_else(|| "(none found)".into());
    if !other.is_empty() && !own.is_empty() {
        notes.push(format!(
            "embed partitions {} ignored: not on the root disk {root_name}",
            names(&other)
        ));
    }
    match (own.as_slice(), other.as_slice()) {
        ([c], _) => (
            Choice::Own(c.clone(), format!("root disk {root_name}")),
            notes,
        ),
        ([], [c]) => (Choice::Foreign(c.clone()), notes),
        ([], many) => {
            notes.push(format!("embed partitions {} ignored: several, and none on the root disk {root_name}; record the image's PARTUUID or remove the other disks", names(many)));
            (Choice::None, notes)
        }
        (many, _) => {
            notes.push(format!("embed partitions {} ignored: several on the root disk {root_name}; keep one KATESKIT-EMBED partition per disk", names(many)));
            (Choice::None, notes)
        }
    }
}
