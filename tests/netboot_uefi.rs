//! `kateskit netboot serve` with UEFI firmware: Debian's OVMF (the 4M images, QEMU TCG) with
//! EDK2's own network stack (virtio-net without an option ROM, so EDK2's VirtioNetDxe, SNP and
//! PXE base code boot it, not an iPXE ROM) on a bridge in a namespace (192.0.2.0/24). EDK2
//! loads an iPXE EFI build over TFTP, and iPXE fetches the scripts, kernel and initrd over
//! HTTP. Needs root, iproute2, qemu-system-x86, ovmf and ipxe.

mod agent_support;
mod dhcp_support;
mod fleet_support;
mod netns;
mod serve_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use agent_support::Cluster;
use fleet_support::A1;
use netns::Netns;
use serve_support::{artifacts, wait_for_timeline, Serve};

const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";
/// TCG with OVMF is slow: its PXE and iPXE's DHCP each take tens of seconds here.
const BOUND: Duration = Duration::from_secs(300);

/// Skips (printing why) where QEMU, OVMF or Debian's iPXE builds are absent; CI must have them.
fn skip() -> bool {
    if netns::skip_unless_available(&["qemu-system-x86_64"]) {
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
fn tftp_root(dir: &Path, build: &str) -> PathBuf {
    let root = dir.join("ipxe");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::copy(
        Path::new("/usr/lib/ipxe").join(build),
        root.join("ipxe.efi"),
    )
    .unwrap();
    root
}

/// An OVMF guest on `tap` (virtio-net, no option ROM, first in the boot order), killed on drop.
struct Ovmf {
    child: Child,
    serial: PathBuf,
}

impl Ovmf {
    fn start(ns: &Netns, dir: &Path, tap: &str, mac: &str, extra: &[&str]) -> Ovmf {
        let vars = dir.join(format!("vars-{tap}.fd"));
        std::fs::copy(OVMF_VARS, &vars).unwrap();
        let serial = dir.join(format!("serial-{tap}.log"));
        let mut qemu = ns.command("qemu-system-x86_64");
        qemu.args(["-accel", "tcg", "-m", "512", "-no-reboot"])
            .args(["-display", "none", "-monitor", "none", "-vga", "none"])
            .arg("-drive")
            .arg(format!(
                "if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}"
            ))
            .arg("-drive")
            .arg(format!(
                "if=pflash,format=raw,unit=1,file={}",
                vars.display()
            ))
            .arg("-netdev")
            .arg(format!("tap,id=n0,ifname={tap},script=no,downscript=no"))
            .arg("-device")
            .arg(format!(
                "virtio-net-pci,netdev=n0,mac={mac},romfile=,bootindex=1"
            ))
            .args(extra)
            .arg("-serial")
            .arg(format!("file:{}", serial.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        Ovmf {
            child: qemu.spawn().unwrap(),
            serial,
        }
    }

    /// The serial log so far, without the firmware's terminal escapes.
    fn log(&self) -> String {
        let raw = std::fs::read(&self.serial).unwrap_or_default();
        let s = String::from_utf8_lossy(&raw).replace('\r', "");
        let mut out = String::with_capacity(s.len());
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    /// Waits until the serial log contains `marker` (or `bound` runs out); returns the log.
    fn wait_for(&self, marker: &str, bound: Duration) -> String {
        let t0 = Instant::now();
        loop {
            let log = self.log();
            if log.contains(marker) || t0.elapsed() > bound {
                return log;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Ovmf {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A namespace with bridge `br0` (192.0.2.1/24) and `taps` tap ports on it.
fn rack(taps: usize) -> Netns {
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

/// `netboot serve` in `ns` on `iface` with `tftp` as TFTP root, Debian's kernel (an EFI-stub
/// image, so iPXE EFI accepts it) as `vmlinuz` and a stand-in initrd. The kernel's console
/// is the serial port, so the log shows the kernel starting and what it made of the initrd.
fn serve(ns: &Netns, iface: &str, c: &Cluster, dir: &Path, tftp: &Path, extra: &[&str]) -> Serve {
    let (art, _, _) = artifacts(dir);
    let kdir = agent_support::initramfs::kernel_dir();
    std::fs::copy(
        agent_support::initramfs::vmlinuz(&kdir),
        art.join("vmlinuz"),
    )
    .unwrap();
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
        .args(["--karg", "console=ttyS0", "--karg", "panic=-1"]);
    Serve::start(cmd)
}

fn has(kinds: &[String], want: &[&str]) -> bool {
    want.iter().all(|w| kinds.iter().any(|k| k == w))
}

/// Asserts what the serial log shows once iPXE EFI booted the kernel: the kernel started
/// (EFI stub) and was handed the initrd (`initrd=initrd.img`): the stand-in bytes are not a
/// cpio archive, which only a kernel that got them reports.
fn assert_kernel_got_the_initrd(log: &str) {
    assert!(
        log.contains("Linux version"),
        "the kernel did not start:\n{log}"
    );
    assert!(
        log.contains("Initramfs unpacking failed"),
        "the kernel was not handed the initrd:\n{log}"
    );
}

/// `--dhcp full`: OVMF's own PXE takes the offer, loads Debian's ipxe.efi over TFTP, and
/// iPXE EFI fetches the chain script, a1's boot script, kernel and initrd; the timeline shows
/// each stage, the serial log EDK2's PXE download and the kernel booting with the initrd.
#[test]
fn ovmf_pxe_loads_ipxe_efi_which_fetches_the_boot_script_in_full_mode() {
    if skip() {
        return;
    }
    let c = Cluster::new("rack");
    let dir = tempfile::tempdir().unwrap();
    let tftp = tftp_root(dir.path(), "ipxe.efi");
    let ns = rack(1);
    let full = ["--dhcp", "full", "--range", "192.0.2.100,192.0.2.150"];
    let _serve = serve(&ns, "br0", &c, dir.path(), &tftp, &full);
    let guest = Ovmf::start(&ns, dir.path(), "tap0", A1, &[]);
    let want = ["dhcp", "tftp", "script", "kernel", "initrd"];
    let kinds = wait_for_timeline(
        &dir.path().join("state"),
        A1,
        &want,
        BOUND,
        Duration::from_secs(1),
    );
    let log = guest.wait_for("Initramfs unpacking failed", Duration::from_secs(120));
    assert!(has(&kinds, &want), "timeline {kinds:?}; serial:\n{log}");
    assert!(
        log.contains("Start PXE over IPv4"),
        "not EDK2's PXE:\n{log}"
    );
    assert!(log.contains("NBP file downloaded successfully"), "{log}");
    assert!(log.contains("iPXE 1."), "ipxe.efi did not start:\n{log}");
    assert_kernel_got_the_initrd(&log);
}

/// `--dhcp proxy` beside Debian's dnsmasq as the site's DHCP server (a real peer on the same
/// bridge): EDK2 takes dnsmasq's address, asks the proxy on 4011 for its boot file and loads
/// ipxe.efi from it; iPXE EFI does the same exchange for the script URL and boots the node.
/// The address stays dnsmasq's: it is in dnsmasq's lease file and the proxy leased nothing.
#[test]
fn ovmf_pxe_beside_dnsmasq_boots_in_proxy_mode() {
    if skip() || netns::skip_unless_available(&["dnsmasq"]) {
        return;
    }
    let c = Cluster::new("rack");
    let dir = tempfile::tempdir().unwrap();
    let tftp = tftp_root(dir.path(), "ipxe.efi");
    let site = rack(1);
    let proxy = Netns::new("uproxy");
    netns::veth(&site, "sp0", &proxy, "px0");
    site.ip(&["link", "set", "sp0", "master", "br0"]);
    proxy.ip(&["addr", "add", "192.0.2.2/24", "dev", "px0"]);
    let _site_dhcp = dhcp_support::SiteDhcp::start(&site, dir.path());
    let _serve = serve(&proxy, "px0", &c, dir.path(), &tftp, &["--dhcp", "proxy"]);
    let guest = Ovmf::start(&site, dir.path(), "tap0", A1, &[]);
    let want = ["dhcp", "script", "kernel", "initrd"];
    let kinds = wait_for_timeline(
        &dir.path().join("state"),
        A1,
        &want,
        BOUND,
        Duration::from_secs(1),
    );
    let log = guest.wait_for("Initramfs unpacking failed", Duration::from_secs(120));
    assert!(has(&kinds, &want), "timeline {kinds:?}; serial:\n{log}");
    assert!(log.contains("Server IP address is 192.0.2.2"), "{log}");
    assert!(log.contains("NBP file downloaded successfully"), "{log}");
    let station = log
        .lines()
        .find_map(|l| l.trim().strip_prefix("Station IP address is "))
        .unwrap_or_else(|| panic!("no station address:\n{log}"))
        .to_string();
    let leases = std::fs::read_to_string(dir.path().join("leases")).unwrap();
    assert!(
        leases.contains(&station) && leases.contains(A1),
        "{station} for {A1} is not dnsmasq's lease: {leases}"
    );
    assert!(
        !dir.path().join("state/dhcp-leases.json").exists(),
        "the proxy leased an address"
    );
    assert!(log.contains("iPXE 1."), "ipxe.efi did not start:\n{log}");
    assert_kernel_got_the_initrd(&log);
}

/// UEFI HTTP boot (enabled in Debian's OVMF build): with both PXE boot options turned off
/// through OVMF's fw_cfg switches, the firmware asks as `HTTPClient`, gets the URL of
/// ipxe.efi, loads it over HTTP, and iPXE boots the node as under PXE; no TFTP at all.
#[test]
fn ovmf_http_boot_loads_ipxe_efi_over_http_in_full_mode() {
    if skip() {
        return;
    }
    let c = Cluster::new("rack");
    let dir = tempfile::tempdir().unwrap();
    let tftp = tftp_root(dir.path(), "ipxe.efi");
    let ns = rack(1);
    let full = ["--dhcp", "full", "--range", "192.0.2.100,192.0.2.150"];
    let _serve = serve(&ns, "br0", &c, dir.path(), &tftp, &full);
    let no_pxe = [
        "-fw_cfg",
        "name=opt/org.tianocore/IPv4PXESupport,string=n",
        "-fw_cfg",
        "name=opt/org.tianocore/IPv6PXESupport,string=n",
    ];
    let guest = Ovmf::start(&ns, dir.path(), "tap0", A1, &no_pxe);
    let want = ["dhcp", "script", "kernel", "initrd"];
    let kinds = wait_for_timeline(
        &dir.path().join("state"),
        A1,
        &want,
        BOUND,
        Duration::from_secs(1),
    );
    let log = guest.wait_for("Initramfs unpacking failed", Duration::from_secs(120));
    assert!(has(&kinds, &want), "timeline {kinds:?}; serial:\n{log}");
    assert!(
        !kinds.iter().any(|k| k == "tftp"),
        "TFTP under HTTP boot: {kinds:?}"
    );
    assert!(
        log.contains("Start HTTP Boot over IPv4"),
        "not HTTP boot:\n{log}"
    );
    assert!(
        !log.contains("Start PXE over"),
        "PXE was not turned off:\n{log}"
    );
    assert!(log.contains("iPXE 1."), "ipxe.efi did not start:\n{log}");
    assert_kernel_got_the_initrd(&log);
}
