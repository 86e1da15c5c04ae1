//! Full DHCP rules (RFC 2131), lease persistence and reservations.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use dhcproto::v4::{DhcpOption, MessageType, OptionCode};

use super::test_support::*;
use super::*;

const RESERVED_MAC: [u8; 6] = [0x52, 0x54, 0, 0, 0, 0x50];

fn full(dir: &std::path::Path, unknown: UnknownPolicy) -> Responder {
    Responder::new(config(Mode::Full(full_config(dir)), unknown)).unwrap()
}

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, last)
}

/// DISCOVER, then REQUEST of what was offered; returns the ACKed address.
fn lease(r: &mut Responder, p: &ClientPacket) -> Ipv4Addr {
    let offer = wire_reply(&ask(r, p, MessageType::Discover, Port::Dhcp));
    let req = p.clone().requested_ip(offer.yiaddr()).server_id(SERVER);
    let ack = wire_reply(&ask(r, &req, MessageType::Request, Port::Dhcp));
    assert_eq!(ack.opts().msg_type(), Some(MessageType::Ack));
    assert_eq!(ack.yiaddr(), offer.yiaddr());
    ack.yiaddr()
}

#[test]
fn offer_and_ack_carry_the_lease_options() {
    let d = tempfile::tempdir().unwrap();
    let mut r = full(d.path(), UnknownPolicy::Ignore);
    let p = ClientPacket::new(KNOWN);
    let o = ask(&mut r, &p, MessageType::Discover, Port::Dhcp);
    let m = wire_reply(&o);
    assert_eq!(o.reply.as_ref().unwrap().to, ReplyTo::Broadcast(68));
    assert_eq!(m.yiaddr(), ip(100));
    assert_eq!(
        opt(&m, OptionCode::SubnetMask),
        Some(&DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)))
    );
    assert_eq!(
        opt(&m, OptionCode::Router),
        Some(&DhcpOption::Router(vec![SERVER]))
    );
    assert_eq!(
        opt(&m, OptionCode::DomainNameServer),
        Some(&DhcpOption::DomainNameServer(vec![ip(53)]))
    );
    assert_eq!(
        opt(&m, OptionCode::AddressLeaseTime),
        Some(&DhcpOption::AddressLeaseTime(3600))
    );
    assert_eq!(
        opt(&m, OptionCode::Renewal),
        Some(&DhcpOption::Renewal(1800))
    );
    assert_eq!(
        opt(&m, OptionCode::Rebinding),
        Some(&DhcpOption::Rebinding(3150))
    );
    assert_eq!(file(&m), "", "a plain client gets no boot file");
    assert_eq!(kinds(&o), [EventKind::Discover, EventKind::Offer]);
    assert_eq!(lease(&mut r, &p), ip(100));
}

#[test]
fn netboot_clients_get_their_file_in_the_lease_replies() {
    let d = tempfile::tempdir().unwrap();
    let mut r = full(d.path(), UnknownPolicy::Ignore);
    let m = wire_reply(&ask(
        &mut r,
        &ClientPacket::pxe_firmware(KNOWN, 0),
        MessageType::Discover,
        Port::Dhcp,
    ));
    assert_eq!(
        (file(&m), m.siaddr()),
        ("undionly.kpxe".to_string(), SERVER)
    );
    // Full mode answers as a plain DHCP server with a boot file: no PXE class, no option 43.
    assert!(
        opt(&m, OptionCode::ClassIdentifier).is_none()
            && opt(&m, OptionCode::VendorExtensions).is_none()
    );
    let p = ClientPacket::pxe_firmware(KNOWN, 7)
        .user_class(b"iPXE")
        .requested_ip(m.yiaddr())
        .server_id(SERVER);
    let ack = wire_reply(&ask(&mut r, &p, MessageType::Request, Port::Dhcp));
    assert!(file(&ack).starts_with("http://192.0.2.1:8080/boot.ipxe?mac=52-54-00-00-00-01"));
    // EDK2 taking the BINL route still finds port 4011.
    let p = ClientPacket::pxe_firmware(KNOWN, 7).ciaddr(m.yiaddr());
    assert_eq!(
        file(&wire_reply(&ask(
            &mut r,
            &p,
            MessageType::Request,
            Port::Pxe
        ))),
        "ipxe.efi"
    );
}

