//! Every disk state, made by the real tool on a loop device, crossed with every wipe policy
//! through `prepare_osd_disks_with`. Refusals, accepts and keeps must leave every byte alone;
//! wipes must leave a disk that `blkid -p`, `wipefs -n`, `sgdisk -p` and the classifier all
//! call blank. Runs as root. The udev database is a stand-in directory holding one
//! `b<major>:<minor>` file per loop device, because loop devices have no serial number.

mod common;

use std::any::Any;
use std::path::PathBuf;

use common::{lock, loop_devices_available, run, try_run, LoopDev, MountGuard, VgGuard};
use kateskit::disk::{prepare_osd_disks_with, DiskEnv, PrepareError, Taken};
use kateskit::spec::{OsdDisk, WipePolicy};

const GIB: u64 = 1 << 30;
const SIZE: u64 = 5 * GIB + (64 << 20);
const THIS_FSID: &str = "6a0c1e62-3c1b-4e7a-9a52-0c8f3f1e2d11";
const OTHER_FSID: &str = "0d9f4b7e-8e2a-4b55-b0a4-5d2c7c9e6f00";

/// A loop device in some state, plus the guards that undo that state (dropped first).
struct Fixture {
    _guards: Vec<Box<dyn Any>>,
    lo: LoopDev,
}

fn fixture(lo: LoopDev) -> Fixture {
    Fixture {
        _guards: Vec::new(),
        lo,
    }
}

fn blank() -> Fixture {
    fixture(LoopDev::new(SIZE))
}

fn gpt(with_fs: bool) -> Fixture {
    let lo = LoopDev::new(SIZE);
    run("sgdisk", &["-n", "1:0:+100M", "-n", "2:0:+200M", lo.path()]);
    if with_fs {
        run("partx", &["-u", lo.path()]);
        run("mkfs.ext4", &["-q", "-F", &format!("{}p2", lo.path())]);
    }
    fixture(lo)
}

/// A GPT whose primary header was overwritten: only the backup at the end of the disk remains.
fn gpt_backup_only() -> Fixture {
    let fx = gpt(true);
    run(
        "dd",
        &[
            "if=/dev/zero",
            &format!("of={}", fx.lo.path()),
            "bs=1M",
            "count=1",
            "conv=fsync",
            "status=none",
        ],
    );
    fx
}

fn ext4_with_file() -> Fixture {
    let lo = LoopDev::new(SIZE);
    run("mkfs.ext4", &["-q", "-F", "-L", "data", lo.path()]);
    let m = MountGuard::new(lo.path());
    std::fs::write(m.dir.join("precious.txt"), b"do not lose me\n").unwrap();
    drop(m);
    fixture(lo)
}

fn vfat() -> Fixture {
    let lo = LoopDev::new(SIZE);
    run("mkfs.vfat", &["-n", "STICK", lo.path()]);
    fixture(lo)
}

fn lvm(active_lv: bool) -> Fixture {
    let lo = LoopDev::new(SIZE);
    let vg = format!("kkm{}{}", std::process::id(), lo.name());
    run("pvcreate", &["-ff", "-y", lo.path()]);
    let guard = VgGuard {
        vg: vg.clone(),
        pvs: vec![lo.path().into()],
    };
    run("vgcreate", &[&vg, lo.path()]);
    if active_lv {
        run("lvcreate", &["-y", "-L", "64M", "-n", "data", &vg]);
    }
    Fixture {
        _guards: vec![Box::new(guard)],
        lo,
    }
}

fn luks() -> Fixture {
    let lo = LoopDev::new(SIZE);
    let key = lo.backing.with_file_name("luks.key");
    std::fs::write(&key, b"matrix-test-key-not-a-secret").unwrap();
    let args = [
        "luksFormat",
        "--batch-mode",
        "--type",
        "luks2",
        "--pbkdf",
        "pbkdf2",
        "--pbkdf-force-iterations",
        "1000",
    ];
    let mut args: Vec<&str> = args.to_vec();
    args.extend(["--key-file", key.to_str().unwrap(), lo.path()]);
    run("cryptsetup", &args);
    fixture(lo)
}

fn osd(fsid: &str) -> Fixture {
    let lo = LoopDev::new(SIZE);
    let dir = lo.backing.with_file_name("osd");
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::symlink(&lo.dev, dir.join("block")).unwrap();
    let conf = lo.backing.with_file_name("ceph.conf");
    std::fs::write(&conf, format!("[global]\nfsid = {fsid}\n")).unwrap();
    let uuid = uuid::Uuid::new_v4().to_string();
    let (c, d) = (conf.to_str().unwrap(), dir.to_str().unwrap());
    run(
        "ceph-osd",
        &[
            "-c",
            c,
            "-i",
            "0",
            "--mkfs",
            "--osd-uuid",
            &uuid,
            "--osd-data",
            d,
            "--no-mon-config",
        ],
    );
    fixture(lo)
}

