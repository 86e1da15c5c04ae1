//! A/B upgrades booted for real: Debian's OVMF and systemd-boot 252 in QEMU (TCG) on a disk laid
//! out as the raw image (ESP with systemd-boot and one UKI per slot, two store slots, the data
//! partition as `/`). Each slot is a UKI of Debian's kernel with a test initramfs whose init is a
//! STAND-IN for the booted system's unit ordering (tests/data/upgrade-boot-init.sh); the
//! bootloader, its boot counting, the EFI variables, the ESP and the `kateskit node` commands are
//! the real ones. The machine reboots by ending its QEMU run (`-no-reboot`); the test reads the
//! serial console and the ESP's file names between boots.

#[path = "upgrade_support/disk.rs"]
mod disk;
#[allow(dead_code)]
#[path = "upgrade_support/esp.rs"]
mod esp;
#[allow(dead_code)]
#[path = "agent_support/initramfs.rs"]
mod initramfs;
#[allow(dead_code)]
#[path = "upgrade_support/machine.rs"]
mod machine;
#[path = "upgrade_support/release.rs"]
mod release;
#[allow(dead_code)]
#[path = "upgrade_support/serve.rs"]
mod serve;
#[path = "upgrade_support/uki.rs"]
mod uki;

use std::time::Duration;

use esp::Esp;
use machine::Machine;
use uki::Uki;

/// One boot of a machine: firmware, systemd-boot, the UKI, and the init's work (TCG is slow).
const BOOT_BOUND: Duration = Duration::from_secs(150);
const CMDLINE: &str = "console=ttyS0 panic=1 quiet";

fn tools() -> bool {
    initramfs::tools_present() && uki::tools_present() && machine::tools_present()
}

/// A machine whose disk holds version 1 in slot A (blessed, `kateskit_1.efi`) and, when
/// `b_cmdline` is given, a release of version 2 (its UKI booting with that command line)
/// served on 127.0.0.1 that A's init stages.
struct Node {
    machine: Machine,
    esp: Esp,
    _dir: tempfile::TempDir,
    _files: Option<serve::Files>,
}

fn node(name: &str, b_cmdline: Option<&str>) -> Node {
    let parts = release::parts();
    let dir = tempfile::tempdir().unwrap();
    let disk_path = dir.path().join("disk.img");
    let esp = disk::build(
        &disk_path,
        &disk::DiskOpts {
            esp_mib: 160,
            slot_mib: 8,
            data_mib: 128,
            a_version: "1",
        },
    );
    disk::write_partition(&disk_path, 3, &parts.store("1"));
    let mut a_cmdline = CMDLINE.to_string();
    let mut files = None;
    if let Some(b) = b_cmdline {
        let b_uki = dir.path().join("b.efi");
        Uki {
            kernel: &parts.kernel,
            initrd: &parts.initrd("2"),
            cmdline: b,
            version: "2",
        }
        .build(&b_uki);
        let rel = dir.path().join("release");
        let sums = release::release(&rel, "2", &b_uki, &parts.store("2"));
        std::fs::remove_file(&b_uki).unwrap();
        let f = serve::Files::serve(&rel);
        a_cmdline += &format!(
            " kateskit.test.release=http://10.0.2.2:{}/ kateskit.test.to=2 kateskit.test.sums={sums}",
            f.port
        );
        files = Some(f);
    }
    let a_uki = dir.path().join("a.efi");
    Uki {
        kernel: &parts.kernel,
        initrd: &parts.initrd("1"),
        cmdline: &a_cmdline,
        version: "1",
    }
    .build(&a_uki);
    uki::assert_layout(&a_uki);
    esp.put(&a_uki, "/EFI/Linux/kateskit_1.efi");
    std::fs::remove_file(&a_uki).unwrap();
    Node {
        machine: Machine::new(dir.path(), name, &disk_path),
        esp,
        _dir: dir,
        _files: files,
    }
}

fn store_hash(version: &str) -> String {
    release::sha256_file(&release::parts().store(version))
}

#[test]
fn systemd_boot_starts_the_blessed_uki_of_slot_a() {
    if !tools() {
        return;
    }
    let mut n = node("plain", None);
    let boot = n.machine.boot(BOOT_BOUND);
    let log = &boot.log;
    assert_eq!(boot.marker("VERSION"), Some("1"), "{log}");
    // systemd-boot 252 names the entry by its file name; an entry without a counter has no
    // LoaderBootCountPath.
    assert_eq!(boot.marker("SELECTED"), Some("kateskit_1.efi"), "{log}");
    assert_eq!(boot.marker("COUNTPATH"), Some(""), "{log}");
    assert_eq!(
        boot.marker("STORE"),
        Some(store_hash("1").as_str()),
        "{log}"
    );
    assert_eq!(boot.marker("END"), Some("poweroff"), "{log}");
    assert_eq!(n.esp.names("/EFI/Linux"), ["kateskit_1.efi"]);
    assert_eq!(disk::names(&n.machine.disk)[2..4], ["kateskit_1", "_empty"]);
}
