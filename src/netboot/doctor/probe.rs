//! The segment probe: DHCPDISCOVERs from udp/68 of one interface as BIOS and as UEFI x64 PXE
//! firmware (a locally administered random MAC), every reply until the wait ends, grouped by
//! responder and classified. Nothing is ever requested from a DHCP server, so no lease is
//! taken; the only REQUEST goes to udp/4011 of a ProxyDHCP, which assigns no address.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::FromRawFd;
use std::time::{Duration, Instant};

use dhcproto::v4::{DhcpOption, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Encodable, Encoder};
use serde::Serialize;

use crate::netboot::dhcp::{decode_reply, ClientPacket, MacAddr};

/// Which firmware a DISCOVER pretended to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Firmware {
    /// `PXEClient:Arch:00000`, option 93 = 0.
    Bios,
    /// `PXEClient:Arch:00007`, option 93 = 7.
    Uefi,
}

impl Firmware {
    fn arch(self) -> u16 {
        match self {
            Firmware::Bios => 0,
            Firmware::Uefi => 7,
        }
    }
}

/// One reply to one DISCOVER.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Offer {
    pub probe: Firmware,
    /// `yiaddr`, when the responder offers an address.
    pub offered: Option<Ipv4Addr>,
    /// `siaddr` (next-server), when set.
    pub next_server: Option<Ipv4Addr>,
    /// Option 66.
    pub tftp_server: Option<String>,
    /// Option 67, else the `file` field.
    pub boot_file: Option<String>,
    /// Option 43 (PXE vendor options) present.
    pub option_43: bool,
    /// The boot server types of option 43's boot menu (sub-option 9), which a PXE client
    /// asks udp/4011 for (dnsmasq numbers its own from 0x8000).
    pub boot_menu: Vec<u16>,
    /// Option 60.
    pub vendor_class: Option<String>,
}

/// What a responder is, from its offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Offers an address.
    DhcpServer,
    /// Offers an address and names a boot file.
    DhcpServerWithBootFile,
    /// No address (`yiaddr` 0) and option 60 `PXEClient`.
    ProxyDhcp,
    /// Neither (an address-less reply without `PXEClient`).
    Unclassified,
}

/// The answer of a ProxyDHCP's udp/4011 to a PXE boot-server REQUEST.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Port4011 {
    pub answered: bool,
    pub boot_file: Option<String>,
    /// Why it was not asked, when it was not.
    pub skipped: Option<String>,
}

/// Everything one server sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Responder {
    pub role: Role,
    /// Option 54.
    pub server_id: Option<Ipv4Addr>,
    /// Where the replies came from.
    pub source: SocketAddrV4,
    /// The source is this host's own address on the interface.
    pub local: bool,
    pub offers: Vec<Offer>,
    /// Only for ProxyDHCPs.
    pub port_4011: Option<Port4011>,
}

/// Why the probe could not run.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("UDP port 68 on {iface} is held by {holders}: DHCP replies to the probe would go to it. Stop that DHCP client while the doctor runs, or run the doctor on another machine on the segment")]
    Port68Held { iface: String, holders: String },
    #[error("{what} on {iface}: {source}")]
    Socket {
        what: &'static str,
        iface: String,
        #[source]
        source: io::Error,
    },
}

/// A random locally administered unicast MAC (bit 1 of the first byte set, bit 0 clear).
pub fn random_mac() -> MacAddr {
    let mut m: [u8; 6] = rand::random();
    m[0] = (m[0] & 0xfc) | 0x02;
    MacAddr(m)
}

