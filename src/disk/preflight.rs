//! Is anything using this disk? Mounts (`/proc/self/mountinfo`, by device number), swap
//! (`/proc/swaps`), stacked devices (sysfs holders) and the disk the running system booted from.
//! Each check covers the disk and all of its partitions.

use std::fmt;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::Serialize;

use super::sysfs;

/// One way a disk (or one of its partitions) is in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DiskUse {
    Mounted { device: String, mountpoint: String },
    Swap { device: String },
    Held { device: String, holder: String },
}

impl fmt::Display for DiskUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiskUse::Mounted { device, mountpoint } => {
                write!(f, "{device} is mounted at {mountpoint}")
            }
            DiskUse::Swap { device } => write!(f, "{device} is active swap"),
            DiskUse::Held { device, holder } => write!(f, "{device} is held by {holder}"),
        }
    }
}

/// One line of mountinfo, reduced to what the checks need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub devno: (u32, u32),
    pub mountpoint: String,
    pub source: String,
}

/// Undoes the octal escapes (`\040` for space) the kernel uses in mountinfo and swaps.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (bytes[i + 1] - b'0') as u32 * 64
                + (bytes[i + 2] - b'0') as u32 * 8
                + (bytes[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `/proc/self/mountinfo` text; malformed lines are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let devno = sysfs::parse_devno(fields.get(2)?)?;
            let mountpoint = unescape(fields.get(4)?);
            let sep = fields.iter().position(|f| *f == "-")?;
            let source = unescape(fields.get(sep + 2)?);
            Some(MountEntry {
                devno,
                mountpoint,
                source,
            })
        })
        .collect()
}

/// Parses `/proc/swaps` into the swap device paths.
pub fn parse_swaps(text: &str) -> Vec<String> {
    text.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .map(unescape)
        .collect()
}

/// Device number behind a mount: the mountinfo field, or for filesystems that report an
/// anonymous device (major 0, e.g. btrfs) the `/dev/...` source itself.
fn mount_devno(m: &MountEntry) -> Option<(u32, u32)> {
    if m.devno.0 != 0 {
        return Some(m.devno);
    }
    if !m.source.starts_with("/dev/") {
        return None;
    }
    let meta = fs::metadata(&m.source).ok()?;
    use std::os::unix::fs::FileTypeExt;
    meta.file_type()
        .is_block_device()
        .then(|| sysfs::split_devno(meta.rdev()))
}

fn read_mounts() -> Vec<MountEntry> {
    parse_mountinfo(&fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
}

/// Everything that uses the named disk or any of its partitions. Empty means free.
pub fn uses(name: &str) -> Vec<DiskUse> {
    let mut members = vec![name.to_string()];
    members.extend(sysfs::partitions(name));
    let numbered: Vec<(String, (u32, u32))> = members
        .iter()
        .filter_map(|m| sysfs::devno_of(m).ok().map(|d| (m.clone(), d)))
        .collect();
    let mounts = read_mounts();
    let swaps = parse_swaps(&fs::read_to_string("/proc/swaps").unwrap_or_default());
    let mut out = Vec::new();
    for (member, devno) in &numbered {
        let device = format!("/dev/{member}");
        for m in mounts.iter().filter(|m| mount_devno(m) == Some(*devno)) {
            out.push(DiskUse::Mounted {
                device: device.clone(),
                mountpoint: m.mountpoint.clone(),
            });
        }
        for s in &swaps {
            let rdev = fs::metadata(s).ok().map(|md| sysfs::split_devno(md.rdev()));
            if rdev == Some(*devno) {
                out.push(DiskUse::Swap {
                    device: device.clone(),
                });
            }
        }
        for h in sysfs::holders(member) {
            out.push(DiskUse::Held {
                device: device.clone(),
                holder: sysfs::describe_holder(&h),
            });
        }
    }
    out
}

/// Mount points whose backing disk is "the running system's boot disk".
pub const BOOT_MOUNTPOINTS: &[&str] = &["/", "/boot", "/boot/efi", "/nix", "/nix/store"];

/// Whole disks backing the running system (`/`, `/boot`, ...), with the mount point that
/// made each one a boot disk. A live system on tmpfs/overlay has none.
pub fn boot_disks() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for m in read_mounts()
        .iter()
        .filter(|m| BOOT_MOUNTPOINTS.contains(&m.mountpoint.as_str()))
    {
        let Some((major, minor)) = mount_devno(m) else {
            continue;
        };
        let Ok(name) = sysfs::name_of(major, minor) else {
            continue;
        };
        for disk in sysfs::backing_disks(&name) {
            if !out.iter().any(|(d, _)| *d == disk) {
                out.push((disk, m.mountpoint.clone()));
            }
        }
    }
    out
}

/// Whether a path names a block device node.
pub fn is_block_device(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    fs::metadata(path)
        .map(|m| m.file_type().is_block_device())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
36 27 8:2 / /mnt/my\\040disk rw - xfs /dev/sda2 rw
40 27 0:45 / /srv rw - btrfs /dev/sdb1 rw
41 27 0:46 / /proc rw - proc proc rw
garbage line
";

    #[test]
    fn parses_mountinfo_with_escapes_and_anonymous_devices() {
        let m = parse_mountinfo(MOUNTINFO);
        assert_eq!(m.len(), 4);
        assert_eq!(
            m[0],
            MountEntry {
                devno: (254, 0),
                mountpoint: "/".into(),
                source: "/dev/vda".into()
            }
        );
        assert_eq!(m[1].mountpoint, "/mnt/my disk");
        assert_eq!(m[1].source, "/dev/sda2");
        assert_eq!(m[2].devno, (0, 45));
        assert_eq!(m[3].source, "proc");
    }

    #[test]
    fn parses_swaps() {
        let text = "Filename\tType\tSize\tUsed\tPriority\n/dev/sda3 partition 1 0 -2\n/swap\\040file file 4 0 -3\n";
        assert_eq!(
            parse_swaps(text),
            vec!["/dev/sda3".to_string(), "/swap file".to_string()]
        );
        assert!(parse_swaps("Filename Type Size Used Priority\n").is_empty());
    }

    #[test]
    fn describes_each_use_with_its_device() {
        let u = DiskUse::Held {
            device: "/dev/sdb".into(),
            holder: "LVM logical volume vg-data (dm-3)".into(),
        };
        assert_eq!(
            u.to_string(),
            "/dev/sdb is held by LVM logical volume vg-data (dm-3)"
        );
        let u = DiskUse::Mounted {
            device: "/dev/sdb1".into(),
            mountpoint: "/srv".into(),
        };
        assert_eq!(u.to_string(), "/dev/sdb1 is mounted at /srv");
    }
}
