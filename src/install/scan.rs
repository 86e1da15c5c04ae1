//! The machine's whole disks as `install_disk` match rules see them: size, model, serial.

use std::path::Path;

use crate::disk::sysfs;
use crate::spec::DiskSelector;

const GIB: u64 = 1 << 30;

pub(super) fn describe_rules(sel: &DiskSelector) -> String {
    let mut r = Vec::new();
    if let Some(v) = sel.min_size_gib {
        r.push(format!("min_size_gib {v}"));
    }
    if let Some(v) = sel.max_size_gib {
        r.push(format!("max_size_gib {v}"));
    }
    if let Some(v) = &sel.model {
        r.push(format!("model {v:?}"));
    }
    if let Some(v) = &sel.serial {
        r.push(format!("serial {v:?}"));
    }
    r.join(", ")
}

/// What the rules look at, for one whole disk.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskFacts {
    pub name: String,
    pub size: u64,
    pub model: Option<String>,
    pub serial: Option<String>,
}

impl DiskFacts {
    pub fn matches(&self, sel: &DiskSelector) -> bool {
        sel.min_size_gib.is_none_or(|g| self.size >= g * GIB)
            && sel.max_size_gib.is_none_or(|g| self.size <= g * GIB)
            && sel
                .model
                .as_ref()
                .is_none_or(|m| self.model.as_deref().map(str::trim) == Some(m.trim()))
            && sel
                .serial
                .as_ref()
                .is_none_or(|s| self.serial.as_deref() == Some(s.trim()))
    }
}

impl std::fmt::Display for DiskFacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "/dev/{} ({} GiB, model {}, serial {})",
            self.name,
            self.size / GIB,
            self.model.as_deref().unwrap_or("?"),
            self.serial.as_deref().unwrap_or("?")
        )
    }
}

/// Whole disks in /sys/block that can hold a system: not partitions, not RAM disks, not
/// stacked devices, not empty (detached loop devices, card readers without a card).
pub(super) fn whole_disks(udev_data_dir: &Path) -> Vec<DiskFacts> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/block")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .into_iter()
        .filter(|n| {
            !["ram", "zram", "dm-", "md", "sr", "nbd"]
                .iter()
                .any(|p| n.starts_with(p))
        })
        .filter_map(|name| {
            let size = sysfs::size_bytes(&name).filter(|s| *s > 0)?;
            let model = std::fs::read_to_string(format!("/sys/block/{name}/device/model"))
                .ok()
                .map(|m| m.trim().to_string())
                .filter(|m| !m.is_empty());
            let serial = sysfs::serial(&name, udev_data_dir);
            Some(DiskFacts {
                name,
                size,
                model,
                serial,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_size_model_and_serial() {
        let d = DiskFacts {
            name: "sda".into(),
            size: 500 * GIB,
            model: Some("Samsung SSD 870".into()),
            serial: Some("S6PN".into()),
        };
        let sel = |f: fn(&mut DiskSelector)| {
            let mut s = DiskSelector::default();
            f(&mut s);
            s
        };
        assert!(d.matches(&sel(|s| s.min_size_gib = Some(400))));
        assert!(!d.matches(&sel(|s| s.min_size_gib = Some(501))));
        assert!(d.matches(&sel(|s| s.max_size_gib = Some(500))));
        assert!(!d.matches(&sel(|s| s.max_size_gib = Some(499))));
        assert!(d.matches(&sel(|s| s.model = Some("Samsung SSD 870 ".into()))));
        assert!(!d.matches(&sel(|s| s.model = Some("Samsung".into()))));
        assert!(d.matches(&sel(|s| s.serial = Some("S6PN".into()))));
        assert!(!d.matches(&sel(|s| s.serial = Some("S6PX".into()))));
    }
}
