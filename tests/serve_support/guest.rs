//! QEMU guests that netboot from `kateskit netboot serve`: an artifacts directory with Debian's
//! kernel and a test initramfs running the real agent, a bridge with one tap per guest inside
//! the server's namespace, and a guest launcher (SeaBIOS or UEFI firmware, an iPXE ROM, a MAC,
//! an optional data disk, a serial log) whose Drop kills QEMU.
//!
//! The initramfs brings its NIC up with busybox udhcpc (the NixOS netboot image uses
//! systemd-networkd for this), then runs `kateskit agent run` with the kernel command line the
//! boot script gave, and prints `==NAME-BEGIN==`/`==NAME-END==` sections and `==KEY value==`
//! markers on the serial console (tests/data/netboot-init.sh).

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::agent_support::initramfs::{agent_root, kernel_dir, pack, sh, vmlinuz};
use crate::netns::Netns;

/// The guest's /init.
pub const INIT: &str = include_str!("../data/netboot-init.sh");
/// Drivers the initramfs loads: the virtio NIC the iPXE ROM drives, and virtio disks.
pub const MODULES: [&str; 3] = ["virtio_pci", "virtio_net", "virtio_blk"];
/// Debian's iPXE ROM for QEMU's virtio NIC (ipxe-qemu), BIOS and UEFI images in one file.
pub const VIRTIO_ROM: &str = "/usr/lib/ipxe/qemu/pxe-virtio.rom";
/// How long a whole netboot may take under TCG on a busy machine.
pub const BOOT_BOUND: Duration = Duration::from_secs(240);

/// Why a netboot guest cannot run here, if it cannot: the QEMU tier's tools and the ROM.
pub fn unavailable(rom: &str) -> Option<String> {
    for t in ["qemu-system-x86_64", "busybox", "cpio", "gzip"] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(t).is_file()))
            .unwrap_or(false);
        if !found {
            return Some(format!("{t} not found (tests/debian-packages.txt)"));
        }
    }
    if !Path::new(rom).is_file() {
        return Some(format!("{rom} missing (apt-get install ipxe-qemu)"));
    }
    crate::netns::unavailable(&[])
}

/// Skips (prints why) where the tools are truly absent; CI must have them.
pub fn skip_unless_available(rom: &str) -> bool {
    match unavailable(rom) {
        None => false,
        Some(why) if std::env::var_os("CI").is_some() => panic!("CI must run this test: {why}"),
        Some(why) => {
            eprintln!("skipping: {why}");
            true
        }
    }
}