#[test]
fn the_same_client_keeps_its_address_and_others_get_the_next() {
    let d = tempfile::tempdir().unwrap();
    let mut r = full(d.path(), UnknownPolicy::Pending);
    let a = ClientPacket::new([2, 0, 0, 0, 0, 1]);
    let b = ClientPacket::new([2, 0, 0, 0, 0, 2]);
    assert_eq!(lease(&mut r, &a), ip(100));
    assert_eq!(lease(&mut r, &b), ip(101));
    assert_eq!(lease(&mut r, &a), ip(100));
    // An offer holds its address against a third client until it expires.
    let c = ClientPacket::new([2, 0, 0, 0, 0, 3]);
    assert_eq!(
        wire_reply(&ask(&mut r, &c, MessageType::Discover, Port::Dhcp)).yiaddr(),
        ip(102)
    );
    let e = ClientPacket::new([2, 0, 0, 0, 0, 4]);
    let o = ask(&mut r, &e, MessageType::Discover, Port::Dhcp);
    assert!(o.reply.is_none(), "pool of three is exhausted");
    assert_eq!(
        o.events[1].kind,
        EventKind::Ignored("no free address in the range".into())
    );
    let later = now() + Duration::from_secs(leases::OFFER_HOLD_SECS + 1);
    assert_eq!(
        wire_reply(&ask_at(
            &mut r,
            &e,
            MessageType::Discover,
            Port::Dhcp,
            later
        ))
        .yiaddr(),
        ip(102)
    );
}

#[test]
fn requested_address_is_honoured_when_free() {
    let d = tempfile::tempdir().unwrap();
    let mut r = full(d.path(), UnknownPolicy::Pending);
    let p = ClientPacket::new(KNOWN).requested_ip(ip(102));
    assert_eq!(
        wire_reply(&ask(&mut r, &p, MessageType::Discover, Port::Dhcp)).yiaddr(),
        ip(102)
    );
}

#[test]
fn reservations_win_and_are_never_handed_to_others() {
    let d = tempfile::tempdir().unwrap();
    let mut cfg = full_config(d.path());
    cfg.reservations
        .insert(MacAddr([2, 0, 0, 0, 0, 7]), ip(100));
    let mut r = Responder::new(config(Mode::Full(cfg), UnknownPolicy::Ignore)).unwrap();
    // Reserved MACs are known even under `ignore`, and get addresses outside the range.
    assert_eq!(lease(&mut r, &ClientPacket::new(RESERVED_MAC)), ip(50));
    assert_eq!(
        lease(&mut r, &ClientPacket::new(KNOWN).requested_ip(ip(100))),
        ip(101)
    );
    assert_eq!(
        lease(&mut r, &ClientPacket::new([2, 0, 0, 0, 0, 7])),
        ip(100)
    );
}

