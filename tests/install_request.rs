//! The boot request the live units ask about (`kateskit install --request-check`, their
//! ExecCondition) and act on (`install --boot-request`): `kateskit.install.device=` on the
//! kernel command line or stamped into the boot medium's embed area, the stamped one invisible
//! to systemd's ConditionKernelCommandLine. Exit codes are systemd's ExecCondition contract:
//! 0 runs the unit, 1 skips it, 255 fails it.

mod common;
mod image_common;

use std::path::{Path, PathBuf};

use common::{lock, loop_devices_available, LoopDev};
use image_common::{fixture_copy, kateskit, node_config_without_install_disk as node_config};
use kateskit::image::embed;

/// A live root whose ISO area holds `kargs` (None: no area; Some(empty): pristine).
fn live_root(dir: &Path, kargs: Option<&[&str]>) -> PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("iso/kateskit")).unwrap();
    if let Some(k) = kargs {
        let k: Vec<String> = k.iter().map(|s| s.to_string()).collect();
        let area = if k.is_empty() {
            vec![0; embed::ISO_AREA_SIZE]
        } else {
            embed::build_area(embed::ISO_AREA_SIZE, None, &k).unwrap()
        };
        std::fs::write(root.join("iso/kateskit/embed.img"), area).unwrap();
    }
    root
}

fn check(dir: &Path, root: &Path, cmdline: &str, unit: &str) -> (i32, String) {
    let cl = dir.join("cmdline");
    std::fs::write(&cl, cmdline).unwrap();
    let out = kateskit()
        .env("KATESKIT_ROOT", root)
        .env("KATESKIT_CMDLINE", &cl)
        .args(["install", "--request-check", unit])
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_units_conditions_see_a_stamped_request_as_well_as_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    // Nothing asked: the installer is skipped, the live agent and join run.
    let plain = live_root(tmp.path(), Some(&[]));
    assert_eq!(check(tmp.path(), &plain, "console=ttyS0", "install").0, 1);
    assert_eq!(check(tmp.path(), &plain, "console=ttyS0", "live").0, 0);
    // On the command line.
    let cl = "console=ttyS0 kateskit.install.device=/dev/disk/by-id/ata-X";
    let (code, why) = check(tmp.path(), &plain, cl, "install");
    assert_eq!(code, 0);
    assert!(why.contains("kernel command line"), "{why}");
    assert_eq!(check(tmp.path(), &plain, cl, "live").0, 1);
    // Stamped only: ConditionKernelCommandLine=kateskit.install.device would have said no.
    let tmp2 = tempfile::tempdir().unwrap();
    let stamped = live_root(tmp2.path(), Some(&["kateskit.install.device=auto"]));
    let (code, why) = check(tmp2.path(), &stamped, "console=ttyS0", "install");
    assert_eq!(code, 0, "{why}");
    assert!(why.contains("stamped in"), "{why}");
    let (code, why) = check(tmp2.path(), &stamped, "console=ttyS0", "live");
    assert_eq!(code, 1);
    assert!(why.contains("the live system is not configured"), "{why}");
    // An area that cannot be read fails the installer (the console says why); the live agent
    // runs and reports the same area.
    let tmp3 = tempfile::tempdir().unwrap();
    let bad = live_root(tmp3.path(), None);
    std::fs::write(bad.join("iso/kateskit/embed.img"), b"short").unwrap();
    let (code, why) = check(tmp3.path(), &bad, "quiet", "install");
    assert_eq!(code, 255, "{why}");
    assert!(
        why.contains("cannot tell whether an install is requested"),
        "{why}"
    );
    assert_eq!(check(tmp3.path(), &bad, "quiet", "live").0, 0);
}

#[test]
fn boot_request_installs_to_the_stamped_device() {
    if !loop_devices_available() {
        return;
    }
    let _l = lock();
    let tmp = tempfile::tempdir().unwrap();
    let image = fixture_copy(tmp.path(), "gpt.img.zst");
    let image_len = std::fs::metadata(&image).unwrap().len();
    let (_, json) = node_config(tmp.path());
    let dev = LoopDev::new(image_len + (8 << 20));
    let before = dev.digest();
    let karg = format!("kateskit.install.device={}", dev.path());
    let root = live_root(tmp.path(), Some(&[&karg]));
    let cl = tmp.path().join("cmdline");
    std::fs::write(&cl, "console=ttyS0\n").unwrap();
    let run = |extra: &[&str]| {
        kateskit()
            .env("KATESKIT_ROOT", &root)
            .env("KATESKIT_CMDLINE", &cl)
            .args([
                "install",
                "--yes",
                "--allow-bios-firmware",
                "--no-boot-entry",
            ])
            .args(extra)
            .arg("--image")
            .arg(&image)
            .arg("--node-config")
            .arg(&json)
            .output()
            .unwrap()
    };
    let out = run(&["--boot-request"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("install requested by the kernel arguments stamped in"),
        "{err}"
    );
    assert_ne!(dev.digest(), before, "nothing was written");
    // --boot-request and an explicit device are two answers to one question.
    let out = run(&["--boot-request", "--device", dev.path()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
}

#[test]
fn boot_request_without_a_request_names_the_kernel_argument() {
    let tmp = tempfile::tempdir().unwrap();
    let root = live_root(tmp.path(), Some(&[]));
    let cl = tmp.path().join("cmdline");
    std::fs::write(&cl, "quiet\n").unwrap();
    let out = kateskit()
        .env("KATESKIT_ROOT", &root)
        .env("KATESKIT_CMDLINE", &cl)
        .args([
            "install",
            "--unattended",
            "--boot-request",
            "--allow-bios-firmware",
        ])
        .args(["--image", "/nonexistent.img"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("boot with kateskit.install.device=/dev/disk/by-id/<disk>"),
        "{err}"
    );
}
