//! How `kateskit install` chooses and checks its target, on loop devices with states made by
//! the real tools (root): it refuses a disk with data unless that disk's serial is given, an OSD
//! disk of the node, a `--device` other than the node's install_disk and, unattended, a kernel
//! name. Serials come from a stand-in udev database and
//! by-id links from a stand-in /dev (the KATESKIT_UDEV_DATA_DIR / KATESKIT_DEV_DIR test hooks).

mod common;
mod image_common;

use std::path::Path;

use common::states::{env_for, Env};
use common::{lock, loop_devices_available, run, LoopDev};
use image_common::{fixture_copy, kateskit, node_config_edited};
use kateskit::image::embed;
use serde_json::json;

const MIB: u64 = 1 << 20;

struct Case {
    _tmp: tempfile::TempDir,
    image: std::path::PathBuf,
    offset: u64,
    lo: LoopDev,
    env: Env,
}

fn case(size: u64) -> Case {
    let tmp = tempfile::tempdir().unwrap();
    let image = fixture_copy(tmp.path(), "gpt.img.zst");
    let offset =
        kateskit::install::embed_offset(&std::fs::File::open(&image).unwrap(), &image).unwrap();
    let lo = LoopDev::new(size);
    let env = env_for(&lo);
    stand_in_node(&env, &lo);
    Case {
        _tmp: tmp,
        image,
        offset,
        lo,
        env,
    }
}

/// The kernel name of `lo` in the stand-in /dev, so `--device /dev/loopN` resolves there too.
fn stand_in_node(env: &Env, lo: &LoopDev) {
    std::os::unix::fs::symlink(&lo.dev, env.env.dev_dir.join(lo.name())).unwrap();
}

impl Case {
    fn config(&self, edit: impl FnOnce(&mut serde_json::Value)) -> std::path::PathBuf {
        let dir = self
            ._tmp
            .path()
            .join(format!("cfg{}", rand::random::<u32>()));
        std::fs::create_dir(&dir).unwrap();
        node_config_edited(&dir, edit).1
    }

    fn install(&self, cfg: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
        kateskit()
            .env("KATESKIT_DEV_DIR", &self.env.env.dev_dir)
            .env("KATESKIT_UDEV_DATA_DIR", &self.env.env.udev_data_dir)
            .args([
                "install",
                "--yes",
                "--allow-bios-firmware",
                "--no-boot-entry",
                "--image",
            ])
            .arg(&self.image)
            .arg("--node-config")
            .arg(cfg)
            .args(args)
            .assert()
    }

    fn stamped(&self) -> bool {
        let f = std::fs::File::open(&self.lo.dev).unwrap();
        let mut buf = vec![0u8; embed::GPT_AREA_SIZE];
        std::os::unix::fs::FileExt::read_exact_at(&f, &mut buf, self.offset).unwrap();
        matches!(embed::read_area(&buf), Ok(Some(_)))
    }
}

fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

#[test]
fn refuses_an_ext4_disk_unless_its_serial_is_given() {
    if !loop_devices_available() {
        return;
    }
    let _l = lock();
    let c = case(32 * MIB);
    run("mkfs.ext4", &["-q", "-F", "-L", "data", c.lo.path()]);
    let cfg = c.config(|_| {});
    let before = c.lo.digest();
    let a = c.install(&cfg, &["--device", &c.env.by_id]).failure();
    let err = stderr(&a);
    assert!(
        err.contains("holds ext4") && err.contains("--wipe-data"),
        "{err}"
    );
    assert_eq!(c.lo.digest(), before, "refused install changed the disk");
    let a = c
        .install(
            &cfg,
            &["--device", &c.env.by_id, "--wipe-data", "WRONG_SERIAL"],
        )
        .failure();
    let err = stderr(&a);
    assert!(err.contains("does not match its serial"), "{err}");
    assert_eq!(c.lo.digest(), before, "wrong serial changed the disk");
    c.install(
        &cfg,
        &["--device", &c.env.by_id, "--wipe-data", &c.env.serial],
    )
    .success();
    assert!(c.stamped(), "installed disk lacks its embed area");
}

