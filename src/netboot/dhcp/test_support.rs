//! Shared fixtures for the responder's unit tests.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dhcproto::v4::{DhcpOption, Message, MessageType, OptionCode};

use super::*;

pub const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const KNOWN: [u8; 6] = [0x52, 0x54, 0, 0, 0, 1];
pub const STRANGER: [u8; 6] = [0x52, 0x54, 0, 0, 0, 9];

pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

pub fn boot() -> BootTargets {
    BootTargets {
        tftp_server: SERVER,
        script_url: "http://192.0.2.1:8080/boot.ipxe?mac={mac}&arch={arch}".into(),
        http_boot_url: "http://192.0.2.1:8080/ipxe/{file}".into(),
        files: HashMap::new(),
    }
}

pub fn config(mode: Mode, unknown: UnknownPolicy) -> ResponderConfig {
    ResponderConfig {
        server_ip: SERVER,
        mode,
        unknown,
        boot: boot(),
        ipxe_user_class: "kateskit".into(),
        known: Arc::new(HashSet::from([MacAddr(KNOWN)])),
    }
}

pub fn full_config(dir: &std::path::Path) -> FullConfig {
    FullConfig {
        first: Ipv4Addr::new(192, 0, 2, 100),
        last: Ipv4Addr::new(192, 0, 2, 102),
        netmask: Ipv4Addr::new(255, 255, 255, 0),
        routers: vec![SERVER],
        dns: vec![Ipv4Addr::new(192, 0, 2, 53)],
        lease_secs: 3600,
        reservations: HashMap::from([(
            MacAddr([0x52, 0x54, 0, 0, 0, 0x50]),
            Ipv4Addr::new(192, 0, 2, 50),
        )]),
        state_dir: dir.to_path_buf(),
    }
}

pub fn ask(r: &mut Responder, p: &ClientPacket, t: MessageType, port: Port) -> Outcome {
    ask_at(r, p, t, port, now())
}

pub fn ask_at(
    r: &mut Responder,
    p: &ClientPacket,
    t: MessageType,
    port: Port,
    at: SystemTime,
) -> Outcome {
    let src = SocketAddrV4::new(p.ciaddr, if port == Port::Pxe { 4011 } else { 68 });
    r.handle_bytes(&p.bytes(t), port, src, at)
}

pub fn opt(m: &Message, code: OptionCode) -> Option<&DhcpOption> {
    m.opts().get(code)
}

pub fn bytes_opt(m: &Message, code: OptionCode) -> Option<Vec<u8>> {
    match opt(m, code)? {
        DhcpOption::ClassIdentifier(b)
        | DhcpOption::VendorExtensions(b)
        | DhcpOption::ClientMachineIdentifier(b)
        | DhcpOption::BootfileName(b)
        | DhcpOption::TFTPServerName(b) => Some(b.clone()),
        _ => None,
    }
}

pub fn file(m: &Message) -> String {
    let f = m.fname().unwrap_or_default();
    let end = f.iter().position(|b| *b == 0).unwrap_or(f.len());
    String::from_utf8(f[..end].to_vec()).unwrap()
}

pub fn kinds(o: &Outcome) -> Vec<EventKind> {
    o.events.iter().map(|e| e.kind.clone()).collect()
}

/// Decodes the reply as a client would receive it.
pub fn wire_reply(o: &Outcome) -> Message {
    use dhcproto::{Decodable, Decoder};
    let b = o.reply.as_ref().expect("a reply").bytes().unwrap();
    assert!(b.len() >= 300, "reply shorter than the BOOTP minimum");
    Message::decode(&mut Decoder::new(&b)).unwrap()
}

pub const RESERVED_MAC: [u8; 6] = [0x52, 0x54, 0, 0, 0, 0x50];

pub fn full(dir: &std::path::Path, unknown: UnknownPolicy) -> Responder {
    Responder::new(config(Mode::Full(full_config(dir)), unknown)).unwrap()
}

pub fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, last)
}

/// DISCOVER, then REQUEST of what was offered; returns the ACKed address.
pub fn lease(r: &mut Responder, p: &ClientPacket) -> Ipv4Addr {
    let offer = wire_reply(&ask(r, p, MessageType::Discover, Port::Dhcp));
    let req = p.clone().requested_ip(offer.yiaddr()).server_id(SERVER);
    let ack = wire_reply(&ask(r, &req, MessageType::Request, Port::Dhcp));
    assert_eq!(ack.opts().msg_type(), Some(MessageType::Ack));
    assert_eq!(ack.yiaddr(), offer.yiaddr());
    ack.yiaddr()
}
