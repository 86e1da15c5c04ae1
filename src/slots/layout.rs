//! The two-slot disk layout: ESP, the embed partition, two store slots (type
//! [`STORE_SLOT_TYPE`], GPT name `kateskit_<V>` or `_empty`) and the data partition mounted at
//! `/`. Finds the boot disk, reads its GPT and says which slot runs and which may be written.

use std::fs::File;
use std::path::{Path, PathBuf};

use uuid::Uuid;

use super::entry::PREFIX;
use super::version::Version;
use super::SlotsError;
use crate::image::gpt;

/// Partition type of a KatesKit store slot.
pub const STORE_SLOT_TYPE: Uuid = uuid::uuid!("1abe2ad4-1252-43fc-b3e0-5eec1c866266");
pub const ESP_TYPE: Uuid = crate::install::firmware::ESP_TYPE_GUID;
/// GPT name of a slot that holds no release (the systemd-sysupdate convention).
pub const EMPTY: &str = "_empty";

/// One store slot.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Slot {
    /// GPT partition number (1-based).
    pub index: u32,
    pub name: String,
    /// The version its name says it holds; `None` for `_empty`.
    pub version: Option<Version>,
    pub offset: u64,
    pub len: u64,
}

/// The boot disk's slots as its GPT describes them.
#[derive(Debug, Clone)]
pub struct Layout {
    pub disk: PathBuf,
    pub sector: u64,
    pub slots: [Slot; 2],
}

fn layout_err(disk: &Path, msg: String) -> SlotsError {
    SlotsError::Layout {
        disk: disk.to_path_buf(),
        msg,
    }
}

/// The version a slot name carries (`None` for `_empty`).
pub fn slot_version(name: &str) -> Result<Option<Version>, String> {
    if name == EMPTY {
        return Ok(None);
    }
    let v = name
        .strip_prefix(PREFIX)
        .ok_or_else(|| format!("slot name {name:?} is neither {EMPTY} nor {PREFIX}<VERSION>"))?;
    Version::parse(v).map(Some).map_err(|e| e.to_string())
}

impl Layout {
    /// Reads the GPT of `disk` (a whole-disk device or an image file).
    pub fn read(disk: &Path) -> Result<Layout, SlotsError> {
        let f = File::open(disk).map_err(|e| SlotsError::io("opening disk", disk, e))?;
        Self::read_file(disk, &f)
    }

    pub fn read_file(disk: &Path, f: &File) -> Result<Layout, SlotsError> {
        use std::io::{Seek, SeekFrom};
        let len = (&*f)
            .seek(SeekFrom::End(0))
            .map_err(|e| SlotsError::io("sizing disk", disk, e))?;
        let ss = gpt::detect(f).ok_or_else(|| {
            layout_err(disk, "has no GPT; the two-slot layout is a GPT disk".into())
        })?;
        let parts = gpt::partitions(f, len, ss).map_err(|e| layout_err(disk, e.to_string()))?;
        if !parts.iter().any(|p| p.type_guid == ESP_TYPE) {
            return Err(layout_err(disk, "has no EFI system partition".into()));
        }
        let mut slots = Vec::new();
        for p in parts.iter().filter(|p| p.type_guid == STORE_SLOT_TYPE) {
            let version = slot_version(&p.name)
                .map_err(|m| layout_err(disk, format!("partition {}: {m}", p.index)))?;
            slots.push(Slot {
                index: p.index,
                name: p.name.clone(),
                version,
                offset: p.first_lba * ss,
                len: (p.last_lba - p.first_lba + 1) * ss,
            });
        }
        let found = slots.len();
        let slots: [Slot; 2] = slots.try_into().map_err(|_| {
            layout_err(
                disk,
                format!(
                    "has {found} KatesKit store slots (partition type {STORE_SLOT_TYPE}); the \
                     two-slot layout has exactly 2. An image from before A/B upgrades (one root \
                     partition) cannot be upgraded in place: reinstall it from a current raw \
                     image to get upgrades"
                ),
            )
        })?;
        Ok(Layout {
            disk: disk.to_path_buf(),
            sector: ss,
            slots,
        })
    }

    /// The slot whose name holds `booted`.
    pub fn running(&self, booted: &Version) -> Result<&Slot, SlotsError> {
        self.slots
            .iter()
            .find(|s| s.version.as_ref() == Some(booted))
            .ok_or_else(|| {
                layout_err(
                    &self.disk,
                    format!(
                        "no store slot is named {PREFIX}{booted}, the booted version (slots: {}, {})",
                        self.slots[0].name, self.slots[1].name
                    ),
                )
            })
    }

    /// The slot that is not running `booted`: the one staging may overwrite.
    pub fn inactive(&self, booted: &Version) -> Result<&Slot, SlotsError> {
        let run = self.running(booted)?.index;
        Ok(self
            .slots
            .iter()
            .find(|s| s.index != run)
            .expect("two slots"))
    }
}

/// The whole disk holding the file system mounted at `/` (from /proc/self/mountinfo and
/// /sys/dev/block), as `/dev/NAME`.
pub fn boot_disk() -> Result<PathBuf, SlotsError> {
    let path = Path::new("/proc/self/mountinfo");
    let text = std::fs::read_to_string(path).map_err(|e| SlotsError::io("reading", path, e))?;
    let devno = root_devno(&text).ok_or_else(|| SlotsError::Layout {
        disk: path.to_path_buf(),
        msg: "no block device is mounted at /; pass --disk DEV".into(),
    })?;
    let name = crate::disk::sysfs::name_of(devno.0, devno.1)
        .and_then(|n| crate::disk::sysfs::whole_disk(&n))
        .map_err(|e| SlotsError::Layout {
            disk: PathBuf::from(format!("/sys/dev/block/{}:{}", devno.0, devno.1)),
            msg: format!(
                "the device mounted at / is not a known block device ({e}); pass --disk DEV"
            ),
        })?;
    Ok(PathBuf::from("/dev").join(name))
}

/// The `major:minor` of the last mount at `/` in a mountinfo text.
pub fn root_devno(mountinfo: &str) -> Option<(u32, u32)> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.get(4) == Some(&"/")).then(|| crate::disk::sysfs::parse_devno(f.get(2)?))?
        })
        .next_back()
        .filter(|&(major, _)| major != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_names() {
        assert_eq!(slot_version("_empty").unwrap(), None);
        assert_eq!(slot_version("kateskit_2").unwrap().unwrap().as_str(), "2");
        assert!(slot_version("nixos").is_err());
        assert!(slot_version("kateskit_2+1").is_err());
    }

    #[test]
    fn root_device_from_mountinfo() {
        let text = "22 1 0:21 / /proc rw - proc proc rw\n\
                    25 1 259:3 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p5 rw\n\
                    26 25 8:1 / /boot rw - vfat /dev/sda1 rw\n";
        assert_eq!(root_devno(text), Some((259, 3)));
        assert_eq!(root_devno("1 0 0:31 / / rw - tmpfs tmpfs rw\n"), None);
    }
}
