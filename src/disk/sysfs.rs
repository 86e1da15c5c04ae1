//! Block device topology from sysfs: kernel names, partitions, holders, slaves, sizes, serials.
//!
//! Everything here is read-only. Paths are the kernel's (`/sys/class/block`, `/sys/dev/block`);
//! the udev database directory is a parameter so a test can point it at a stand-in.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

const CLASS_BLOCK: &str = "/sys/class/block";
const DEV_BLOCK: &str = "/sys/dev/block";

/// The udev database of the running system (`b<major>:<minor>` files with `E:KEY=value` lines).
pub const UDEV_DATA_DIR: &str = "/run/udev/data";

/// Splits a `dev_t` into major and minor numbers.
pub fn split_devno(rdev: u64) -> (u32, u32) {
    (
        libc::major(rdev as libc::dev_t),
        libc::minor(rdev as libc::dev_t),
    )
}

fn class_dir(name: &str) -> PathBuf {
    Path::new(CLASS_BLOCK).join(name)
}

/// Kernel name (`sda1`, `loop3`, `dm-0`) of the block device with this device number.
pub fn name_of(major: u32, minor: u32) -> io::Result<String> {
    let link = fs::read_link(Path::new(DEV_BLOCK).join(format!("{major}:{minor}")))?;
    link.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "sysfs link without a name"))
}

/// Device number of a kernel block device name, from `/sys/class/block/<name>/dev`.
pub fn devno_of(name: &str) -> io::Result<(u32, u32)> {
    let text = fs::read_to_string(class_dir(name).join("dev"))?;
    parse_devno(text.trim()).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad dev number {text:?}"),
        )
    })
}

/// Parses `major:minor`.
pub fn parse_devno(text: &str) -> Option<(u32, u32)> {
    let (a, b) = text.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// True when the named device is a partition of another block device.
pub fn is_partition(name: &str) -> bool {
    class_dir(name).join("partition").exists()
}

/// The whole disk a device belongs to: the parent of a partition, else the device itself.
pub fn whole_disk(name: &str) -> io::Result<String> {
    if !is_partition(name) {
        return Ok(name.to_string());
    }
    let real = fs::canonicalize(class_dir(name))?;
    real.parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("partition {name} without parent"),
            )
        })
}

fn list_dir(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// Partitions of a whole disk as the kernel currently knows them.
pub fn partitions(name: &str) -> Vec<String> {
    let dir = class_dir(name);
    list_dir(&dir)
        .into_iter()
        .filter(|child| dir.join(child).join("partition").exists())
        .collect()
}

/// Devices stacked on top of this one (device-mapper, md, bcache).
pub fn holders(name: &str) -> Vec<String> {
    list_dir(&class_dir(name).join("holders"))
}

/// Devices this one is stacked on (the reverse of `holders`).
pub fn slaves(name: &str) -> Vec<String> {
    list_dir(&class_dir(name).join("slaves"))
}

fn read_trimmed(path: &Path) -> Option<String> {
    fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Says what a holder is, so a refusal can tell the operator what to tear down.
pub fn describe_holder(name: &str) -> String {
    let dir = class_dir(name);
    if name.starts_with("dm-") {
        let dm_name = read_trimmed(&dir.join("dm/name")).unwrap_or_else(|| name.to_string());
        let uuid = read_trimmed(&dir.join("dm/uuid")).unwrap_or_default();
        let kind = if uuid.starts_with("LVM-") {
            "LVM logical volume"
        } else if uuid.starts_with("CRYPT-") {
            "dm-crypt mapping"
        } else if uuid.starts_with("mpath-") {
            "multipath map"
        } else {
            "device-mapper device"
        };
        format!("{kind} {dm_name} ({name})")
    } else if name.starts_with("md") {
        format!("md RAID array {name}")
    } else {
        format!("block device {name}")
    }
}

/// Size in bytes as sysfs reports it (512-byte sectors regardless of the logical block size).
pub fn size_bytes(name: &str) -> Option<u64> {
    read_trimmed(&class_dir(name).join("size"))?
        .parse::<u64>()
        .ok()
        .map(|s| s * 512)
}

/// Every whole disk underneath a device, following device-mapper and md slaves down.
pub fn backing_disks(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![name.to_string()];
    let mut seen = 0;
    while let Some(dev) = stack.pop() {
        seen += 1;
        if seen > 256 {
            break; // a cycle would be a kernel bug; never loop forever on it
        }
        let below = slaves(&dev);
        if below.is_empty() {
            let disk = whole_disk(&dev).unwrap_or(dev);
            if !out.contains(&disk) {
                out.push(disk);
            }
        } else {
            stack.extend(below);
        }
    }
    out
}

/// The disk's serial number: udev's `ID_SERIAL_SHORT`/`ID_SERIAL`, else what sysfs exposes
/// (`device/serial` on NVMe and virtio, `serial` on some drivers).
pub fn serial(name: &str, udev_data_dir: &Path) -> Option<String> {
    if let Ok((major, minor)) = devno_of(name) {
        if let Ok(db) = fs::read_to_string(udev_data_dir.join(format!("b{major}:{minor}"))) {
            for key in ["ID_SERIAL_SHORT", "ID_SERIAL"] {
                if let Some(v) = udev_property(&db, key) {
                    return Some(v);
                }
            }
        }
    }
    let dir = class_dir(name);
    read_trimmed(&dir.join("device/serial")).or_else(|| read_trimmed(&dir.join("serial")))
}

/// Looks up `E:KEY=value` in a udev database entry.
pub fn udev_property(db: &str, key: &str) -> Option<String> {
    db.lines()
        .filter_map(|l| l.strip_prefix("E:"))
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_devno_and_udev_properties() {
        assert_eq!(parse_devno("259:3"), Some((259, 3)));
        assert_eq!(parse_devno("259"), None);
        assert_eq!(parse_devno("a:1"), None);
        let db = "S:disk/by-id/ata-X\nE:ID_SERIAL=WDC_WD40_ABC123\nE:ID_SERIAL_SHORT=ABC123\n";
        assert_eq!(
            udev_property(db, "ID_SERIAL_SHORT").as_deref(),
            Some("ABC123")
        );
        assert_eq!(
            udev_property(db, "ID_SERIAL").as_deref(),
            Some("WDC_WD40_ABC123")
        );
        assert_eq!(udev_property(db, "ID_MODEL"), None);
    }

    #[test]
    fn splits_device_numbers_like_the_kernel() {
        let rdev = libc::makedev(259, 70000);
        assert_eq!(split_devno(rdev), (259, 70000));
    }
}
