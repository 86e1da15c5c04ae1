//! Full DHCP leases: persistence across restarts, reservations, bad ranges and lease files.

use std::net::Ipv4Addr;

use dhcproto::v4::MessageType;

use super::test_support::*;
use super::*;

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
