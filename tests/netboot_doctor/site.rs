//! The site DHCP snippets the doctor prints, checked by the real servers: dnsmasq started with
//! the dnsmasq snippet gives PXE firmware the iPXE build and iPXE the script URL; ISC dhcpd
//! and Kea accept theirs (and reject a broken one, so the check can fail); docs/netboot.md
//! shows exactly what the renderer makes for the placeholder server.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use dhcproto::v4::{DhcpOption, Message, MessageType, OptionCode};
use kateskit::netboot::dhcp::ClientPacket;
use kateskit::netboot::doctor::site::{self, SiteParams};

use crate::dhcp_support::{client_socket, collect, fname, wait_for};
use crate::netns;
use crate::segment::{Proc, Segment, PEER_IP};

fn params() -> SiteParams {
    SiteParams::new(PEER_IP, 8080, "192.0.2.0/24")
}

fn boot_file(m: &Message) -> String {
    match m.opts().get(OptionCode::BootfileName) {
        Some(DhcpOption::BootfileName(b)) => String::from_utf8_lossy(b)
            .trim_end_matches('\0')
            .to_string(),
        _ => fname(m),
    }
}

#[test]
fn docs_show_what_the_renderer_makes() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/netboot.md"))
            .unwrap();
    let (begin, end) = ("<!-- site-dhcp:begin -->\n", "<!-- site-dhcp:end -->");
    let at = doc
        .find(begin)
        .expect("docs/netboot.md has the site-dhcp block")
        + begin.len();
    let block = &doc[at..at + doc[at..].find(end).expect("the block ends")];
    let want = site::markdown(&SiteParams::placeholder());
    assert_eq!(
        block.trim(),
        want.trim(),
        "docs/netboot.md's site-dhcp block must read:\n{want}"
    );
}

#[test]
fn dnsmasq_with_the_snippet_boots_pxe_firmware_and_ipxe() {
    if netns::skip_unless_available(&["dnsmasq"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let seg = Segment::new();
    let log = dir.path().join("dnsmasq.log");
    let conf = dir.path().join("dnsmasq.conf");
    std::fs::write(
        &conf,
        format!(
            "interface=br0\nbind-interfaces\nport=0\nno-resolv\nno-hosts\nuser=root\nlog-dhcp\n\
             dhcp-range=192.0.2.100,192.0.2.150,255.255.255.0,1h\ndhcp-leasefile={}\nlog-facility={}\n{}",
            dir.path().join("leases").display(),
            log.display(),
            site::dnsmasq(&params())
        ),
    )
    .unwrap();
    let child = seg
        .site
        .command("dnsmasq")
        .args([
            "--keep-in-foreground",
            &format!("--conf-file={}", conf.display()),
        ])
        .spawn()
        .unwrap();
    let _d = Proc(child);
    wait_for("dnsmasq to start", Duration::from_secs(10), || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("DHCP, IP range"))
    });
    let clients = [
        (
            "bios",
            ClientPacket::pxe_firmware([0x52, 0x54, 0, 0xd0, 0, 1], 0),
        ),
        (
            "uefi",
            ClientPacket::pxe_firmware([0x52, 0x54, 0, 0xd0, 0, 2], 7),
        ),
        (
            "ipxe",
            ClientPacket::pxe_firmware([0x52, 0x54, 0, 0xd0, 0, 3], 0).user_class(b"iPXE"),
        ),
    ];
    let got = seg
        .doctor
        .spawn(move || {
            let s = client_socket("dr0");
            clients
                .iter()
                .map(|(k, p)| {
                    s.send_to(&p.bytes(MessageType::Discover), "255.255.255.255:67")
                        .unwrap();
                    (*k, collect(&s, p.xid, Duration::from_secs(5), 1))
                })
                .collect::<Vec<_>>()
        })
        .join()
        .unwrap();
    let server: Ipv4Addr = PEER_IP.parse().unwrap();
    for (kind, replies) in got {
        assert_eq!(replies.len(), 1, "{kind}: one offer");
        let m = &replies[0].1;
        match kind {
            "bios" => assert_eq!((boot_file(m), m.siaddr()), ("undionly.kpxe".into(), server)),
            "uefi" => assert_eq!((boot_file(m), m.siaddr()), ("ipxe.efi".into(), server)),
            _ => assert_eq!(boot_file(m), params().script_url),
        }
    }
    // The doctor sees a DHCP server naming boot files, already pointing at the netboot server.
    let (r, code) = seg.report(&["--wait", "5", "--server", PEER_IP]);
    assert_eq!(code, 0, "{r:#}");
    let s = crate::segment::with_role(&r, "dhcp_server_with_boot_file");
    assert_eq!(s.len(), 1, "{r:#}");
    let files: Vec<&str> = s[0]["offers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["boot_file"].as_str().unwrap())
        .collect();
    assert!(
        files.contains(&"undionly.kpxe") && files.contains(&"ipxe.efi"),
        "{files:?}"
    );
    let texts = r["verdict"]["findings"].to_string();
    assert!(
        texts.contains(&format!("already points PXE clients at {PEER_IP}")),
        "{texts}"
    );
}

/// Runs a config checker; returns (success, output).
fn check(cmd: &mut Command) -> (bool, String) {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

fn isc_conf(snippet: &str) -> String {
    format!(
        "ddns-update-style none;\nauthoritative;\n{snippet}\
         subnet 192.0.2.0 netmask 255.255.255.0 {{\n  range 192.0.2.100 192.0.2.150;\n}}\n"
    )
}

fn kea_conf(classes: &str) -> String {
    format!(
        "{{ \"Dhcp4\": {{\n  \"interfaces-config\": {{ \"interfaces\": [] }},\n  \
         \"lease-database\": {{ \"type\": \"memfile\", \"persist\": false }},\n  \
         \"subnet4\": [ {{ \"id\": 1, \"subnet\": \"192.0.2.0/24\", \"pools\": [ {{ \"pool\": \"192.0.2.100 - 192.0.2.150\" }} ] }} ],\n  \
         \"client-classes\": [\n{classes}  ]\n}} }}\n"
    )
}

#[test]
fn isc_dhcpd_and_kea_accept_the_rendered_configs() {
    if netns::skip_unless_available(&["dhcpd", "kea-dhcp4"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = params();
    let isc = site::isc(&p);
    let broken = isc.replacen("filename \"ipxe.efi\";", "filename \"ipxe.efi\"", 1);
    for (name, text, ok) in [("ok", isc.clone(), true), ("broken", broken, false)] {
        let f = dir.path().join(format!("dhcpd-{name}.conf"));
        std::fs::write(&f, isc_conf(&text)).unwrap();
        let (good, out) = check(
            Command::new("dhcpd")
                .args(["-4", "-t", "-q", "-cf"])
                .arg(&f),
        );
        assert_eq!(
            good,
            ok,
            "dhcpd -t on the {name} config:\n{}\n{out}",
            isc_conf(&text)
        );
    }
    let kea = site::kea(&p);
    let broken = kea.replacen("== 0x0000", "=== 0x0000", 1);
    for (name, text, ok) in [("ok", kea.clone(), true), ("broken", broken, false)] {
        let f = dir.path().join(format!("kea-{name}.json"));
        std::fs::write(&f, kea_conf(&text)).unwrap();
        let (good, out) = check(Command::new("kea-dhcp4").arg("-t").arg(&f));
        assert_eq!(
            good,
            ok,
            "kea-dhcp4 -t on the {name} config:\n{}\n{out}",
            kea_conf(&text)
        );
    }
}