/// Writes `dir/artifacts/{vmlinuz,initrd.img}`: Debian's kernel and a gzip'd initramfs with
/// the agent and [`INIT`]; `extra` files (path relative to the guest's root, contents) are
/// added, e.g. a kubelet kubeconfig k3s would have written. Returns the artifacts directory.
pub fn agent_artifacts(dir: &Path, extra: &[(&str, &str)]) -> PathBuf {
    let kdir = kernel_dir();
    let root = dir.join("initramfs");
    agent_root(&root, &kdir, &MODULES, INIT);
    for (rel, text) in extra {
        let p = root.join(rel.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
    }
    let art = dir.join("artifacts");
    std::fs::create_dir_all(&art).unwrap();
    std::fs::copy(vmlinuz(&kdir), art.join("vmlinuz")).unwrap();
    let cpio = dir.join("initrd.cpio");
    pack(&root, &cpio);
    sh(std::process::Command::new("gzip")
        .args(["-1", "-f"])
        .arg(&cpio));
    std::fs::rename(dir.join("initrd.cpio.gz"), art.join("initrd.img")).unwrap();
    std::fs::remove_dir_all(&root).unwrap();
    art
}

/// A bridge `name` with `cidr` (e.g. `192.0.2.1/24`) in `ns`, up.
pub fn bridge(ns: &Netns, name: &str, cidr: &str) {
    ns.ip(&["link", "add", name, "type", "bridge"]);
    ns.ip(&["addr", "add", cidr, "dev", name]);
    ns.ip(&["link", "set", name, "up"]);
}

/// A tap `tap` on bridge `br` in `ns`, up; QEMU opens it from inside the same namespace.
pub fn tap(ns: &Netns, br: &str, tap: &str) {
    ns.ip(&["tuntap", "add", tap, "mode", "tap"]);
    ns.ip(&["link", "set", tap, "master", br]);
    ns.ip(&["link", "set", tap, "up"]);
}

/// What the guest boots with.
pub enum Firmware {
    /// QEMU's SeaBIOS, booting from the NIC's option ROM.
    Bios,
    /// UEFI firmware as two pflash files (code read-only, a writable copy of the vars).
    Uefi { code: PathBuf, vars: PathBuf },
}

/// One netboot guest.
pub struct GuestOpts {
    pub firmware: Firmware,
    /// The NIC's option ROM (an iPXE build), e.g. [`VIRTIO_ROM`].
    pub rom: PathBuf,
    pub mac: String,
    /// A tap made by [`tap`] in the namespace QEMU runs in.
    pub tap: String,
    /// A raw data disk (virtio, serial `serial`), e.g. a sparse file.
    pub disk: Option<(PathBuf, String)>,
    pub serial: PathBuf,
    pub mem_mib: u32,
    /// More QEMU arguments, e.g. OVMF's `-fw_cfg` switches.
    pub extra: Vec<String>,
}

impl GuestOpts {
    /// A SeaBIOS guest with the virtio iPXE ROM, 512 MiB, no disk.
    pub fn bios(mac: &str, tap: &str, serial: &Path) -> GuestOpts {
        GuestOpts {
            firmware: Firmware::Bios,
            rom: VIRTIO_ROM.into(),
            mac: mac.into(),
            tap: tap.into(),
            disk: None,
            serial: serial.into(),
            mem_mib: 512,
            extra: Vec::new(),
        }
    }
}

/// A running QEMU (TCG), killed on drop.
pub struct Guest {
    child: Child,
    pub serial: PathBuf,
}

impl Guest {
    /// Starts QEMU inside `ns`, booting from the network only.
    pub fn launch(ns: &Netns, o: &GuestOpts) -> Guest {
        let mut q = ns.command("qemu-system-x86_64");
        q.args(["-accel", "tcg", "-m", &o.mem_mib.to_string(), "-no-reboot"])
            .args(["-display", "none", "-monitor", "none"])
            .arg("-serial")
            .arg(format!("file:{}", o.serial.display()))
            .arg("-netdev")
            .arg(format!(
                "tap,id=n0,ifname={},script=no,downscript=no",
                o.tap
            ))
            // Debian's virtio iPXE ROMs carry the modern device ID (1af4:1041): firmware runs
            // them only for a modern-only (disable-legacy) device.
            .arg("-device")
            .arg(format!(
                "virtio-net-pci,netdev=n0,mac={},romfile={},disable-legacy=on,bootindex=1",
                o.mac,
                o.rom.display()
            ));
        if let Firmware::Uefi { code, vars } = &o.firmware {
            q.arg("-drive")
                .arg(format!(
                    "if=pflash,format=raw,readonly=on,file={}",
                    code.display()
                ))
                .arg("-drive")
                .arg(format!("if=pflash,format=raw,file={}", vars.display()));
        }
        if let Some((disk, serial)) = &o.disk {
            q.arg("-drive")
                .arg(format!("if=none,id=d0,format=raw,file={}", disk.display()))
                .arg("-device")
                .arg(format!("virtio-blk-pci,drive=d0,serial={serial}"));
        }
        q.args(&o.extra);
        let err = std::fs::File::create(o.serial.with_extension("qemu-stderr")).unwrap();
        let child = q
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("qemu-system-x86_64 starts");
        Guest {
            child,
            serial: o.serial.clone(),
        }
    }

    /// The serial console so far, without carriage returns and terminal escapes (UEFI
    /// firmware and iPXE EFI draw their screens with them).
    pub fn log(&self) -> String {
        let raw = std::fs::read(&self.serial).unwrap_or_default();
        let s = String::from_utf8_lossy(&raw).replace('\r', "");
        let mut out = String::with_capacity(s.len());
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                chars.by_ref().find(|d| d.is_ascii_alphabetic());
            } else {
                out.push(c);
            }
        }
        out
    }

    /// Waits until the console shows `marker` or `bound` runs out (or QEMU ended); returns the
    /// console log and whether the marker came.
    pub fn wait_for(&mut self, marker: &str, bound: Duration) -> (String, bool) {
        let t0 = Instant::now();
        loop {
            let log = self.log();
            if log.contains(marker) {
                return (log, true);
            }
            let ended = self.child.try_wait().ok().flatten().is_some();
            if ended || t0.elapsed() > bound {
                return (self.log(), log.contains(marker));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Like [`Guest::wait_for`], panicking with the console log when the marker never came.
    pub fn expect(&mut self, marker: &str, bound: Duration) -> String {
        let (log, ok) = self.wait_for(marker, bound);
        let err = std::fs::read_to_string(self.serial.with_extension("qemu-stderr"));
        assert!(
            ok,
            "no {marker} on the guest's console within {bound:?} (QEMU's stderr: {}):\n{log}",
            err.unwrap_or_default()
        );
        log
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The text between `==NAME-BEGIN==` and `==NAME-END==` in a console log.
pub fn section<'a>(log: &'a str, name: &str) -> Option<&'a str> {
    let b = format!("=={name}-BEGIN==");
    let s = log.find(&b)? + b.len();
    let e = log[s..].find(&format!("=={name}-END=="))? + s;
    Some(log[s..e].trim())
}

/// The value of a `==KEY value==` marker line.
pub fn marker<'a>(log: &'a str, key: &str) -> Option<&'a str> {
    let p = format!("=={key} ");
    log.lines()
        .find_map(|l| l.trim().strip_prefix(p.as_str()))
        .and_then(|v| v.strip_suffix("=="))
}
