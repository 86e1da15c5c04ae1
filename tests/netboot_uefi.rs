//! `kateskit netboot serve` with UEFI PXE: Debian's OVMF (the 4M images, QEMU TCG) with EDK2's
//! own network stack (virtio-net without an option ROM, so EDK2's VirtioNetDxe, SNP and PXE
//! base code boot it, not an iPXE ROM) on a bridge in a namespace (192.0.2.0/24). EDK2 loads
//! an iPXE EFI build over TFTP, and iPXE fetches the scripts, kernel and initrd over HTTP.
//! Needs root, iproute2, qemu-system-x86, ovmf, ipxe, busybox, cpio and dnsmasq.

mod agent_support;
mod dhcp_support;
mod fleet_support;
mod netns;
mod serve_support;

use agent_support::Cluster;
use serve_support::uefi::{
    assert_agent_ran, boot_a4, ovmf, proxy_rack, rack, serve, skip, tftp_root, A4,
};

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
    let (_, log) = boot_a4(dir.path(), &mut guest, &want);
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
    let (site, proxy) = proxy_rack();
    let _site_dhcp = dhcp_support::SiteDhcp::start(&site, dir.path());
    let _serve = serve(&proxy, "px0", &c, dir.path(), &tftp, &["--dhcp", "proxy"]);
    let mut guest = ovmf(&site, dir.path(), "tap0", A4, &[]);
    let want = ["dhcp", "script", "kernel", "initrd", "config", "phase"];
    let (_, log) = boot_a4(dir.path(), &mut guest, &want);
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
