//! One machine of the systemd tier: its disk (the cached Debian root, the project's debug
//! binary, the unit files from modules/units with Debian's paths filled in, the stand-in
//! k3s.service), an initramfs that only loads the virtio drivers and hands over to systemd on
//! /dev/vda, and QEMU (TCG) booting Debian's kernel with real systemd as PID 1.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::root::{disk_from_base, sh, Mounted};
use crate::agent_support::initramfs::{copy_with_libs, kernel_dir, modules, vmlinuz, Qemu};

/// The PATH the agent's units get here (NixOS fills in the agent's tools instead).
pub const DEBIAN_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Loaded by the initramfs (the root carries no kernel modules): the disk and NIC, and the
/// link kinds `kateskit-test-links.service` makes.
const MODULES: [&str; 6] = [
    "virtio_pci",
    "virtio_blk",
    "virtio_net",
    "bridge",
    "veth",
    "vxlan",
];
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/systemd-tier");
const UNITS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/modules/units");

/// `modules/units/<rel>` with the placeholders filled in for this Debian root.
pub fn unit_text(rel: &str) -> String {
    std::fs::read_to_string(Path::new(UNITS).join(rel))
        .unwrap()
        .replace("@kateskit@", "/usr/local/bin/kateskit")
        .replace("@path@", DEBIAN_PATH)
}

fn put(m: &Mounted, rel: &str, body: &[u8], mode: u32) -> Result<(), String> {
    let p = m.path(rel);
    std::fs::create_dir_all(p.parent().unwrap()).map_err(|e| format!("{}: {e}", p.display()))?;
    std::fs::write(&p, body).map_err(|e| format!("{}: {e}", p.display()))?;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).map_err(|e| e.to_string())
}

fn data(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(DATA).join(name)).unwrap()
}

/// A fresh disk image at `img`: the cached root plus everything the tier installs, plus
/// `extra` files (path under the root, contents).
pub fn make_disk(img: &Path, extra: &[(&str, &str)]) -> Result<(), String> {
    disk_from_base(img, 1024)?;
    let m = Mounted::new(img, false)?;
    let bin = tempfile::tempdir().map_err(|e| e.to_string())?;
    // Stripped; its libraries (libblkid, libc, libgcc_s) are already in the Debian root.
    copy_with_libs(
        &assert_cmd::cargo::cargo_bin("kateskit"),
        bin.path(),
        "kateskit",
    );
    let body = std::fs::read(bin.path().join("bin/kateskit")).unwrap();
    put(&m, "usr/local/bin/kateskit", &body, 0o755)?;
    put(
        &m,
        "usr/local/bin/busybox",
        &std::fs::read("/bin/busybox").unwrap(),
        0o755,
    )?;
    for u in [
        "kateskit-network.service",
        "kateskit-agent.service",
        "kateskit-join.service",
    ] {
        put(
            &m,
            &format!("etc/systemd/system/{u}"),
            unit_text(u).as_bytes(),
            0o644,
        )?;
    }
    let dropin = "k3s.service.d/kateskit.conf";
    put(
        &m,
        &format!("etc/systemd/system/{dropin}"),
        unit_text(dropin).as_bytes(),
        0o644,
    )?;
    let physical = "99-kateskit-physical.network";
    put(
        &m,
        &format!("etc/systemd/network/{physical}"),
        unit_text(physical).as_bytes(),
        0o644,
    )?;
    put(
        &m,
        "etc/systemd/system/k3s.service",
        &data("k3s.service"),
        0o644,
    )?;
    for test_unit in [
        "kateskit-test-report.service",
        "kateskit-test-links.service",
    ] {
        let rel = format!("etc/systemd/system/{test_unit}");
        put(&m, &rel, &data(test_unit), 0o644)?;
    }
    put(
        &m,
        "etc/systemd/system/systemd-networkd-wait-online.service.d/any.conf",
        &data("wait-online-any.conf"),
        0o644,
    )?;
    put(
        &m,
        "usr/local/lib/kateskit-test/report.sh",
        &data("report.sh"),
        0o755,
    )?;
    put(&m, "usr/local/share/k3s-standin/ping", b"pong", 0o644)?;
    put(
        &m,
        "usr/local/share/k3s-standin/cacerts",
        b"-----BEGIN CERTIFICATE-----\nstand-in\n-----END CERTIFICATE-----\n",
        0o644,
    )?;
    put(&m, "etc/hostname", b"debian-image\n", 0o644)?;
    put(
        &m,
        "etc/systemd/timesyncd.conf",
        &data("timesyncd.conf"),
        0o644,
    )?;
    put(&m, "etc/fstab", b"/dev/vda / ext4 rw 0 1\n", 0o644)?;
    for (rel, body) in extra {
        put(&m, rel, body.as_bytes(), 0o644)?;
    }
    // Persistent journal, so a boot's log can be read back from the disk too.
    std::fs::create_dir_all(m.path("var/log/journal")).map_err(|e| e.to_string())?;
    // Enabled through their [Install] sections, as a package's postinst would.
    sh(Command::new("systemctl")
        .arg(format!("--root={}", m.mnt.path().display()))
        .args([
            "enable",
            "systemd-networkd.service",
            "systemd-networkd-wait-online.service",
            "systemd-timesyncd.service",
            "kateskit-network.service",
            "kateskit-agent.service",
            "kateskit-join.service",
            "k3s.service",
            "kateskit-test-report.service",
            "kateskit-test-links.service",
        ]))?;
    Ok(())
}

