//! Flash and install onto a disk larger than the image that had a GPT of its own (made by
//! sgdisk over the whole disk): the old backup GPT at the end of the disk must not survive.
//! Runs as root on loop devices.

mod common;
mod image_common;

use common::states::env_for;
use common::{lock, loop_devices_available, run, try_run, LoopDev};
use image_common::{fixture_copy, kateskit, node_config_without_install_disk};

const MIB: u64 = 1 << 20;

/// After writing a small image onto a larger disk that had a GPT of its own, nothing of the old
/// table is left: no header in the last MiB, and with the new primary header damaged the old
/// table does not come back from the end of the disk.
fn assert_no_stale_backup_gpt(dev: &LoopDev, what: &str) {
    let out = run("blkid", &["-p", "-o", "value", "-s", "PTTYPE", dev.path()]);
    assert_eq!(out.trim(), "gpt", "{what}: blkid -p");
    let c = kateskit::disk::classify(&dev.dev).unwrap();
    match &c.content {
        kateskit::disk::Content::PartitionTable { table } => {
            assert_eq!(table.kind, "gpt", "{what}: classifier says {c}")
        }
        other => panic!("{what}: classifier says {other}"),
    }
    let (_, verify) = try_run("sgdisk", &["-v", dev.path()]);
    assert!(
        !verify.contains("CRC") && !verify.contains("differ"),
        "{what}: sgdisk -v: {verify}"
    );
    let size = std::fs::metadata(&dev.backing).unwrap().len();
    let f = std::fs::File::open(&dev.dev).unwrap();
    let mut tail = vec![0u8; MIB as usize];
    std::os::unix::fs::FileExt::read_exact_at(&f, &mut tail, size - MIB).unwrap();
    assert!(
        !tail.windows(8).any(|w| w == b"EFI PART"),
        "{what}: a GPT header is left in the last MiB"
    );
    run(
        "dd",
        &[
            "if=/dev/zero",
            &format!("of={}", dev.path()),
            "bs=512",
            "seek=1",
            "count=1",
            "conv=fsync",
            "status=none",
        ],
    );
    let (_, p) = try_run("sgdisk", &["-p", dev.path()]);
    assert!(
        !p.contains("valid backup"),
        "{what}: the old table came back: {p}"
    );
}

#[test]
fn install_onto_a_larger_partitioned_disk_leaves_no_stale_backup_gpt() {
    if !loop_devices_available() {
        return;
    }
    let _l = lock();
    let tmp = tempfile::tempdir().unwrap();
    let image = fixture_copy(tmp.path(), "gpt.img.zst");
    let (_, cfg) = node_config_without_install_disk(tmp.path());
    let lo = LoopDev::new(64 * MIB);
    let env = env_for(&lo);
    run("sgdisk", &["-n", "1:0:+10M", lo.path()]);
    kateskit()
        .env("KATESKIT_DEV_DIR", &env.env.dev_dir)
        .env("KATESKIT_UDEV_DATA_DIR", &env.env.udev_data_dir)
        .args([
            "install",
            "--yes",
            "--allow-bios-firmware",
            "--no-boot-entry",
            "--image",
        ])
        .arg(&image)
        .arg("--node-config")
        .arg(&cfg)
        .args(["--device", &env.by_id, "--wipe-data", &env.serial])
        .assert()
        .success();
    assert_no_stale_backup_gpt(&lo, "install");
}

#[test]
fn flash_onto_a_larger_partitioned_disk_leaves_no_stale_backup_gpt() {
    if !loop_devices_available() {
        return;
    }
    let _l = lock();
    let tmp = tempfile::tempdir().unwrap();
    let image = fixture_copy(tmp.path(), "gpt.img.zst");
    let lo = LoopDev::new(64 * MIB);
    run("sgdisk", &["-n", "1:0:+10M", lo.path()]);
    kateskit()
        .args(["flash", "--yes"])
        .arg(&image)
        .arg(lo.path())
        .assert()
        .success();
    assert_no_stale_backup_gpt(&lo, "flash");
}