#[test]
fn wrong_or_taken_addresses_are_nakked() {
    let d = tempfile::tempdir().unwrap();
    let mut r = full(d.path(), UnknownPolicy::Pending);
    let a = ClientPacket::new([2, 0, 0, 0, 0, 1]);
    lease(&mut r, &a);
    // INIT-REBOOT with an address from another network, and with one another client holds.
    for want in [Ipv4Addr::new(10, 1, 1, 1), ip(100)] {
        let p = ClientPacket::new([2, 0, 0, 0, 0, 2]).requested_ip(want);
        let o = ask(&mut r, &p, MessageType::Request, Port::Dhcp);
        let m = wire_reply(&o);
        assert_eq!(m.opts().msg_type(), Some(MessageType::Nak), "{want}");
        assert_eq!(m.yiaddr(), Ipv4Addr::UNSPECIFIED);
        assert_eq!(o.reply.unwrap().to, ReplyTo::Broadcast(68));
    }
    // RENEWING: unicast back to ciaddr.
    let renew = ClientPacket::new([2, 0, 0, 0, 0, 1]).ciaddr(ip(100));
    let o = ask(&mut r, &renew, MessageType::Request, Port::Dhcp);
    assert_eq!(wire_reply(&o).opts().msg_type(), Some(MessageType::Ack));
    assert_eq!(
        o.reply.unwrap().to,
        ReplyTo::Unicast(SocketAddrV4::new(ip(100), 68))
    );
}

#[test]
fn choosing_another_server_frees_the_offer() {
    let d = tempfile::tempdir().unwrap();
    let mut r = full(d.path(), UnknownPolicy::Pending);
    let a = ClientPacket::new([2, 0, 0, 0, 0, 1]);
    let offered = wire_reply(&ask(&mut r, &a, MessageType::Discover, Port::Dhcp)).yiaddr();
    let other = a.clone().requested_ip(offered).server_id(ip(254));
    assert!(ask(&mut r, &other, MessageType::Request, Port::Dhcp)
        .reply
        .is_none());
    let b = ClientPacket::new([2, 0, 0, 0, 0, 2]);
    assert_eq!(
        wire_reply(&ask(&mut r, &b, MessageType::Discover, Port::Dhcp)).yiaddr(),
        offered
    );
}

#[test]
fn release_and_decline_return_or_quarantine_the_address() {
    let d = tempfile::tempdir().unwrap();
    let mut r = full(d.path(), UnknownPolicy::Pending);
    let a = ClientPacket::new([2, 0, 0, 0, 0, 1]);
    let got = lease(&mut r, &a);
    let o = ask(
        &mut r,
        &a.clone().ciaddr(got).server_id(SERVER),
        MessageType::Release,
        Port::Dhcp,
    );
    assert!(o.reply.is_none());
    assert_eq!(kinds(&o), [EventKind::Release]);
    let b = ClientPacket::new([2, 0, 0, 0, 0, 2]);
    assert_eq!(lease(&mut r, &b), got);
    // b finds the address in use (ARP) and declines it: nobody gets it for a while.
    ask(
        &mut r,
        &b.clone().requested_ip(got).server_id(SERVER),
        MessageType::Decline,
        Port::Dhcp,
    );
    let c = ClientPacket::new([2, 0, 0, 0, 0, 3]).requested_ip(got);
    assert_ne!(
        wire_reply(&ask(&mut r, &c, MessageType::Discover, Port::Dhcp)).yiaddr(),
        got
    );
}

#[test]
fn inform_gets_options_without_a_lease() {
    let d = tempfile::tempdir().unwrap();
    let mut r = full(d.path(), UnknownPolicy::Pending);
    let p = ClientPacket::new(KNOWN).ciaddr(ip(20));
    let o = ask(&mut r, &p, MessageType::Inform, Port::Dhcp);
    let m = wire_reply(&o);
    assert_eq!(
        (m.opts().msg_type(), m.yiaddr()),
        (Some(MessageType::Ack), Ipv4Addr::UNSPECIFIED)
    );
    assert!(opt(&m, OptionCode::AddressLeaseTime).is_none());
    assert!(opt(&m, OptionCode::Router).is_some());
}

