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
use std::time::Duration;

use agent_support::Cluster;
use netns::Netns;
use serve_support::guest::{self, Firmware, Guest, GuestOpts};
use serve_support::{wait_for_timeline, Serve};

/// a4 of the rack example: an agent without OSD disks, reserved at 192.0.2.24.
const A4: &str = "52:54:00:0b:00:04";

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

/// An OVMF guest on `tap`: the 4M images (a writable copy of the vars), virtio-net without
/// an option ROM (so EDK2's own VirtioNetDxe, SNP and PXE drive it), first in the boot order.
fn ovmf(ns: &Netns, dir: &Path, tap: &str, mac: &str, extra: &[&str]) -> Guest {
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

/// `netboot serve` in `ns` on `iface` with `tftp` as TFTP root and the shared guest fixture's
/// artifacts: Debian's kernel (an EFI-stub image, so iPXE EFI accepts it) and the initramfs
/// running the real agent, which reports on the serial console.
fn serve(ns: &Netns, iface: &str, c: &Cluster, dir: &Path, tftp: &Path, extra: &[&str]) -> Serve {
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
        .args(["--karg", "kateskit.agent.verify_join=false"]);
    Serve::start(cmd)
}

fn has(kinds: &[String], want: &[&str]) -> bool {
    want.iter().all(|w| kinds.iter().any(|k| k == w))
}

/// Asserts what the serial log shows once iPXE EFI booted the kernel: the initramfs' /init ran
/// (so the EFI-stub kernel was handed the initrd: `initrd=initrd.img`), the agent fetched a4's
/// config over the pinned HTTPS endpoint and finished ok.
fn assert_agent_ran(log: &str) {
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

/// `--dhcp full`: OVMF's own PXE takes the offer and loads Debian's iPXE `build` over TFTP
/// (served as `ipxe.efi`); iPXE EFI drives the NIC through EDK2's SNP and fetches the chain
/// script, a4's boot script, kernel and initrd; the agent runs and reports; the timeline shows
/// each stage and the serial log EDK2's PXE download.
fn full_mode_pxe_boots(build: &str) {
    if skip() {
        return;
    }
    let c = Cluster::new("rack");
    let dir = tempfile::tempdir().unwrap();
    let tftp = tftp_root(dir.path(), build);
    let ns = rack(1);
    let full = ["--dhcp", "full", "--range", "192.0.2.100,192.0.2.150"];
    let _serve = serve(&ns, "br0", &c, dir.path(), &tftp, &full);
    let mut guest = ovmf(&ns, dir.path(), "tap0", A4, &[]);
    let want = [
        "dhcp", "tftp", "script", "kernel", "initrd", "config", "phase",
    ];
    let kinds = wait_for_timeline(
        &dir.path().join("state"),
        A4,
        &want,
        BOUND,
        Duration::from_secs(1),
    );
    let (log, _) = guest.wait_for("==DONE==", Duration::from_secs(240));
    assert!(has(&kinds, &want), "timeline {kinds:?}; serial:\n{log}");
    assert!(
        log.contains("Start PXE over IPv4"),
        "not EDK2's PXE:\n{log}"
    );
    assert!(log.contains("NBP file downloaded successfully"), "{log}");
    assert!(log.contains("iPXE 1."), "{build} did not start:\n{log}");
    assert!(
        log.contains("using SNP on SNP-"),
        "not over EDK2's SNP:\n{log}"
    );
    assert_agent_ran(&log);
}

/// Debian's full `ipxe.efi` (its own drivers, which leave this NIC to EDK2's SNP).
#[test]
fn ovmf_pxe_loads_ipxe_efi_which_fetches_the_boot_script_in_full_mode() {
    full_mode_pxe_boots("ipxe.efi");
}

/// Debian's `snponly.efi`, which has no NIC drivers at all and always uses the firmware's SNP.
#[test]
fn ovmf_pxe_loads_snponly_efi_which_boots_the_same_way() {
    full_mode_pxe_boots("snponly.efi");
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
    let mut guest = ovmf(&site, dir.path(), "tap0", A4, &[]);
    let want = ["dhcp", "script", "kernel", "initrd", "config", "phase"];
    let kinds = wait_for_timeline(
        &dir.path().join("state"),
        A4,
        &want,
        BOUND,
        Duration::from_secs(1),
    );
    let (log, _) = guest.wait_for("==DONE==", Duration::from_secs(240));
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
        leases.contains(&station) && leases.contains(A4),
        "{station} for {A4} is not dnsmasq's lease: {leases}"
    );
    assert!(
        !dir.path().join("state/dhcp-leases.json").exists(),
        "the proxy leased an address"
    );
    assert!(log.contains("iPXE 1."), "ipxe.efi did not start:\n{log}");
    assert_agent_ran(&log);
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
    let mut guest = ovmf(&ns, dir.path(), "tap0", A4, &no_pxe);
    let want = ["dhcp", "script", "kernel", "initrd", "config", "phase"];
    let kinds = wait_for_timeline(
        &dir.path().join("state"),
        A4,
        &want,
        BOUND,
        Duration::from_secs(1),
    );
    let (log, _) = guest.wait_for("==DONE==", Duration::from_secs(240));
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
    assert_agent_ran(&log);
}
