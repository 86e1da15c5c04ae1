//! Checks of one declared OSD disk, shared by `cluster check` (with file:line:col) and the
//! agent's validate phase (for disks that arrive from other config sources).

use std::path::{Component, Path};

use super::model::{OsdDisk, WipePolicy};

/// One problem with a declared OSD disk: the field it is about, what is wrong, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsdProblem {
    pub field: &'static str,
    pub message: String,
    pub fix: String,
}

fn problem(field: &'static str, message: String, fix: &str) -> OsdProblem {
    OsdProblem {
        field,
        message,
        fix: fix.to_string(),
    }
}

/// Every problem with one OSD disk declaration; empty when it is fine.
pub fn osd_disk_problems(d: &OsdDisk) -> Vec<OsdProblem> {
    let mut out = Vec::new();
    let id = &d.by_id;
    let rest = id.strip_prefix("/dev/disk/by-id/");
    match rest {
        None => {
            let kernel_name = ["/dev/sd", "/dev/nvme", "/dev/vd", "/dev/hd", "/dev/xvd"]
                .iter()
                .any(|p| id.starts_with(p));
            let fix = if kernel_name {
                "kernel names like /dev/sdX can change between boots and point at the wrong disk; use its /dev/disk/by-id/... link (ls -l /dev/disk/by-id)"
            } else {
                "use the disk's /dev/disk/by-id/... link (ls -l /dev/disk/by-id)"
            };
            out.push(problem(
                "by_id",
                format!("OSD disk `{id}` is not a /dev/disk/by-id/ path"),
                fix,
            ));
        }
        // One plain name under by-id: `..`, `.`, empty or nested components would let the path
        // name some other file than the disk's udev link.
        Some(name)
            if name.is_empty()
                || name.contains('/')
                || Path::new(name)
                    .components()
                    .any(|c| !matches!(c, Component::Normal(_))) =>
        {
            out.push(problem(
                "by_id",
                format!("OSD disk `{id}` is not a single link name under /dev/disk/by-id/"),
                "name the link itself, e.g. /dev/disk/by-id/ata-MODEL_SERIAL, without `..` or further `/`",
            ));
        }
        Some(name) if name.contains("-part") => out.push(problem(
            "by_id",
            format!("OSD disk `{id}` names a partition"),
            "give Ceph the whole disk; Rook needs it raw with no partitions",
        )),
        Some(_) => {}
    }
    match (d.wipe, &d.confirm_serial) {
        (WipePolicy::Always, None) => out.push(problem(
            "wipe",
            format!("wipe = \"always\" on `{id}` needs confirm_serial"),
            "add confirm_serial = \"<the disk's serial>\" to confirm that its data may be destroyed",
        )),
        (WipePolicy::Always, Some(s)) if s.trim().is_empty() => out.push(problem(
            "confirm_serial",
            "confirm_serial is empty".into(),
            "write the disk's serial number (lsblk -o NAME,SERIAL)",
        )),
        (WipePolicy::Never | WipePolicy::IfForeign, Some(_)) => out.push(problem(
            "confirm_serial",
            format!(
                "confirm_serial is only read with wipe = \"always\", but wipe is \"{}\"",
                d.wipe.as_str()
            ),
            "remove confirm_serial, or set wipe = \"always\" if the disk may be erased",
        )),
        _ => {}
    }
    if let Some(f) = &d.foreign_fsid {
        if uuid::Uuid::parse_str(f).is_err() {
            out.push(problem(
                "foreign_fsid",
                format!("foreign_fsid `{f}` is not a Ceph fsid (a UUID)"),
                "copy the fsid `kateskit disk inspect` or `ceph-bluestore-tool show-label` prints for the OSD",
            ));
        } else if d.wipe == WipePolicy::Never {
            out.push(problem(
                "foreign_fsid",
                "foreign_fsid is only read with wipe = \"if-foreign\" or \"always\", but wipe is \"never\"".into(),
                "set wipe = \"if-foreign\" to let the OSD of that other cluster be wiped, or remove foreign_fsid",
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(by_id: &str) -> OsdDisk {
        OsdDisk {
            by_id: by_id.into(),
            wipe: WipePolicy::Never,
            confirm_serial: None,
            foreign_fsid: None,
        }
    }

    fn fields(d: &OsdDisk) -> Vec<&'static str> {
        osd_disk_problems(d).iter().map(|p| p.field).collect()
    }

    #[test]
    fn by_id_must_be_one_link_name_under_by_id() {
        assert!(fields(&disk("/dev/disk/by-id/ata-X_1")).is_empty());
        for bad in [
            "/dev/sda",
            "/dev/disk/by-id/../../sda",
            "/dev/disk/by-id/..",
            "/dev/disk/by-id/a/../b",
            "/dev/disk/by-id/",
            "/dev/disk/by-id/./x",
            "/dev/disk/by-id/ata-X-part1",
        ] {
            assert_eq!(fields(&disk(bad)), ["by_id"], "{bad}");
        }
        let p = &osd_disk_problems(&disk("/dev/disk/by-id/../../sda"))[0];
        assert!(p.message.contains("single link name"), "{}", p.message);
    }

    #[test]
    fn foreign_fsid_is_a_uuid_read_only_with_a_wiping_policy() {
        let mut d = disk("/dev/disk/by-id/ata-X_1");
        d.foreign_fsid = Some("0d9f4b7e-8e2a-4b55-b0a4-5d2c7c9e6f00".into());
        assert_eq!(fields(&d), ["foreign_fsid"]);
        d.wipe = WipePolicy::IfForeign;
        assert!(fields(&d).is_empty());
        d.foreign_fsid = Some("not-a-uuid".into());
        assert_eq!(fields(&d), ["foreign_fsid"]);
    }
}
