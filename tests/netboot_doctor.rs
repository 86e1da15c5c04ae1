//! `kateskit netboot doctor` on a bridged segment of network namespaces (192.0.2.0/24):
//! Debian's dnsmasq as the site DHCP server, a second dnsmasq or `kateskit netboot serve` as a
//! ProxyDHCP, a silent segment, held ports, bad input; and (site.rs) the rendered site DHCP
//! snippets checked by dnsmasq, ISC dhcpd and Kea themselves. Needs root, iproute2, dnsmasq,
//! python3, isc-dhcp-server and kea-dhcp4-server.

mod agent_support;
mod dhcp_support;
mod fleet_support;
mod netns;
mod serve_support;

#[path = "netboot_doctor/segment.rs"]
mod segment;
#[path = "netboot_doctor/site.rs"]
mod site;

use dhcp_support::SiteDhcp;
use segment::{hold_udp, proxy_dnsmasq, with_role, Segment, PEER_IP};

#[test]
fn site_dhcp_and_a_proxy_dnsmasq_are_both_listed_and_the_proxy_conflicts() {
    if netns::skip_unless_available(&["dnsmasq"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let seg = Segment::new();
    let _site = SiteDhcp::start(&seg.site, dir.path());
    let _proxy = proxy_dnsmasq(&seg.peer, dir.path());
    let (r, code) = seg.report(&["--wait", "5"]);
    assert_eq!(code, 1, "another ProxyDHCP is a conflict: {r:#}");
    let servers = with_role(&r, "dhcp_server");
    assert_eq!(servers.len(), 1, "{r:#}");
    assert_eq!(servers[0]["server_id"], "192.0.2.1");
    assert_eq!(servers[0]["source"], "192.0.2.1:67");
    for o in servers[0]["offers"].as_array().unwrap() {
        let ip: std::net::Ipv4Addr = o["offered"].as_str().unwrap().parse().unwrap();
        assert!((100..=150).contains(&ip.octets()[3]), "{o}");
    }
    let proxies = with_role(&r, "proxy_dhcp");
    assert_eq!(proxies.len(), 1, "{r:#}");
    let p = proxies[0];
    assert_eq!(
        p["source"].as_str().unwrap().split(':').next(),
        Some(PEER_IP)
    );
    let offers = p["offers"].as_array().unwrap();
    assert_eq!(offers.len(), 2, "one reply per firmware: {p:#}");
    for o in offers {
        assert!(o["offered"].is_null(), "a proxy offers no address: {o}");
        assert_eq!(o["vendor_class"], "PXEClient");
    }
    let bios = offers.iter().find(|o| o["probe"] == "bios").unwrap();
    assert_eq!(bios["boot_menu"][0], 0x8000, "dnsmasq's BIOS menu: {p:#}");
    assert_eq!(
        p["port_4011"]["answered"], true,
        "asked for the menu's type: {p:#}"
    );
    assert_eq!(p["port_4011"]["boot_file"], "undionly.0");
    assert_eq!(r["verdict"]["conflict"], true);
    let texts = r["verdict"]["findings"].to_string();
    assert!(
        texts.contains("another ProxyDHCP") && texts.contains(PEER_IP),
        "{texts}"
    );
    let mac = r["probe_mac"].as_str().unwrap();
    let first: u8 = u8::from_str_radix(&mac[..2], 16).unwrap();
    assert_eq!(
        first & 0x03,
        0x02,
        "a locally administered unicast MAC: {mac}"
    );
    // Never a REQUEST to the site server: dnsmasq holds no lease for the probe's MAC.
    let leases = std::fs::read_to_string(dir.path().join("leases")).unwrap_or_default();
    assert!(!leases.contains(mac), "{leases}");
}

#[test]
fn netboot_serve_in_proxy_mode_is_found_with_its_boot_files() {
    if netns::skip_unless_available(&["dnsmasq", "curl"]) {
        return;
    }
    let c = agent_support::Cluster::new("rack");
    let dir = tempfile::tempdir().unwrap();
    let (art, tftp, _) = serve_support::artifacts(dir.path());
    let seg = Segment::new();
    let _site = SiteDhcp::start(&seg.site, dir.path());
    let mut cmd = seg
        .peer
        .command(assert_cmd::cargo::cargo_bin("kateskit").to_str().unwrap());
    cmd.args(["netboot", "serve", "--interface", "px0", "--dhcp", "proxy"])
        .args(["--unknown", "pending", "--cluster"])
        .arg(c.dir.path())
        .arg("--artifacts")
        .arg(&art)
        .arg("--tftp-root")
        .arg(&tftp)
        .arg("--state")
        .arg(dir.path().join("state"));
    let _serve = serve_support::Serve::start(cmd);
    let (r, code) = seg.report(&["--wait", "5"]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(with_role(&r, "dhcp_server").len(), 1, "{r:#}");
    let proxies = with_role(&r, "proxy_dhcp");
    assert_eq!(proxies.len(), 1, "{r:#}");
    let p = proxies[0];
    assert_eq!(p["server_id"], PEER_IP);
    let file = |fw: &str| {
        p["offers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["probe"] == fw)
            .cloned()
            .unwrap_or_else(|| panic!("no {fw} reply: {p:#}"))
    };
    assert_eq!(file("bios")["boot_file"], "undionly.kpxe");
    assert_eq!(file("bios")["option_43"], true, "BIOS: skip discovery");
    assert_eq!(file("uefi")["option_43"], false, "UEFI: the 4011 route");
    assert_eq!(p["port_4011"]["answered"], true, "{p:#}");
    assert_eq!(p["port_4011"]["boot_file"], "ipxe.efi");
}

#[test]
fn netboot_serve_on_this_host_is_recognised_and_no_conflict() {
    if netns::skip_unless_available(&[]) {
        return;
    }
    let c = agent_support::Cluster::new("rack");
    let dir = tempfile::tempdir().unwrap();
    let (art, tftp, _) = serve_support::artifacts(dir.path());
    let seg = Segment::new();
    let mut cmd = seg
        .doctor
        .command(assert_cmd::cargo::cargo_bin("kateskit").to_str().unwrap());
    cmd.args(["netboot", "serve", "--interface", "dr0", "--dhcp", "proxy"])
        .args(["--unknown", "pending", "--cluster"])
        .arg(c.dir.path())
        .arg("--artifacts")
        .arg(&art)
        .arg("--tftp-root")
        .arg(&tftp)
        .arg("--state")
        .arg(dir.path().join("state"));
    let serve = serve_support::Serve::start(cmd);
    let pid = serve.child.id();
    let (r, code) = seg.report(&["--wait", "2"]);
    assert_eq!(code, 0, "our own server is no conflict: {r:#}");
    for p in r["ports"].as_array().unwrap() {
        assert_eq!(p["holders"][0]["process"], "kateskit", "{p}");
        assert_eq!(p["holders"][0]["pid"], pid, "{p}");
    }
    let http = r["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["port"] == 8080)
        .unwrap();
    assert_eq!(http["netboot_serve"], true, "{http}");
    let own = with_role(&r, "proxy_dhcp");
    assert_eq!(own.len(), 1, "{r:#}");
    assert_eq!(own[0]["local"], true);
    // No site DHCP server on this segment: a ProxyDHCP alone cannot boot anything.
    assert_eq!(r["verdict"]["mode"], "full");
}

#[test]
fn a_silent_segment_advises_full_mode() {
    if netns::skip_unless_available(&[]) {
        return;
    }
    let seg = Segment::new();
    let o = seg.doctor(&["--wait", "1"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("responders:\n  none"), "{out}");
    assert!(
        out.contains("no DHCP server answered within 1.0 s") && out.contains("--dhcp full"),
        "{out}"
    );
    assert!(
        out.contains("next-server=192.0.2.10"),
        "the snippets name the server: {out}"
    );
    let (r, code) = seg.report(&["--wait", "0.5", "--server", "198.51.100.9"]);
    assert_eq!(code, 0);
    assert_eq!(r["verdict"]["mode"], "full");
    assert_eq!(r["server"], "198.51.100.9");
    let dnsmasq = r["site_configs"][0]["text"].as_str().unwrap();
    assert!(
        dnsmasq.contains("http://198.51.100.9:8080/boot.ipxe"),
        "{dnsmasq}"
    );
    let (r, _) = seg.report(&["--wait", "0.5", "--mac", "52-54-00-0B-00-01"]);
    assert_eq!(
        r["probe_mac"], "52:54:00:0b:00:01",
        "a MAC cluster.toml knows"
    );
    let o = seg.doctor(&["--mac", "52:54:zz:00:00:01"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("52:54:zz:00:00:01"));
    assert!(!o.status.success());
}

#[test]
fn held_ports_name_the_process() {
    if netns::skip_unless_available(&["python3"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let seg = Segment::new();
    let holder = hold_udp(&seg.doctor, 69, dir.path());
    let pid = holder.0.id();
    let (r, code) = seg.report(&["--wait", "0.5"]);
    assert_eq!(code, 1, "a held TFTP port is a conflict: {r:#}");
    let tftp = r["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["port"] == 69)
        .unwrap();
    assert_eq!(tftp["proto"], "udp");
    assert_eq!(tftp["holders"][0]["pid"], pid, "{tftp}");
    assert_eq!(tftp["holders"][0]["process"], "python3");
    let free = r["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["port"] == 67)
        .unwrap();
    assert!(free["holders"].as_array().unwrap().is_empty(), "{free}");
    drop(holder);

    // A DHCP client's port: the probe cannot run, and the error says who holds it.
    let _dhclient = hold_udp(&seg.doctor, 68, dir.path());
    let o = seg.doctor(&["--wait", "0.5"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("UDP port 68 on dr0 is held by python3 (pid")
            && err.contains("Stop that DHCP client"),
        "{err}"
    );
}

#[test]
fn a_missing_interface_or_one_without_ipv4_is_a_clear_error() {
    let o = serve_support::kateskit()
        .args(["netboot", "doctor", "--interface", "kk-nonesuch0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("interface kk-nonesuch0 does not exist"),
        "{err}"
    );
    if netns::skip_unless_available(&[]) {
        return;
    }
    let (a, b) = (Netns::new("dnoip"), Netns::new("dnoip2"));
    netns::veth(&a, "na0", &b, "nb0");
    let o = a
        .command(assert_cmd::cargo::cargo_bin("kateskit").to_str().unwrap())
        .args(["netboot", "doctor", "--interface", "na0", "--wait", "0.5"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("na0 has no IPv4 address") && err.contains("--server IP"),
        "{err}"
    );
    let o = a
        .command(assert_cmd::cargo::cargo_bin("kateskit").to_str().unwrap())
        .args(["netboot", "doctor", "--interface", "na0", "--wait", "0.5"])
        .args(["--server", "192.0.2.5", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(r["interface_ip"].is_null());
}

use netns::Netns;