fn setopt(fd: i32, level: i32, name: i32, val: &[u8]) -> io::Result<()> {
    // SAFETY: val outlives the call and its length is passed with it.
    let r = unsafe { libc::setsockopt(fd, level, name, val.as_ptr().cast(), val.len() as u32) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// udp/68 on `iface` with broadcast, without SO_REUSEADDR: a DHCP client holding the port
/// makes the bind fail instead of silently sharing its replies.
fn client_socket(iface: &str) -> Result<UdpSocket, ProbeError> {
    let err = |what| {
        move |source| ProbeError::Socket {
            what,
            iface: iface.to_string(),
            source,
        }
    };
    // SAFETY: plain socket(2); the fd is owned by the UdpSocket right after.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(err("creating a UDP socket")(io::Error::last_os_error()));
    }
    // SAFETY: fd is a fresh socket nobody else owns.
    let sock = unsafe { UdpSocket::from_raw_fd(fd) };
    setopt(
        fd,
        libc::SOL_SOCKET,
        libc::SO_BROADCAST,
        &1i32.to_ne_bytes(),
    )
    .map_err(err("enabling broadcast"))?;
    setopt(
        fd,
        libc::SOL_SOCKET,
        libc::SO_BINDTODEVICE,
        iface.as_bytes(),
    )
    .map_err(err("binding to the interface (SO_BINDTODEVICE)"))?;
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 68u16.to_be(),
        sin_addr: libc::in_addr { s_addr: 0 },
        sin_zero: [0; 8],
    };
    // SAFETY: addr is a valid sockaddr_in of the size passed.
    let r = unsafe {
        libc::bind(
            fd,
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as u32,
        )
    };
    if r != 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::AddrInUse {
            let held = super::ports::holders(super::ports::Proto::Udp, 68).unwrap_or_default();
            let holders = if held.is_empty() {
                "another socket".to_string()
            } else {
                held.iter()
                    .map(|h| h.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(ProbeError::Port68Held {
                iface: iface.to_string(),
                holders,
            });
        }
        return Err(err("binding udp/68")(e));
    }
    Ok(sock)
}

fn text(b: &[u8]) -> Option<String> {
    let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
    (end > 0).then(|| String::from_utf8_lossy(&b[..end]).into_owned())
}

fn offer(probe: Firmware, m: &Message) -> Offer {
    let o = m.opts();
    let boot_file = match o.get(OptionCode::BootfileName) {
        Some(DhcpOption::BootfileName(b)) => text(b),
        _ => None,
    }
    .or_else(|| m.fname().and_then(text));
    Offer {
        probe,
        offered: Some(m.yiaddr()).filter(|a| !a.is_unspecified()),
        next_server: Some(m.siaddr()).filter(|a| !a.is_unspecified()),
        tftp_server: match o.get(OptionCode::TFTPServerName) {
            Some(DhcpOption::TFTPServerName(b)) => text(b),
            _ => None,
        },
        boot_file,
        option_43: o.get(OptionCode::VendorExtensions).is_some(),
        boot_menu: match o.get(OptionCode::VendorExtensions) {
            Some(DhcpOption::VendorExtensions(v)) => menu_types(v),
            _ => Vec::new(),
        },
        vendor_class: match o.get(OptionCode::ClassIdentifier) {
            Some(DhcpOption::ClassIdentifier(b)) => text(b),
            _ => None,
        },
    }
}

/// The item types of PXE sub-option 9 (boot menu: type(2) length(1) text, repeated).
fn menu_types(vendor: &[u8]) -> Vec<u16> {
    let mut i = 0;
    while i + 1 < vendor.len() {
        let (code, len) = (vendor[i], vendor[i + 1] as usize);
        if code == 255 {
            break;
        }
        if code == 0 {
            i += 1;
            continue;
        }
        let Some(data) = vendor.get(i + 2..i + 2 + len) else {
            break;
        };
        if code == 9 {
            let mut types = Vec::new();
            let mut j = 0;
            while j + 2 < data.len() {
                types.push(u16::from_be_bytes([data[j], data[j + 1]]));
                j += 3 + data[j + 2] as usize;
            }
            return types;
        }
        i += 2 + len;
    }
    Vec::new()
}

fn server_id(m: &Message) -> Option<Ipv4Addr> {
    match m.opts().get(OptionCode::ServerIdentifier) {
        Some(DhcpOption::ServerIdentifier(ip)) => Some(*ip),
        _ => None,
    }
}

/// The role the offers give a responder.
pub fn classify(offers: &[Offer]) -> Role {
    if offers.iter().any(|o| o.offered.is_some()) {
        if offers
            .iter()
            .any(|o| o.offered.is_some() && o.boot_file.is_some())
        {
            Role::DhcpServerWithBootFile
        } else {
            Role::DhcpServer
        }
    } else if offers.iter().any(|o| {
        o.vendor_class
            .as_deref()
            .is_some_and(|v| v.starts_with("PXEClient"))
    }) {
        Role::ProxyDhcp
    } else {
        Role::Unclassified
    }
}

/// Replies (sender, message) to any of `xids` for `mac` until `deadline`.
fn receive(
    sock: &UdpSocket,
    mac: MacAddr,
    xids: &[u32],
    deadline: Instant,
) -> Vec<(SocketAddrV4, Message)> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1500];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || sock.set_read_timeout(Some(left)).is_err() {
            return out;
        }
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok((n, std::net::SocketAddr::V4(from))) => (n, from),
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            // An ICMP error reported on the socket: do not spin on it.
            Err(_) => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        let Ok(m) = decode_reply(&buf[..n]) else {
            continue;
        };
        if m.opcode() == Opcode::BootReply
            && xids.contains(&m.xid())
            && m.chaddr().get(..6) == Some(&mac.0[..])
        {
            out.push((from, m));
        }
    }
}

/// What the probe is asked to do.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    pub iface: String,
    pub mac: MacAddr,
    pub wait: Duration,
    /// This host's address on the interface (the 4011 probe needs one).
    pub local_ip: Option<Ipv4Addr>,
}

