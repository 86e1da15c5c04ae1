//! `kateskit netboot serve` with UEFI HTTP boot (built into Debian's OVMF): the firmware asks
//! DHCP as `HTTPClient`, loads iPXE EFI over HTTP and iPXE boots the agent as under PXE.
//! OVMF's PXE boot options come first in its boot order, so they are turned off with its
//! fw_cfg switches. Needs root, iproute2, qemu-system-x86, ovmf, ipxe, busybox, cpio, dnsmasq.

mod agent_support;
mod dhcp_support;
mod fleet_support;
mod netns;
mod serve_support;

use agent_support::Cluster;
use serve_support::uefi::{
    assert_agent_ran, boot_a4, ovmf, proxy_rack, rack, serve, skip, tftp_root, A4,
};

/// QEMU arguments that leave OVMF only its HTTP boot options.
const NO_PXE: [&str; 4] = [
    "-fw_cfg",
    "name=opt/org.tianocore/IPv4PXESupport,string=n",
    "-fw_cfg",
    "name=opt/org.tianocore/IPv6PXESupport,string=n",
];

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
    let mut guest = ovmf(&ns, dir.path(), "tap0", A4, &NO_PXE);
    let want = ["dhcp", "script", "kernel", "initrd", "config", "phase"];
    let (kinds, log) = boot_a4(dir.path(), &mut guest, &want);
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

/// UEFI HTTP boot under `--dhcp proxy` beside dnsmasq: the firmware takes dnsmasq's address
/// and the proxy's `HTTPClient` offer with the URL of ipxe.efi, then boots as above.
#[test]
fn ovmf_http_boot_beside_dnsmasq_in_proxy_mode() {
    if skip() || netns::skip_unless_available(&["dnsmasq"]) {
        return;
    }
    let c = Cluster::new("rack");
    let dir = tempfile::tempdir().unwrap();
    let tftp = tftp_root(dir.path(), "ipxe.efi");
    let (site, proxy) = proxy_rack();
    let _site_dhcp = dhcp_support::SiteDhcp::start(&site, dir.path());
    let _serve = serve(&proxy, "px0", &c, dir.path(), &tftp, &["--dhcp", "proxy"]);
    let mut guest = ovmf(&site, dir.path(), "tap0", A4, &NO_PXE);
    let want = ["dhcp", "script", "kernel", "initrd", "config", "phase"];
    let (_, log) = boot_a4(dir.path(), &mut guest, &want);
    assert!(
        log.contains("Start HTTP Boot over IPv4"),
        "not HTTP boot:\n{log}"
    );
    assert!(log.contains("iPXE 1."), "ipxe.efi did not start:\n{log}");
    assert_agent_ran(&log);
}