#[test]
fn refuses_a_disk_without_serial_that_holds_data_and_says_how_to_clear_it() {
    if !loop_devices_available() {
        return;
    }
    let _l = lock();
    let c = case(32 * MIB);
    run("mkfs.ext4", &["-q", "-F", c.lo.path()]);
    std::fs::remove_dir_all(&c.env.env.udev_data_dir).unwrap();
    std::fs::create_dir(&c.env.env.udev_data_dir).unwrap();
    let cfg = c.config(|_| {});
    let before = c.lo.digest();
    let a = c
        .install(&cfg, &["--device", c.lo.path(), "--wipe-data", "ANY"])
        .failure();
    let err = stderr(&a);
    assert!(
        err.contains("has no serial number") && err.contains("wipefs --all"),
        "{err}"
    );
    assert_eq!(c.lo.digest(), before);
}

#[test]
fn refuses_an_osd_disk_of_the_node() {
    if !loop_devices_available() {
        return;
    }
    let _l = lock();
    let c = case(32 * MIB);
    let by_id = c.env.by_id.clone();
    let cfg = c.config(|v| {
        v["storage"]["osd_disks"] = json!([{ "by_id": by_id, "wipe": "never" }]);
    });
    let before = c.lo.digest();
    // Named by its kernel name: the comparison is between resolved devices.
    let a = c.install(&cfg, &["--device", c.lo.path()]).failure();
    let err = stderr(&a);
    assert!(
        err.contains("OSD disk") && err.contains(&c.env.by_id),
        "{err}"
    );
    assert_eq!(c.lo.digest(), before);
}

#[test]
fn follows_install_disk_and_refuses_a_device_that_does_not_match_it() {
    if !loop_devices_available() {
        return;
    }
    let _l = lock();
    let c = case(32 * MIB);
    let other = LoopDev::new(32 * MIB);
    stand_in_node(&c.env, &other);
    let by_id = c.env.by_id.clone();
    let cfg = c.config(|v| v["node"]["install_disk"] = json!({ "by_id": by_id }));
    let (b1, b2) = (c.lo.digest(), other.digest());
    let a = c.install(&cfg, &["--device", other.path()]).failure();
    let err = stderr(&a);
    assert!(
        err.contains("install_disk") && err.contains("drop --device"),
        "{err}"
    );
    assert_eq!((c.lo.digest(), other.digest()), (b1, b2.clone()));
    // Without --device the install_disk is the target; unattended is fine with it too.
    let a = c.install(&cfg, &["--unattended"]).success();
    assert!(stderr(&a).contains("install_disk.by_id"), "{}", stderr(&a));
    assert!(c.stamped());
    assert_eq!(other.digest(), b2);
}

#[test]
fn install_disk_rules_pick_the_one_matching_disk() {
    if !loop_devices_available() {
        return;
    }
    let _l = lock();
    let c = case(32 * MIB);
    let serial = c.env.serial.clone();
    let cfg =
        c.config(|v| v["node"]["install_disk"] = json!({ "serial": serial, "max_size_gib": 1 }));
    let a = c.install(&cfg, &[]).success();
    assert!(
        stderr(&a).contains(&format!("/dev/{}", c.lo.name())),
        "{}",
        stderr(&a)
    );
    assert!(c.stamped());
    let cfg = c.config(|v| v["node"]["install_disk"] = json!({ "serial": "NO_SUCH_SERIAL_KK" }));
    let a = c.install(&cfg, &[]).failure();
    assert!(
        stderr(&a).contains("no disk matches install_disk"),
        "{}",
        stderr(&a)
    );
}

#[test]
fn unattended_refuses_kernel_names() {
    if !loop_devices_available() {
        return;
    }
    let _l = lock();
    let c = case(32 * MIB);
    let cfg = c.config(|_| {});
    let before = c.lo.digest();
    let a = c
        .install(&cfg, &["--unattended", "--device", c.lo.path()])
        .failure();
    assert!(
        stderr(&a).contains("only a /dev/disk/by-id/"),
        "{}",
        stderr(&a)
    );
    assert_eq!(c.lo.digest(), before);
    c.install(&cfg, &["--unattended", "--device", &c.env.by_id])
        .success();
    assert!(c.stamped());
}
