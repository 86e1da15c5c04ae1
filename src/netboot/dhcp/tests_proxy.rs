//! ProxyDHCP rules, one test per rule.

use std::net::Ipv4Addr;

use dhcproto::v4::{MessageType, OptionCode};

use super::test_support::*;
use super::*;

fn proxy(unknown: UnknownPolicy) -> Responder {
    Responder::new(config(Mode::Proxy, unknown)).unwrap()
}

#[test]
fn bios_offer_has_no_address_option_43_and_the_undi_build() {
    let mut r = proxy(UnknownPolicy::Ignore);
    let o = ask(
        &mut r,
        &ClientPacket::pxe_firmware(KNOWN, 0),
        MessageType::Discover,
        Port::Dhcp,
    );
    let m = wire_reply(&o);
    assert_eq!(o.reply.as_ref().unwrap().to, ReplyTo::Broadcast(68));
    assert_eq!(m.opts().msg_type(), Some(MessageType::Offer));
    assert_eq!(m.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(m.siaddr(), SERVER);
    assert_eq!(file(&m), "undionly.kpxe");
    assert_eq!(
        bytes_opt(&m, OptionCode::ClassIdentifier).unwrap(),
        b"PXEClient"
    );
    assert_eq!(
        bytes_opt(&m, OptionCode::VendorExtensions).unwrap(),
        [6, 1, 8, 255]
    );
    assert_eq!(
        bytes_opt(&m, OptionCode::TFTPServerName).unwrap(),
        b"192.0.2.1"
    );
    assert!(opt(&m, OptionCode::ServerIdentifier).is_some());
    assert!(
        opt(&m, OptionCode::AddressLeaseTime).is_none(),
        "a proxy never leases"
    );
    assert_eq!(m.xid(), ClientPacket::pxe_firmware(KNOWN, 0).xid);
}

#[test]
fn uefi_offer_has_no_option_43_so_firmware_asks_port_4011() {
    let mut r = proxy(UnknownPolicy::Ignore);
    let m = wire_reply(&ask(
        &mut r,
        &ClientPacket::pxe_firmware(KNOWN, 7),
        MessageType::Discover,
        Port::Dhcp,
    ));
    assert_eq!(file(&m), "ipxe.efi");
    assert_eq!(
        bytes_opt(&m, OptionCode::ClassIdentifier).unwrap(),
        b"PXEClient"
    );
    assert!(opt(&m, OptionCode::VendorExtensions).is_none());
}

#[test]
fn port_4011_request_gets_an_ack_with_the_file_unicast_back() {
    let mut r = proxy(UnknownPolicy::Ignore);
    let ip = Ipv4Addr::new(192, 0, 2, 150);
    let p = ClientPacket::pxe_firmware(KNOWN, 7)
        .ciaddr(ip)
        .server_id(SERVER);
    let o = ask(&mut r, &p, MessageType::Request, Port::Pxe);
    let m = wire_reply(&o);
    assert_eq!(m.opts().msg_type(), Some(MessageType::Ack));
    assert_eq!(
        o.reply.unwrap().to,
        ReplyTo::Unicast(std::net::SocketAddrV4::new(ip, 4011))
    );
    assert_eq!(file(&m), "ipxe.efi");
    assert_eq!(m.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert!(
        opt(&m, OptionCode::VendorExtensions).is_none(),
        "no boot item asked, none echoed"
    );
    let m = wire_reply(&ask(
        &mut r,
        &p.pxe_boot_item(),
        MessageType::Request,
        Port::Pxe,
    ));
    assert_eq!(
        bytes_opt(&m, OptionCode::VendorExtensions).unwrap(),
        [71, 4, 0, 0, 0, 0, 255]
    );
}

#[test]
fn request_on_port_67_belongs_to_the_site_server() {
    let mut r = proxy(UnknownPolicy::Ignore);
    let p = ClientPacket::pxe_firmware(KNOWN, 0).server_id(Ipv4Addr::new(192, 0, 2, 254));
    let o = ask(&mut r, &p, MessageType::Request, Port::Dhcp);
    assert!(o.reply.is_none());
    assert_eq!(kinds(&o), [EventKind::Request]);
}

#[test]
fn http_boot_gets_httpclient_and_an_http_url() {
    let mut r = proxy(UnknownPolicy::Ignore);
    let p = ClientPacket::new(KNOWN)
        .vendor_class("HTTPClient:Arch:00016:UNDI:003001")
        .arch(16);
    let m = wire_reply(&ask(&mut r, &p, MessageType::Discover, Port::Dhcp));
    assert_eq!(
        bytes_opt(&m, OptionCode::ClassIdentifier).unwrap(),
        b"HTTPClient"
    );
    assert_eq!(file(&m), "http://192.0.2.1:8080/ipxe/ipxe.efi");
    assert_eq!(
        bytes_opt(&m, OptionCode::BootfileName).unwrap(),
        b"http://192.0.2.1:8080/ipxe/ipxe.efi"
    );
    assert!(opt(&m, OptionCode::VendorExtensions).is_none());
}

#[test]
fn ipxe_gets_the_script_url_never_the_binary_again() {
    let mut r = proxy(UnknownPolicy::Ignore);
    for (class, arch, want) in [
        (
            &b"iPXE"[..],
            0,
            "http://192.0.2.1:8080/boot.ipxe?mac=52-54-00-00-00-01&arch=i386",
        ),
        (
            b"kateskit",
            7,
            "http://192.0.2.1:8080/boot.ipxe?mac=52-54-00-00-00-01&arch=x86_64",
        ),
    ] {
        let p = ClientPacket::pxe_firmware(KNOWN, arch).user_class(class);
        let o = ask(&mut r, &p, MessageType::Discover, Port::Dhcp);
        let m = wire_reply(&o);
        assert_eq!(file(&m), want);
        // iPXE takes a proxy offer only with a next-server and a boot file (dhcp_has_pxeopts).
        assert_eq!(m.siaddr(), SERVER);
        assert_eq!(
            bytes_opt(&m, OptionCode::ClassIdentifier).unwrap(),
            b"PXEClient"
        );
        assert_eq!(o.events[1].boot.as_deref(), Some(want));
        // The same client on port 4011 (iPXE's ProxyDHCPREQUEST) gets the same script, and
        // the ACK too needs the next-server: iPXE EFI ignored it without one.
        let p = p.ciaddr(Ipv4Addr::new(192, 0, 2, 150));
        let ack = wire_reply(&ask(&mut r, &p, MessageType::Request, Port::Pxe));
        assert_eq!(file(&ack), want);
        assert_eq!(ack.siaddr(), SERVER);
    }
}

#[test]
fn option_97_is_mirrored_only_when_sent() {
    let mut r = proxy(UnknownPolicy::Ignore);
    let bare = ClientPacket::new(KNOWN).vendor_class("PXEClient").arch(0);
    let m = wire_reply(&ask(&mut r, &bare, MessageType::Discover, Port::Dhcp));
    assert!(opt(&m, OptionCode::ClientMachineIdentifier).is_none());
    let m = wire_reply(&ask(
        &mut r,
        &bare.clone().machine_id(&[]),
        MessageType::Discover,
        Port::Dhcp,
    ));
    assert_eq!(
        bytes_opt(&m, OptionCode::ClientMachineIdentifier).unwrap(),
        b""
    );
    let full = ClientPacket::pxe_firmware(KNOWN, 0);
    let m = wire_reply(&ask(&mut r, &full, MessageType::Discover, Port::Dhcp));
    let sent = full.discover();
    assert_eq!(
        opt(&m, OptionCode::ClientMachineIdentifier),
        sent.opts().get(OptionCode::ClientMachineIdentifier)
    );
}

#[test]
fn plain_clients_get_nothing_and_leave_no_events() {
    let mut r = proxy(UnknownPolicy::Pending);
    for p in [
        ClientPacket::new(KNOWN),
        ClientPacket::new(KNOWN).vendor_class("PXEClient:Arch:00000"),
        ClientPacket::new(KNOWN)
            .vendor_class("udhcp 1.35.0")
            .arch(0),
    ] {
        let o = ask(&mut r, &p, MessageType::Discover, Port::Dhcp);
        assert!(o.reply.is_none() && o.events.is_empty());
    }
    assert_eq!(r.stats().not_pxe, 3);
    assert_eq!(r.stats().answered, 0);
}

#[test]
fn unknown_machines_per_policy() {
    let p = ClientPacket::pxe_firmware(STRANGER, 0);
    let mut r = proxy(UnknownPolicy::Ignore);
    let o = ask(&mut r, &p, MessageType::Discover, Port::Dhcp);
    assert!(o.reply.is_none());
    assert_eq!(
        kinds(&o),
        [
            EventKind::Discover,
            EventKind::Ignored("unknown machine (policy ignore)".into())
        ]
    );
    assert!(ask(
        &mut r,
        &p.clone().ciaddr(Ipv4Addr::new(192, 0, 2, 9)),
        MessageType::Request,
        Port::Pxe
    )
    .reply
    .is_none());
    let mut r = proxy(UnknownPolicy::Pending);
    let o = ask(&mut r, &p, MessageType::Discover, Port::Dhcp);
    assert_eq!(file(&wire_reply(&o)), "undionly.kpxe");
    assert_eq!(kinds(&o), [EventKind::Discover, EventKind::Offer]);
    assert!(o
        .events
        .iter()
        .all(|e| !e.known && e.mac == MacAddr(STRANGER)));
}

#[test]
fn approval_through_the_shared_set_takes_effect_on_the_next_packet() {
    let known = std::sync::Arc::new(std::sync::RwLock::new(std::collections::HashSet::new()));
    let mut cfg = config(Mode::Proxy, UnknownPolicy::Ignore);
    cfg.known = known.clone();
    let mut r = Responder::new(cfg).unwrap();
    let p = ClientPacket::pxe_firmware(STRANGER, 7);
    assert!(ask(&mut r, &p, MessageType::Discover, Port::Dhcp)
        .reply
        .is_none());
    known.write().unwrap().insert(MacAddr(STRANGER));
    assert!(ask(&mut r, &p, MessageType::Discover, Port::Dhcp)
        .reply
        .is_some());
}

#[test]
fn unsupported_firmware_is_ignored_by_name() {
    let mut r = proxy(UnknownPolicy::Pending);
    let p = ClientPacket::new(KNOWN).vendor_class("PXEClient").arch(14);
    let o = ask(&mut r, &p, MessageType::Discover, Port::Dhcp);
    assert!(o.reply.is_none());
    assert_eq!(
        o.events[1].kind,
        EventKind::Ignored("architecture 14 (POWER OPAL v3) has no iPXE build".into())
    );
    assert_eq!(o.events[1].arch.map(|a| a.code), Some(14));
}

#[test]
fn file_names_can_be_overridden_per_build() {
    let mut cfg = config(Mode::Proxy, UnknownPolicy::Ignore);
    cfg.boot
        .files
        .insert(IpxeBuild::EfiX64, "snponly.efi".into());
    let mut r = Responder::new(cfg).unwrap();
    let m = wire_reply(&ask(
        &mut r,
        &ClientPacket::pxe_firmware(KNOWN, 7),
        MessageType::Discover,
        Port::Dhcp,
    ));
    assert_eq!(file(&m), "snponly.efi");
}

#[test]
fn malformed_packets_are_counted_not_answered() {
    let mut r = proxy(UnknownPolicy::Pending);
    let mut b = ClientPacket::pxe_firmware(KNOWN, 0).bytes(MessageType::Discover);
    b.truncate(245);
    let src = std::net::SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68);
    for bytes in [&b[..], &[0u8; 3][..], &b[..200]] {
        let o = r.handle_bytes(bytes, Port::Dhcp, src, now());
        assert!(o.reply.is_none() && o.events.is_empty());
    }
    assert_eq!(r.stats().malformed, 3);
}

#[test]
fn long_urls_go_in_option_67_only() {
    let mut cfg = config(Mode::Proxy, UnknownPolicy::Ignore);
    cfg.boot.script_url = format!("http://192.0.2.1:8080/{}?mac={{mac}}", "x".repeat(150));
    let mut r = Responder::new(cfg).unwrap();
    let p = ClientPacket::pxe_firmware(KNOWN, 7).user_class(b"iPXE");
    let m = wire_reply(&ask(&mut r, &p, MessageType::Discover, Port::Dhcp));
    assert_eq!(file(&m), "");
    assert!(
        String::from_utf8(bytes_opt(&m, OptionCode::BootfileName).unwrap())
            .unwrap()
            .ends_with("mac=52-54-00-00-00-01")
    );
}