fn mounted() -> Fixture {
    let lo = LoopDev::new(SIZE);
    run("mkfs.ext4", &["-q", "-F", lo.path()]);
    let dir = tempfile::Builder::new()
        .prefix("kateskit-mnt-")
        .tempdir_in("/var/tmp")
        .unwrap()
        .keep();
    run("mount", &["-o", "ro", lo.path(), dir.to_str().unwrap()]);
    Fixture {
        _guards: vec![Box::new(MountGuard { dir })],
        lo,
    }
}

fn small() -> Fixture {
    fixture(LoopDev::new(GIB))
}

/// The four policy columns: never, if-foreign, always with the right serial, always with a wrong one.
fn policies(serial: &str) -> [(WipePolicy, Option<String>); 4] {
    [
        (WipePolicy::Never, None),
        (WipePolicy::IfForeign, None),
        (WipePolicy::Always, Some(serial.to_string())),
        (WipePolicy::Always, Some("NOT-THIS-DISK".to_string())),
    ]
}

/// A stand-in /dev with a by-id link, and a stand-in udev database giving the disk a serial.
struct Env {
    _dirs: tempfile::TempDir,
    env: DiskEnv,
    by_id: String,
    serial: String,
}

fn env_for(lo: &LoopDev) -> Env {
    let dirs = tempfile::tempdir().unwrap();
    let serial = format!("KKTEST_{}", lo.name().to_uppercase());
    let dev_dir = dirs.path().join("dev");
    std::fs::create_dir_all(dev_dir.join("disk/by-id")).unwrap();
    std::os::unix::fs::symlink(&lo.dev, dev_dir.join(format!("disk/by-id/ata-{serial}"))).unwrap();
    let udev = dirs.path().join("udev-data");
    std::fs::create_dir(&udev).unwrap();
    let devno = std::fs::read_to_string(format!("/sys/class/block/{}/dev", lo.name())).unwrap();
    std::fs::write(
        udev.join(format!("b{}", devno.trim())),
        format!("E:ID_SERIAL_SHORT={serial}\n"),
    )
    .unwrap();
    Env {
        _dirs: dirs,
        env: DiskEnv {
            dev_dir,
            udev_data_dir: udev,
            discard: true,
        },
        by_id: format!("/dev/disk/by-id/ata-{serial}"),
        serial,
    }
}

/// What the other tools say about a wiped disk; all must agree it is blank.
fn assert_tools_see_blank(lo: &LoopDev, what: &str) {
    let (found, out) = try_run("blkid", &["-p", lo.path()]);
    assert!(!found, "{what}: blkid -p still finds something: {out}");
    let out = run("wipefs", &["-n", lo.path()]);
    assert!(
        out.trim().is_empty(),
        "{what}: wipefs -n lists signatures: {out}"
    );
    let out = run("sgdisk", &["-p", lo.path()]);
    assert!(
        out.contains("Creating new GPT entries"),
        "{what}: sgdisk -p found a table: {out}"
    );
    assert!(
        !out.lines()
            .any(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit())),
        "{what}: {out}"
    );
}

/// Runs one matrix row twice: with discard (loop devices punch holes, so the discard alone
/// zeroes everything, as on an SSD that zeroes trimmed blocks) and without (as on a disk
/// without discard support, where the recipe's own writes must do it all).
fn row(name: &str, state: &str, build: fn() -> Fixture, expect: [&str; 4]) {
    if !loop_devices_available() {
        return;
    }
    let _l = lock();
    row_once(name, state, build, expect, true);
    row_once(name, state, build, expect, false);
}

/// Builds the state (again after each wipe) and checks each policy column.
fn row_once(name: &str, state: &str, build: fn() -> Fixture, expect: [&str; 4], discard: bool) {
    let mut current: Option<Fixture> = None;
    for (col, want) in expect.iter().enumerate() {
        let fx = current.get_or_insert_with(build);
        let mut e = env_for(&fx.lo);
        e.env.discard = discard;
        let (policy, confirm) = policies(&e.serial)[col].clone();
        let what = format!(
            "{name} × {}{} ({})",
            policy.as_str(),
            if col == 3 { " (wrong serial)" } else { "" },
            if discard {
                "with discard"
            } else {
                "no discard"
            }
        );
        let disk = OsdDisk {
            by_id: e.by_id.clone(),
            wipe: policy,
            confirm_serial: confirm,
        };
        let before = fx.lo.digest();
        let result = prepare_osd_disks_with(std::slice::from_ref(&disk), THIS_FSID, &e.env);
        match (result, *want) {
            (Err(PrepareError::Refused { refusals, .. }), "refuse") => {
                assert_eq!(refusals.len(), 1, "{what}");
                let text = refusals[0].to_string();
                assert!(
                    text.contains(&e.by_id) && !refusals[0].allow.is_empty(),
                    "{what}: {text}"
                );
                assert_eq!(fx.lo.digest(), before, "{what}: refused disk changed");
            }
            (Ok(reports), "accept" | "keep") => {
                let r = &reports[0];
                assert_eq!(r.before.state, state, "{what}: {}", r.before);
                let taken = if *want == "accept" {
                    Taken::Accepted
                } else {
                    Taken::Kept
                };
                assert_eq!(r.action, taken, "{what}");
                assert_eq!(r.after.state, state, "{what}");
                assert_eq!(fx.lo.digest(), before, "{what}: accepted disk changed");
            }
            (Ok(reports), "wipe") => {
                let r = &reports[0];
                assert_eq!(
                    (r.before.state, r.action, r.after.state),
                    (state, Taken::Wiped, "blank"),
                    "{what}"
                );
                let log = r.wipe.as_ref().expect("a wipe report");
                assert!(!log.zeroed.is_empty(), "{what}");
                assert_eq!(log.discarded, discard, "{what}");
                assert_tools_see_blank(&fx.lo, &what);
                current = None; // the state is gone; rebuild it for the next column
            }
            (got, want) => panic!("{what}: expected {want}, got {got:?}"),
        }
    }
}