/// The initramfs: busybox, the virtio modules, and an /init that mounts /dev/vda and
/// switches to systemd.
fn initramfs(out: &Path) -> Result<(), String> {
    let kdir = kernel_dir();
    let w = tempfile::tempdir().map_err(|e| e.to_string())?;
    let r = w.path();
    for d in ["bin", "proc", "sys", "dev", "newroot"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    let order = modules(&kdir, &MODULES, &r.join("modules"));
    std::fs::copy("/bin/busybox", r.join("bin/busybox")).unwrap();
    let loads: String = order
        .iter()
        .map(|m| format!("insmod /modules/{m}.ko\n"))
        .collect();
    let init = format!(
        "#!/bin/busybox sh\n/bin/busybox --install -s /bin\nmount -t proc proc /proc\nmount -t sysfs sys /sys\nmount -t devtmpfs dev /dev\n{loads}i=0\nwhile [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done\nmount -t ext4 -o rw /dev/vda /newroot || {{ echo 'initramfs: cannot mount /dev/vda'; poweroff -f; }}\numount /proc /sys\nmount --move /dev /newroot/dev\nexec switch_root /newroot /lib/systemd/systemd\n"
    );
    std::fs::write(r.join("init"), init).unwrap();
    std::fs::set_permissions(r.join("init"), std::fs::Permissions::from_mode(0o755)).unwrap();
    sh(Command::new("sh").arg("-c").arg(format!(
        "cd {} && find . | cpio -o -H newc --quiet > {}",
        r.display(),
        out.display()
    )))
}

/// How the guest's NIC is connected.
pub enum Net<'a> {
    /// QEMU user networking: its DHCP server hands out 10.0.2.15; nothing else reachable.
    User,
    /// A tap device in the named network namespace, without any DHCP server.
    Tap { netns: &'a str, tap: &'a str },
}

/// Boots `img` once with `kargs`; returns the serial console log after the guest powered off.
pub fn boot(
    img: &Path,
    work: &Path,
    net: Net,
    kargs: &str,
    mac: &str,
    timeout: Duration,
) -> Result<String, String> {
    let initrd = work.join("initrd.cpio");
    if !initrd.exists() {
        initramfs(&initrd)?;
    }
    let serial = work.join(format!("serial-{}.log", std::process::id() ^ rand_suffix()));
    let append = format!(
        "console=ttyS0 root=/dev/vda rw net.ifnames=0 panic=-1 no_timer_check systemd.show_status=1 {kargs}"
    );
    let netdev = match net {
        Net::User => "user,id=n0,restrict=on".to_string(),
        Net::Tap { tap, .. } => format!("tap,id=n0,ifname={tap},script=no,downscript=no"),
    };
    let mut cmd = match net {
        Net::User => Command::new("qemu-system-x86_64"),
        Net::Tap { netns, .. } => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", netns, "qemu-system-x86_64"]);
            c
        }
    };
    cmd.args(["-accel", "tcg", "-m", "1024", "-smp", "1", "-no-reboot"])
        .args(["-display", "none", "-monitor", "none"])
        .arg("-kernel")
        .arg(vmlinuz(&kernel_dir()))
        .arg("-initrd")
        .arg(&initrd)
        .args(["-append", &append])
        .arg("-drive")
        .arg(format!("file={},format=raw,if=virtio", img.display()))
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .args(["-netdev", &netdev, "-device"])
        .arg(format!("virtio-net-pci,netdev=n0,mac={mac}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut q = Qemu(cmd.spawn().map_err(|e| format!("starting qemu: {e}"))?);
    let t0 = std::time::Instant::now();
    while q.0.try_wait().map_err(|e| e.to_string())?.is_none() {
        if t0.elapsed() > timeout {
            let log = std::fs::read_to_string(&serial).unwrap_or_default();
            return Err(format!(
                "the guest did not power off within {timeout:?}; serial:\n{log}"
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let log = std::fs::read_to_string(&serial)
        .unwrap_or_default()
        .replace('\r', "");
    let mut err = String::new();
    if let Some(mut e) = q.0.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    eprintln!(
        "systemd tier: boot took {:?}; qemu stderr: {err}",
        t0.elapsed()
    );
    if log.is_empty() {
        return Err(format!("the guest printed nothing; qemu stderr: {err}"));
    }
    Ok(log)
}

fn rand_suffix() -> u32 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
}