/// Sends the two DISCOVERs (again after a second, for a lost packet), collects and groups
/// the replies, then asks each ProxyDHCP's udp/4011.
pub fn probe(o: &ProbeOptions) -> Result<Vec<Responder>, ProbeError> {
    let sock = client_socket(&o.iface)?;
    let packets: Vec<(Firmware, ClientPacket)> = [Firmware::Bios, Firmware::Uefi]
        .into_iter()
        .enumerate()
        .map(|(i, fw)| {
            let mut p = ClientPacket::pxe_firmware(o.mac.0, fw.arch());
            p.xid = rand::random::<u32>() ^ i as u32;
            (fw, p)
        })
        .collect();
    let xids: Vec<u32> = packets.iter().map(|(_, p)| p.xid).collect();
    let send = |sock: &UdpSocket| -> Result<(), ProbeError> {
        for (_, p) in &packets {
            sock.send_to(&p.bytes(MessageType::Discover), "255.255.255.255:67")
                .map_err(|source| ProbeError::Socket {
                    what: "broadcasting a DHCPDISCOVER",
                    iface: o.iface.clone(),
                    source,
                })?;
        }
        Ok(())
    };
    let start = Instant::now();
    send(&sock)?;
    let resend_at = start + (o.wait / 2).min(Duration::from_secs(1));
    let mut replies = receive(&sock, o.mac, &xids, resend_at);
    if Instant::now() < start + o.wait {
        send(&sock)?;
        replies.extend(receive(&sock, o.mac, &xids, start + o.wait));
    }
    let mut found: Vec<Responder> = Vec::new();
    for (from, m) in replies {
        let fw = packets
            .iter()
            .find(|(_, p)| p.xid == m.xid())
            .map(|(f, _)| *f)
            .unwrap_or(Firmware::Bios);
        let sid = server_id(&m);
        let of = offer(fw, &m);
        let r = match found
            .iter_mut()
            .find(|r| r.server_id == sid && *r.source.ip() == *from.ip())
        {
            Some(r) => r,
            None => {
                found.push(Responder {
                    role: Role::Unclassified,
                    server_id: sid,
                    source: from,
                    local: o.local_ip == Some(*from.ip()),
                    offers: Vec::new(),
                    port_4011: None,
                });
                found.last_mut().expect("just pushed")
            }
        };
        if !r.offers.contains(&of) {
            r.offers.push(of);
        }
    }
    for r in &mut found {
        r.role = classify(&r.offers);
        if r.role == Role::ProxyDhcp {
            r.port_4011 = Some(ask_4011(&sock, o, *r.source.ip(), &r.offers));
        }
    }
    Ok(found)
}

/// PXE boot-server REQUESTs to `proxy`:4011 from this host's address: as UEFI firmware for
/// boot item type 0, then for the first type of a boot menu the proxy offered (as the
/// firmware that got the menu).
fn ask_4011(sock: &UdpSocket, o: &ProbeOptions, proxy: Ipv4Addr, offers: &[Offer]) -> Port4011 {
    let Some(local) = o.local_ip else {
        return Port4011 {
            answered: false,
            boot_file: None,
            skipped: Some(format!("{} has no IPv4 address to ask from", o.iface)),
        };
    };
    let mut tries = vec![(Firmware::Uefi, 0u16)];
    if let Some(menu) = offers.iter().find(|x| !x.boot_menu.is_empty()) {
        tries.push((menu.probe, menu.boot_menu[0]));
    }
    let wait = o.wait.min(Duration::from_secs(2)) / tries.len() as u32;
    for (fw, item) in tries {
        let mut p = ClientPacket::pxe_firmware(o.mac.0, fw.arch()).ciaddr(local);
        p.broadcast = false;
        p.xid = rand::random();
        let mut m = p.request();
        let [hi, lo] = item.to_be_bytes();
        m.opts_mut()
            .insert(DhcpOption::VendorExtensions(vec![71, 4, hi, lo, 0, 0, 255]));
        let mut bytes = Vec::new();
        if let Err(e) = m.encode(&mut Encoder::new(&mut bytes)) {
            return Port4011 {
                answered: false,
                boot_file: None,
                skipped: Some(format!("encoding the request: {e}")),
            };
        }
        if let Err(e) = sock.send_to(&bytes, SocketAddrV4::new(proxy, 4011)) {
            return Port4011 {
                answered: false,
                boot_file: None,
                skipped: Some(format!("sending to {proxy}:4011: {e}")),
            };
        }
        let got = receive(sock, o.mac, &[p.xid], Instant::now() + wait);
        if let Some((_, m)) = got.first() {
            return Port4011 {
                answered: true,
                boot_file: offer(fw, m).boot_file,
                skipped: None,
            };
        }
    }
    Port4011 {
        answered: false,
        boot_file: None,
        skipped: None,
    }
}
