//! The segment probe: DHCPDISCOVERs from udp/68 of one interface as BIOS and as UEFI x64 PXE
//! firmware (a locally administered random MAC), every reply until the wait ends, grouped by
//! responder and classified. Nothing is ever requested from a DHCP server, so no lease is
//! taken; the only REQUEST goes to udp/4011 of a ProxyDHCP, which assigns no address.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::FromRawFd;
use std::time::{Duration, Instant};

use dhcproto::v4::{Message, MessageType, Opcode};

use super::binl::ask_4011;
use super::offer::{classify, offer, server_id, Firmware, Responder, Role};
use crate::netboot::dhcp::{decode_reply, ClientPacket, MacAddr};

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

/// Replies (sender, message) to any of `xids` for `mac` until `deadline`.
pub(super) fn receive(
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
