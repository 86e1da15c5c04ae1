//! `open_for_write` against real loop devices: by-id style links, mounts (whole disk and
//! partition), swap, LVM holders, partitions and size limits. Runs as root.

mod common;

use std::path::Path;

use common::{lock, loop_devices_available, run, LoopDev, MountGuard, VgGuard};
use kateskit::disk::{open_for_write, DiskError, DiskUse, OSD_MIN_SIZE};

const GIB: u64 = 1024 * 1024 * 1024;

#[test]
fn accepts_a_free_disk_through_a_symlink_and_holds_it_exclusively() {
    if !loop_devices_available() {
        return;
    }
    let _l = lock();
    let lo = LoopDev::new(6 * GIB);
    let links = tempfile::tempdir().unwrap();
    let link = links.path().join("ata-KATESKIT_TEST_0");
    std::os::unix::fs::symlink(&lo.dev, &link).unwrap();
    let disk = open_for_write(&link, OSD_MIN_SIZE).expect("free loop device must open");
    assert_eq!(disk.canonical(), lo.dev.as_path());
    assert_eq!(disk.size(), 6 * GIB);
    assert_eq!(disk.name(), lo.name());
    // O_EXCL: while we hold it, the kernel refuses a mount.
    let (mounted, out) = common::try_run("mount", &[lo.path(), links.path().to_str().unwrap()]);
    assert!(
        !mounted,
        "mount must fail while the disk is held exclusively: {out}"
    );
    drop(disk);
}

#[test]
fn refuses_a_disk_smaller_than_the_minimum() {
    if !loop_devices_available() {
        return;
    }
    let _l = lock();
    let lo = LoopDev::new(GIB);
    let err = open_for_write(&lo.dev, OSD_MIN_SIZE).unwrap_err();
    match &err {
        DiskError::TooSmall { device, size, min } => {
            assert_eq!(device, &lo.dev);
            assert_eq!((*size, *min), (GIB, OSD_MIN_SIZE));
        }
        other => panic!("expected TooSmall, got {other}"),
    }
    assert!(err.to_string().contains(lo.path()), "{err}");
}

#[test]
fn refuses_mounted_partitions_and_partition_paths() {
    if !loop_devices_available() {
        return;
    }
    let _l = lock();
    let lo = LoopDev::new(6 * GIB);
    run("sgdisk", &["-n", "1:0:+100M", "-n", "2:0:+100M", lo.path()]);
    run("partx", &["-u", lo.path()]);
    let part = format!("{}p2", lo.path());
    assert!(Path::new(&part).exists(), "partition node {part} missing");
    run("mkfs.ext4", &["-q", &part]);
    let m = MountGuard::new(&part);
    let err = open_for_write(&lo.dev, 0).unwrap_err();
    match &err {
        DiskError::InUse { uses, .. } => assert_eq!(
            uses,
            &vec![DiskUse::Mounted {
                device: part.clone(),
                mountpoint: m.dir.to_string_lossy().into_owned()
            }]
        ),
        other => panic!("expected InUse, got {other}"),
    }
    assert!(err.to_string().contains("is mounted at"), "{err}");
    drop(m);
    let err = open_for_write(Path::new(&part), 0).unwrap_err();
    assert!(matches!(err, DiskError::Partition { .. }), "{err}");
    assert!(
        err.to_string().contains(&format!("/dev/{}", lo.name())),
        "{err}"
    );
}

#[test]
fn refuses_active_swap() {
    if !loop_devices_available() {
        return;
    }
    let _l = lock();
    let swap = LoopDev::new(64 << 20);
    run("mkswap", &[swap.path()]);
    run("swapon", &[swap.path()]);
    let err = open_for_write(&swap.dev, 0).unwrap_err();
    let _ = common::try_run("swapoff", &[swap.path()]);
    match &err {
        DiskError::InUse { uses, .. } => assert_eq!(
            uses,
            &vec![DiskUse::Swap {
                device: swap.path().into()
            }]
        ),
        other => panic!("expected InUse(swap), got {other}"),
    }
}

#[test]
fn refuses_a_disk_under_an_active_lvm_volume_and_names_it() {
    if !loop_devices_available() || !common::device_mapper_available() {
        return;
    }
    let _l = lock();
    let lo = LoopDev::new(6 * GIB);
    let vg = format!("kkopen{}", std::process::id());
    run("pvcreate", &["-ff", "-y", lo.path()]);
    let _vg = VgGuard {
        vg: vg.clone(),
        pvs: vec![lo.path().into()],
    };
    run("vgcreate", &[&vg, lo.path()]);
    run("lvcreate", &["-y", "-L", "64M", "-n", "data", &vg]);
    let err = open_for_write(&lo.dev, 0).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, DiskError::InUse { .. }), "{text}");
    assert!(
        text.contains(&format!("LVM logical volume {vg}-data")),
        "{text}"
    );
}