#[test]
fn blank_disk() {
    row(
        "blank",
        "blank",
        blank,
        ["accept", "accept", "accept", "accept"],
    );
}

#[test]
fn gpt_without_filesystems() {
    row(
        "gpt",
        "partition-table",
        || gpt(false),
        ["refuse", "wipe", "wipe", "refuse"],
    );
}

#[test]
fn gpt_with_a_filesystem_in_a_partition() {
    row(
        "gpt+ext4",
        "partition-table",
        || gpt(true),
        ["refuse", "refuse", "wipe", "refuse"],
    );
}

#[test]
fn gpt_with_only_its_backup_header() {
    row(
        "gpt-backup",
        "other-signature",
        gpt_backup_only,
        ["refuse", "refuse", "wipe", "refuse"],
    );
}

#[test]
fn ext4_with_a_file() {
    row(
        "ext4",
        "filesystem",
        ext4_with_file,
        ["refuse", "refuse", "wipe", "refuse"],
    );
}

#[test]
fn vfat_filesystem() {
    row(
        "vfat",
        "filesystem",
        vfat,
        ["refuse", "refuse", "wipe", "refuse"],
    );
}

#[test]
fn lvm_physical_volume_with_a_volume_group() {
    row(
        "lvm-pv",
        "lvm-pv",
        || lvm(false),
        ["refuse", "refuse", "wipe", "refuse"],
    );
}

#[test]
fn luks_volume() {
    row("luks", "luks", luks, ["refuse", "refuse", "wipe", "refuse"]);
}

#[test]
fn ceph_osd_of_this_cluster() {
    row(
        "osd-this",
        "ceph-osd-this-cluster",
        || osd(THIS_FSID),
        ["keep", "keep", "keep", "keep"],
    );
}

#[test]
fn ceph_osd_of_another_cluster() {
    row(
        "osd-other",
        "ceph-osd-other-cluster",
        || osd(OTHER_FSID),
        ["refuse", "wipe", "wipe", "refuse"],
    );
}

#[test]
fn mounted_filesystem() {
    row(
        "mounted",
        "in-use",
        mounted,
        ["refuse", "refuse", "refuse", "refuse"],
    );
}

#[test]
fn active_lvm_volume() {
    if !common::device_mapper_available() {
        return;
    }
    row(
        "lvm-active",
        "in-use",
        || lvm(true),
        ["refuse", "refuse", "refuse", "refuse"],
    );
}

#[test]
fn one_gigabyte_disk() {
    row(
        "small",
        "too-small",
        small,
        ["refuse", "refuse", "refuse", "refuse"],
    );
}

/// Two disks, one wipeable and one refused: nothing at all is written.
#[test]
fn one_refusal_stops_every_wipe() {
    if !loop_devices_available() {
        return;
    }
    let _l = lock();
    let (a, b) = (osd(OTHER_FSID), ext4_with_file());
    let (ea, eb) = (env_for(&a.lo), env_for(&b.lo));
    // Both links live in one stand-in /dev; the udev stand-in is not needed (no "always").
    let dev = ea.env.dev_dir.clone();
    let link = PathBuf::from(&eb.by_id)
        .strip_prefix("/dev")
        .unwrap()
        .to_path_buf();
    std::os::unix::fs::symlink(&b.lo.dev, dev.join(link)).unwrap();
    let disks = [
        OsdDisk {
            by_id: ea.by_id.clone(),
            wipe: WipePolicy::IfForeign,
            confirm_serial: None,
        },
        OsdDisk {
            by_id: eb.by_id.clone(),
            wipe: WipePolicy::IfForeign,
            confirm_serial: None,
        },
    ];
    let (da, db) = (a.lo.digest(), b.lo.digest());
    let err = prepare_osd_disks_with(&disks, THIS_FSID, &ea.env).unwrap_err();
    let PrepareError::Refused { refusals, total } = &err else {
        panic!("expected a refusal, got {err}")
    };
    assert_eq!((refusals.len(), *total), (1, 2));
    assert!(
        err.to_string().contains(&eb.by_id) && err.to_string().contains("ext4"),
        "{err}"
    );
    assert_eq!(
        (a.lo.digest(), b.lo.digest()),
        (da, db),
        "a disk was written despite a refusal"
    );
}