#[test]
fn leases_survive_a_restart_and_the_file_is_replaced_atomically() {
    let d = tempfile::tempdir().unwrap();
    let mut r = full(d.path(), UnknownPolicy::Pending);
    let a = ClientPacket::new([2, 0, 0, 0, 0, 1]);
    let b = ClientPacket::new([2, 0, 0, 0, 0, 2]);
    lease(&mut r, &a);
    lease(&mut r, &b);
    let path = r.leases().unwrap().path().to_path_buf();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("\"02:00:00:00:00:02\"") && text.contains("\"bound\""),
        "{text}"
    );
    assert!(!text.contains("offered"));
    let left: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 1, "no temp files left: {left:?}");
    drop(r);
    let mut r = full(d.path(), UnknownPolicy::Pending);
    // After the restart b still owns .101: a new client cannot take it, b gets it back.
    let c = ClientPacket::new([2, 0, 0, 0, 0, 3]).requested_ip(ip(101));
    assert_eq!(
        wire_reply(&ask(&mut r, &c, MessageType::Discover, Port::Dhcp)).yiaddr(),
        ip(102)
    );
    assert_eq!(lease(&mut r, &b), ip(101));
}

#[test]
fn a_corrupt_lease_file_is_an_error_naming_it() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("dhcp-leases.json"), "{not json").unwrap();
    let e = Responder::new(config(
        Mode::Full(full_config(d.path())),
        UnknownPolicy::Pending,
    ))
    .err()
    .unwrap();
    let msg = e.to_string();
    assert!(
        msg.contains("dhcp-leases.json") && msg.contains("move it away"),
        "{msg}"
    );
}

#[test]
fn bad_ranges_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let mut cfg = full_config(d.path());
    cfg.first = ip(200);
    let e = Responder::new(config(Mode::Full(cfg.clone()), UnknownPolicy::Pending))
        .err()
        .unwrap();
    assert!(e.to_string().contains("FIRST is after LAST"), "{e}");
    cfg.first = Ipv4Addr::new(192, 0, 3, 1);
    cfg.last = Ipv4Addr::new(192, 0, 2, 250);
    assert!(Responder::new(config(Mode::Full(cfg), UnknownPolicy::Pending)).is_err());
}

#[test]
fn unknown_machines_in_full_mode_follow_the_policy() {
    let d = tempfile::tempdir().unwrap();
    let mut r = full(d.path(), UnknownPolicy::Ignore);
    assert!(ask(
        &mut r,
        &ClientPacket::new(STRANGER),
        MessageType::Discover,
        Port::Dhcp
    )
    .reply
    .is_none());
    let mut r = full(d.path(), UnknownPolicy::Pending);
    let o = ask(
        &mut r,
        &ClientPacket::pxe_firmware(STRANGER, 7),
        MessageType::Discover,
        Port::Dhcp,
    );
    assert_eq!(file(&wire_reply(&o)), "ipxe.efi");
    assert!(!o.events[1].known);
}

#[test]
fn relayed_requests_are_answered_to_the_relay() {
    let d = tempfile::tempdir().unwrap();
    let mut r = full(d.path(), UnknownPolicy::Pending);
    let mut m = ClientPacket::new(KNOWN).discover();
    m.set_giaddr(ip(254));
    let req = Request {
        msg: m,
        port: Port::Dhcp,
        src: SocketAddrV4::new(ip(254), 67),
    };
    let o = r.handle(&req, now());
    assert_eq!(
        o.reply.unwrap().to,
        ReplyTo::Unicast(SocketAddrV4::new(ip(254), 67))
    );
}

#[test]
fn a_bound_client_asking_again_keeps_its_saved_lease() {
    let d = tempfile::tempdir().unwrap();
    let mut r = full(d.path(), UnknownPolicy::Pending);
    let a = ClientPacket::new([2, 0, 0, 0, 0, 1]);
    lease(&mut r, &a);
    // It reboots and discovers again; the server restarts before the REQUEST.
    ask(&mut r, &a, MessageType::Discover, Port::Dhcp);
    drop(r);
    let text = std::fs::read_to_string(d.path().join("dhcp-leases.json")).unwrap();
    assert!(
        text.contains("02:00:00:00:00:01") && text.contains("bound"),
        "{text}"
    );
}
