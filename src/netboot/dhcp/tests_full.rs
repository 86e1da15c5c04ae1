//! Full DHCP rules (RFC 2131), lease persistence and reservations.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use dhcproto::v4::{DhcpOption, MessageType, OptionCode};

use super::test_support::*;
use super::*;

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
