//! The disk module on a real kernel with device-mapper: Debian's cloud kernel boots under QEMU
//! (TCG) with `dm-mod`, Debian's `lvm` makes an active logical volume on a virtio disk, and the
//! disk module must name the volume as the disk's holder and refuse to write the disk.
//! (The loop-device tier cannot show this where the host kernel lacks device-mapper.)

mod agent_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use agent_support::initramfs::{
    copy_with_libs, kernel_dir, modules, pack, section, sh, tools_present, vmlinuz, wait_for_guest,
    Qemu,
};

const TIMEOUT: Duration = Duration::from_secs(240);

#[test]
fn active_lvm_volume_blocks_the_disk_on_a_real_kernel() {
    if !tools_present() {
        return;
    }
    let Ok(lvm) = which("lvm") else {
        eprintln!("SKIP: lvm not installed (tests/debian-packages.txt lists lvm2)");
        return;
    };
    let kdir = kernel_dir();
    let vmlinuz = vmlinuz(&kdir);
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("initramfs");
    for d in ["proc", "sys", "dev", "run", "tmp", "etc"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let order = modules(
        &kdir,
        &["virtio_pci", "virtio_blk", "dm_mod"],
        &root.join("modules"),
    );
    std::fs::write(root.join("modules.order"), order.join("\n")).unwrap();
    copy_with_libs(&assert_cmd::cargo::cargo_bin("kateskit"), &root, "kateskit");
    copy_with_libs(&lvm, &root, "lvm");
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    std::fs::write(root.join("init"), include_str!("data/qemu-lvm-init.sh")).unwrap();
    sh(Command::new("chmod").arg("755").arg(root.join("init")));
    let initrd = work.path().join("initrd.cpio");
    pack(&root, &initrd);
    let disk = work.path().join("lvm.img");
    std::fs::File::create(&disk)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    let serial = work.path().join("serial.log");
    let child = Command::new("qemu-system-x86_64")
        .args([
            "-accel",
            "tcg",
            "-m",
            "512",
            "-no-reboot",
            "-display",
            "none",
            "-monitor",
            "none",
        ])
        .arg("-kernel")
        .arg(&vmlinuz)
        .arg("-initrd")
        .arg(&initrd)
        .args([
            "-append",
            "console=ttyS0 panic=-1 quiet loglevel=1 no_timer_check",
        ])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .arg("-drive")
        .arg(format!("file={},if=none,id=d0,format=raw", disk.display()))
        .args([
            "-device",
            "virtio-blk-pci,drive=d0,serial=KATESKIT_LVM",
            "-nic",
            "none",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qemu starts");
    let log = wait_for_guest(Qemu(child), &serial, TIMEOUT);

    assert!(
        log.contains("==LVM 0=="),
        "lvm could not make the volume:\n{log}"
    );
    assert!(log.contains("==HOLDERS dm-0=="), "{log}");
    let all: serde_json::Value = serde_json::from_str(section(&log, "INSPECT")).unwrap();
    let c = &all[0];
    assert_eq!(c["content"]["state"], "lvm-pv", "{c}");
    assert_eq!(c["state"], "in-use", "{c}");
    let blockers = c["blockers"].to_string();
    assert!(
        blockers.contains("kkvg-data"),
        "the volume is named: {blockers}"
    );
    assert!(log.contains("==FLASH-RC 1=="), "flash must refuse:\n{log}");
    let flash = section(&log, "FLASH");
    assert!(
        flash.contains("kkvg-data") && flash.contains("dm-0"),
        "{flash}"
    );
    // The guest wrote nothing but LVM's own metadata: the first MiB holds the PV label, not
    // the 64 KiB image flash would have written.
    let bytes = std::fs::read(&disk).unwrap();
    assert_eq!(
        &bytes[512 + 24..512 + 32],
        b"LVM2 001",
        "the PV label is intact"
    );
}

fn which(tool: &str) -> Result<std::path::PathBuf, ()> {
    for dir in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        let p = std::path::Path::new(dir).join(tool);
        if p.exists() {
            return Ok(p);
        }
    }
    Err(())
}
