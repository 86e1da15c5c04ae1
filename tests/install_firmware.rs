//! `kateskit install` and the firmware (root, loop devices): a machine that booted by BIOS is
//! refused before the disk is touched (the installed system boots only by UEFI) unless
//! `--allow-bios-firmware`; on UEFI the old "KatesKit" boot entry is replaced by one for the
//! installed disk's ESP and BootNext set to it, through an `efibootmgr` stand-in
//! (KATESKIT_EFIBOOTMGR) that records its calls; its failure is a warning, not a failed
//! install. `/sys/firmware/efi` is a fixture directory under the root hook.

mod common;
mod image_common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{lock, loop_devices_available, LoopDev};
use image_common::{fixture_copy, kateskit, node_config_without_install_disk as node_config};

const MIB: u64 = 1 << 20;

/// A root whose firmware is UEFI or BIOS.
fn root(dir: &Path, uefi: bool) -> PathBuf {
    let r = dir.join(if uefi { "uefi-root" } else { "bios-root" });
    std::fs::create_dir_all(&r).unwrap();
    if uefi {
        std::fs::create_dir_all(r.join("sys/firmware/efi/efivars")).unwrap();
    }
    r
}

/// An efibootmgr stand-in: lists a PXE entry and an old KatesKit entry; `--create` "adds"
/// Boot0007 (or fails when EFI_FAIL is set, as on a firmware without writable variables).
fn efibootmgr(dir: &Path) -> (PathBuf, PathBuf) {
    let log = dir.join("efibootmgr.log");
    let exe = dir.join("efibootmgr");
    std::fs::write(
        &exe,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\ncase \"$1\" in\n\
             '') printf 'BootCurrent: 0001\\nBootOrder: 0001,0003\\nBoot0001* UEFI PXEv4\\tPciRoot(0x0)\\nBoot0003* KatesKit\\tHD(1,GPT,old)\\n' ;;\n\
             --create) if [ -n \"$EFI_FAIL\" ]; then echo 'EFI variables are not supported on this system.' >&2; exit 2; fi\n\
               printf 'BootOrder: 0007,0001\\nBoot0001* UEFI PXEv4\\tPciRoot(0x0)\\nBoot0007* KatesKit\\tHD(1,GPT,new)\\n' ;;\n\
             esac\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    (exe, log)
}

struct Run {
    ok: bool,
    stderr: String,
    calls: Vec<String>,
}

fn install(uefi: bool, extra: &[&str], env: &[(&str, &str)]) -> Option<(Run, LoopDev, String)> {
    if !loop_devices_available() {
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let image = fixture_copy(tmp.path(), "gpt.img.zst");
    let image_len = std::fs::metadata(&image).unwrap().len();
    let (_, json) = node_config(tmp.path());
    let (exe, log) = efibootmgr(tmp.path());
    let dev = LoopDev::new(image_len + 8 * MIB);
    let before = dev.digest();
    let mut c = kateskit();
    c.env("KATESKIT_ROOT", root(tmp.path(), uefi))
        .env("KATESKIT_EFIBOOTMGR", &exe)
        .args(["install", "--yes", "--device", dev.path()])
        .args(extra)
        .arg("--image")
        .arg(&image)
        .arg("--node-config")
        .arg(&json);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    let calls = std::fs::read_to_string(&log)
        .map(|s| s.lines().map(str::to_string).collect())
        .unwrap_or_default();
    let run = Run {
        ok: out.status.success(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        calls,
    };
    Some((run, dev, before))
}

fn canonical(dev: &LoopDev) -> String {
    std::fs::canonicalize(&dev.dev)
        .unwrap()
        .display()
        .to_string()
}

#[test]
fn a_bios_boot_is_refused_before_the_disk_is_touched() {
    let _l = lock();
    let Some((r, dev, before)) = install(false, &[], &[]) else {
        return;
    };
    assert!(!r.ok, "{}", r.stderr);
    assert!(
        r.stderr.contains("booted in legacy BIOS mode"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("boots only by UEFI"), "{}", r.stderr);
    assert!(r.stderr.contains("--allow-bios-firmware"), "{}", r.stderr);
    assert_eq!(dev.digest(), before, "the disk was written");
    assert!(r.calls.is_empty());

    // Asked for: written, and no boot entry is attempted (there are no EFI variables).
    let (r, dev, before) = install(false, &["--allow-bios-firmware"], &[]).unwrap();
    assert!(r.ok, "{}", r.stderr);
    assert_ne!(dev.digest(), before);
    assert!(r.calls.is_empty(), "{:?}", r.calls);
    assert!(r.stderr.contains("no boot entry set"), "{}", r.stderr);
}

#[test]
fn a_uefi_install_replaces_the_boot_entry_and_boots_it_next() {
    let _l = lock();
    let Some((r, dev, _)) = install(true, &[], &[]) else {
        return;
    };
    assert!(r.ok, "{}", r.stderr);
    let disk = canonical(&dev);
    assert_eq!(
        r.calls,
        [
            String::new(),
            "--delete-bootnum --bootnum 0003".into(),
            format!(
                "--create --disk {disk} --part 1 --label KatesKit --loader \\EFI\\BOOT\\BOOTX64.EFI"
            ),
            "--bootnext 0007".into(),
        ]
    );
    assert!(r.stderr.contains("BootNext=0007"), "{}", r.stderr);

    // --no-boot-entry leaves the firmware alone.
    let (r, _, _) = install(true, &["--no-boot-entry"], &[]).unwrap();
    assert!(r.ok, "{}", r.stderr);
    assert!(r.calls.is_empty(), "{:?}", r.calls);
}

#[test]
fn a_boot_entry_that_cannot_be_set_is_a_warning_with_the_manual_command() {
    let _l = lock();
    let Some((r, dev, before)) = install(true, &[], &[("EFI_FAIL", "1")]) else {
        return;
    };
    assert!(r.ok, "a failed boot entry failed the install: {}", r.stderr);
    assert_ne!(dev.digest(), before, "the disk is installed");
    assert!(r.stderr.contains("boot entry was not set"), "{}", r.stderr);
    assert!(
        r.stderr.contains("EFI variables are not supported"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!(
            "efibootmgr --create --disk {} --part 1 --label KatesKit",
            canonical(&dev)
        )),
        "{}",
        r.stderr
    );
}
