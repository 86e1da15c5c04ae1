//! `kateskit install` in a UEFI guest: Debian's kernel booted by OVMF (QEMU, TCG) with a test
//! initramfs holding the binary, the real efibootmgr and the raw image fixture; the install
//! goes to a second virtio disk, and the firmware's own variables then hold a `KatesKit` entry
//! for that disk's ESP with `BootNext` pointing at it; a reinstall leaves exactly one.

mod agent_support;
mod image_common;

use std::process::{Command, Stdio};
use std::time::Duration;

use agent_support::initramfs::{
    agent_root, copy_with_libs, kernel_dir, pack, section, tools_present, vmlinuz, wait_for_guest,
    Qemu,
};

const TIMEOUT: Duration = Duration::from_secs(300);
const MODULES: [&str; 3] = ["virtio_pci", "virtio_blk", "efivarfs"];
const INIT: &str = include_str!("data/qemu-efi-install-init.sh");
const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE.fd";
const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS.fd";

fn efi_tools_present() -> bool {
    for f in [OVMF_CODE, OVMF_VARS, "/usr/bin/efibootmgr"] {
        if !std::path::Path::new(f).exists() {
            eprintln!("SKIP: {f} missing (Debian packages ovmf, efibootmgr; tests/debian-packages.txt lists them)");
            return false;
        }
    }
    true
}

#[test]
fn a_uefi_install_leaves_a_boot_entry_for_the_disk_and_boots_it_next() {
    if !tools_present() || !efi_tools_present() {
        return;
    }
    let kdir = kernel_dir();
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("initramfs");
    agent_root(&root, &kdir, &MODULES, INIT);
    copy_with_libs(
        std::path::Path::new("/usr/bin/efibootmgr"),
        &root,
        "efibootmgr",
    );
    let image = image_common::fixture_copy(work.path(), "gpt.img.zst");
    std::fs::rename(&image, root.join("install.img")).unwrap();
    let (_, json) = image_common::node_config_without_install_disk(work.path());
    std::fs::copy(&json, root.join("node.json")).unwrap();
    let initrd = work.path().join("initrd.cpio");
    pack(&root, &initrd);

    let vars = work.path().join("OVMF_VARS.fd");
    std::fs::copy(OVMF_VARS, &vars).unwrap();
    let disk = work.path().join("target.raw");
    std::fs::File::create(&disk)
        .unwrap()
        .set_len(32 << 20)
        .unwrap();
    let serial = work.path().join("serial.log");
    let child = Command::new("qemu-system-x86_64")
        .args(["-accel", "tcg", "-m", "768", "-no-reboot"])
        .args(["-display", "none", "-monitor", "none", "-net", "none"])
        .arg("-drive")
        .arg(format!(
            "if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}"
        ))
        .arg("-drive")
        .arg(format!(
            "if=pflash,format=raw,unit=1,file={}",
            vars.display()
        ))
        .arg("-kernel")
        .arg(vmlinuz(&kdir))
        .arg("-initrd")
        .arg(&initrd)
        .args([
            "-append",
            "console=ttyS0 panic=-1 quiet loglevel=1 no_timer_check",
        ])
        .arg("-drive")
        .arg(format!("if=none,id=t,format=raw,file={}", disk.display()))
        .args(["-device", "virtio-blk-pci,drive=t,serial=target"])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qemu starts");
    let log = wait_for_guest(Qemu(child), &serial, TIMEOUT);
    assert!(
        log.contains("==FIRMWARE uefi=="),
        "not booted by UEFI:\n{log}"
    );
    assert!(
        log.contains("==RC 0=="),
        "install failed:\n{}",
        section(&log, "INSTALL")
    );
    let before = section(&log, "BEFORE");
    assert!(!before.contains("KatesKit"), "{before}");
    let after = section(&log, "AFTER");
    let entry = after
        .lines()
        .find(|l| l.contains(" KatesKit"))
        .unwrap_or_else(|| panic!("no KatesKit entry:\n{after}"));
    let num = &entry["Boot".len()..entry.find(['*', ' ']).unwrap()];
    assert_eq!(num.len(), 4, "{entry}");
    assert!(
        after.contains(&format!("BootNext: {num}")),
        "BootNext is not the new entry {num}:\n{after}"
    );
    // The entry names the ESP (partition 1 of the fixture's GPT) and the image's loader.
    assert!(entry.contains("HD(1,GPT,"), "{entry}");
    assert!(entry.contains("\\EFI\\BOOT\\BOOTX64.EFI"), "{entry}");
    let install = section(&log, "INSTALL");
    assert!(install.contains(&format!("BootNext={num}")), "{install}");
    // A reinstall replaces the entry instead of adding a second one.
    assert!(log.contains("==RC2 0=="), "the reinstall failed:\n{log}");
    let again = section(&log, "AGAIN");
    let ours: Vec<&str> = again.lines().filter(|l| l.contains(" KatesKit")).collect();
    assert_eq!(ours.len(), 1, "{again}");
    let num2 = &ours[0]["Boot".len()..ours[0].find(['*', ' ']).unwrap()];
    assert!(again.contains(&format!("BootNext: {num2}")), "{again}");
}
