//! Disk states made by the real tools on fresh loop devices, for the matrix tests. Each
//! fixture owns guards that undo its state (unmount, remove the VG) before the loop device
//! is detached.

use std::any::Any;

use kateskit::disk::DiskEnv;

use super::{run, try_run, LoopDev, MountGuard, VgGuard};

pub const GIB: u64 = 1 << 30;
/// Just above Ceph's 5 GiB minimum; the backing files are sparse.
pub const SIZE: u64 = 5 * GIB + (64 << 20);

/// A loop device in some state, plus the guards that undo that state (dropped first).
pub struct Fixture {
    _guards: Vec<Box<dyn Any>>,
    pub lo: LoopDev,
}

pub fn fixture(lo: LoopDev) -> Fixture {
    Fixture {
        _guards: Vec::new(),
        lo,
    }
}

pub fn blank() -> Fixture {
    fixture(LoopDev::new(SIZE))
}

pub fn gpt(with_fs: bool) -> Fixture {
    let lo = LoopDev::new(SIZE);
    run("sgdisk", &["-n", "1:0:+100M", "-n", "2:0:+200M", lo.path()]);
    if with_fs {
        run("partx", &["-u", lo.path()]);
        run("mkfs.ext4", &["-q", "-F", &format!("{}p2", lo.path())]);
    }
    fixture(lo)
}

/// A GPT whose first partition holds bytes no tool recognises (as plain dm-crypt would).
pub fn gpt_with_raw_data() -> Fixture {
    let fx = gpt(false);
    run(
        "dd",
        &[
            "if=/dev/urandom",
            &format!("of={}", fx.lo.path()),
            "bs=1M",
            "seek=1",
            "count=2",
            "conv=fsync,notrunc",
            "status=none",
        ],
    );
    fx
}

/// A GPT whose primary header was overwritten: only the backup at the end of the disk remains.
pub fn gpt_backup_only() -> Fixture {
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

pub fn ext4_with_file() -> Fixture {
    let lo = LoopDev::new(SIZE);
    run("mkfs.ext4", &["-q", "-F", "-L", "data", lo.path()]);
    let m = MountGuard::new(lo.path());
    std::fs::write(m.dir.join("precious.txt"), b"do not lose me\n").unwrap();
    drop(m);
    fixture(lo)
}

pub fn vfat() -> Fixture {
    let lo = LoopDev::new(SIZE);
    run("mkfs.vfat", &["-n", "STICK", lo.path()]);
    fixture(lo)
}

pub fn lvm(active_lv: bool) -> Fixture {
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

pub fn luks() -> Fixture {
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

pub fn osd(fsid: &str) -> Fixture {
    let lo = LoopDev::new(SIZE);
    super::make_osd(&lo.dev, fsid);
    fixture(lo)
}

pub fn mounted() -> Fixture {
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

pub fn small() -> Fixture {
    fixture(LoopDev::new(GIB))
}

/// A stand-in /dev with a by-id link, and a stand-in udev database giving the disk a serial.
pub struct Env {
    _dirs: tempfile::TempDir,
    pub env: DiskEnv,
    pub by_id: String,
    pub serial: String,
}

pub fn env_for(lo: &LoopDev) -> Env {
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
pub fn assert_tools_see_blank(lo: &LoopDev, what: &str) {
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
