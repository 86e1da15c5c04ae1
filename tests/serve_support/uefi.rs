//! UEFI netboot guests for the tests of `kateskit netboot serve`: Debian's OVMF (the 4M
//! images) with EDK2's own network stack (virtio-net without an option ROM, so EDK2's
//! VirtioNetDxe, SNP and PXE base code or HTTP boot drive it), a rack namespace, serve with the
//! shared guest fixture's artifacts, and what the agent's console shows once it ran.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::agent_support::Cluster;
use crate::netns::Netns;
use crate::serve_support::guest::{self, Firmware, Guest, GuestOpts};
use crate::serve_support::Serve;

/// a4 of the rack example: an agent without OSD disks, reserved at 192.0.2.24.
pub const A4: &str = "52:54:00:0b:00:04";

pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";
/// TCG with OVMF is slow: its PXE and iPXE's DHCP each take tens of seconds here.
pub const BOUND: Duration = Duration::from_secs(300);

/// Skips (printing why) where QEMU, OVMF or Debian's iPXE builds are absent; CI must have them.
pub fn skip() -> bool {
    if crate::netns::skip_unless_available(&["qemu-system-x86_64"]) {
        return true;
    }
    for f in [OVMF_CODE, OVMF_VARS, "/usr/lib/ipxe/ipxe.efi"] {
        if !Path::new(f).exists() {
            assert!(std::env::var_os("CI").is_none(), "CI must have {f}");
            eprintln!("skipping: {f} missing (apt-get install ovmf ipxe)");
            return true;
        }
    }
    false
}

/// A TFTP root holding Debian's `build` (`ipxe.efi` or `snponly.efi`) under the name the
/// server hands UEFI x86-64 firmware (`ipxe.efi`). Debian's /usr/lib/ipxe/ipxe.efi is an
/// absolute symlink to /boot, which the confined TFTP server refuses, so it is copied.
pub fn tftp_root(dir: &Path, build: &str) -> PathBuf {
    let root = dir.join("ipxe");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::copy(
        Path::new("/usr/lib/ipxe").join(build),
        root.join("ipxe.efi"),
    )
    .unwrap();
    root
}

/// An OVMF guest on `tap`: the 4M images (a writable copy of the vars), virtio-net without
/// an option ROM (so EDK2's own VirtioNetDxe, SNP and PXE drive it), first in the boot order.
pub fn ovmf(ns: &Netns, dir: &Path, tap: &str, mac: &str, extra: &[&str]) -> Guest {
    let vars = dir.join(format!("vars-{tap}.fd"));
    std::fs::copy(OVMF_VARS, &vars).unwrap();
    let mut o = GuestOpts::bios(mac, tap, &dir.join(format!("serial-{tap}.log")));
    o.firmware = Firmware::Uefi {
        code: OVMF_CODE.into(),
        vars,
    };
    o.rom = PathBuf::new();
    o.extra = extra.iter().map(|s| s.to_string()).collect();
    Guest::launch(ns, &o)
}

/// A namespace with bridge `br0` (192.0.2.1/24) and `taps` tap ports on it.
pub fn rack(taps: usize) -> Netns {
    let ns = Netns::new("uefi");
    ns.ip(&["link", "add", "br0", "type", "bridge"]);
    ns.ip(&["addr", "add", "192.0.2.1/24", "dev", "br0"]);
    ns.ip(&["link", "set", "br0", "up"]);
    for i in 0..taps {
        let tap = format!("tap{i}");
        ns.ip(&["tuntap", "add", &tap, "mode", "tap"]);
        ns.ip(&["link", "set", &tap, "master", "br0"]);
        ns.ip(&["link", "set", &tap, "up"]);
    }
    ns
}

/// `netboot serve` in `ns` on `iface` with `tftp` as TFTP root and the shared guest fixture's
/// artifacts: Debian's kernel (an EFI-stub image, so iPXE EFI accepts it) and the initramfs
/// running the real agent, which reports on the serial console.
pub fn serve(
    ns: &Netns,
    iface: &str,
    c: &Cluster,
    dir: &Path,
    tftp: &Path,
    extra: &[&str],
) -> Serve {
    let art = guest::agent_artifacts(dir, &[]);
    let mut cmd = ns.command(assert_cmd::cargo::cargo_bin("kateskit").to_str().unwrap());
    cmd.args(["netboot", "serve", "--interface", iface])
        .args(extra)
        .arg("--cluster")
        .arg(c.dir.path())
        .arg("--artifacts")
        .arg(&art)
        .arg("--tftp-root")
        .arg(tftp)
        .arg("--state")
        .arg(dir.join("state"))
        .args(["--karg", "console=ttyS0", "--karg", "panic=-1"])
        .args(["--karg", "no_timer_check"])
        .args(["--karg", "kateskit.agent.verify_join=false"]);
    Serve::start(cmd)
}

/// Waits (bounded) until a4's timeline holds every stage in `want` and the guest printed
/// `==DONE==`, asserts the timeline, and returns it with the serial log.
pub fn boot_a4(dir: &Path, guest: &mut Guest, want: &[&str]) -> (Vec<String>, String) {
    let kinds = crate::serve_support::wait_for_timeline(
        &dir.join("state"),
        A4,
        want,
        BOUND,
        Duration::from_secs(1),
    );
    let (log, _) = guest.wait_for("==DONE==", Duration::from_secs(240));
    assert!(has(&kinds, want), "timeline {kinds:?}; serial:\n{log}");
    (kinds, log)
}

pub fn has(kinds: &[String], want: &[&str]) -> bool {
    want.iter().all(|w| kinds.iter().any(|k| k == w))
}

/// Asserts what the serial log shows once iPXE EFI booted the kernel: the initramfs' /init ran
/// (so the EFI-stub kernel was handed the initrd: `initrd=initrd.img`), the agent fetched a4's
/// config over the pinned HTTPS endpoint and finished ok.
pub fn assert_agent_ran(log: &str) {
    assert!(
        log.contains("==INIT up=="),
        "the initrd's /init never ran:\n{log}"
    );
    assert_eq!(guest::marker(log, "RC"), Some("0"), "{log}");
    let status: serde_json::Value = serde_json::from_str(guest::section(log, "STATUS").unwrap())
        .unwrap_or_else(|e| panic!("{e}:\n{log}"));
    assert_eq!(status["state"], "ok", "{status:#}");
    assert_eq!(status["node_name"], "a4", "{status:#}");
}

/// A proxy-mode rack: `site` (bridge br0 192.0.2.1/24, tap0; the caller starts the site's
/// DHCP server there) and `proxy` (192.0.2.2 on a veth into the bridge) where serve runs.
pub fn proxy_rack() -> (Netns, Netns) {
    let site = rack(1);
    let proxy = Netns::new("uproxy");
    crate::netns::veth(&site, "sp0", &proxy, "px0");
    site.ip(&["link", "set", "sp0", "master", "br0"]);
    proxy.ip(&["addr", "add", "192.0.2.2/24", "dev", "px0"]);
    (site, proxy)
}
