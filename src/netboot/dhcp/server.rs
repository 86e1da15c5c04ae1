//! The sockets: UDP 67 and 4011 bound to one interface (SO_BINDTODEVICE, so several servers on
//! several interfaces coexist and replies leave where the request came in), IP_PKTINFO to
//! drop anything that arrived on another interface, broadcast replies for clients without an
//! address.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket as StdUdp};
use std::os::fd::{AsRawFd, FromRawFd};
use std::time::SystemTime;

use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::events::Event;
use super::responder::{Port, ReplyTo, Responder};
use super::DhcpError;

/// Bound sockets on one interface; [`Server::run`] serves them.
pub struct Server {
    iface: String,
    ifindex: u32,
    dhcp: StdUdp,
    pxe: StdUdp,
}

fn sockerr(what: impl Into<String>, iface: &str) -> impl FnOnce(io::Error) -> DhcpError + '_ {
    let what = what.into();
    move |source| DhcpError::Socket {
        what,
        iface: iface.to_string(),
        source,
    }
}

fn setopt(fd: i32, level: i32, name: i32, val: &[u8]) -> io::Result<()> {
    // SAFETY: val outlives the call and its length is passed with it.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            val.as_ptr().cast(),
            val.len() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A UDP socket on 0.0.0.0:`port`, bound to `iface`, with broadcast and IP_PKTINFO.
fn bind_udp(iface: &str, port: u16) -> io::Result<StdUdp> {
    // SAFETY: plain socket(2); the fd is owned by the UdpSocket right after.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh socket nobody else owns.
    let sock = unsafe { StdUdp::from_raw_fd(fd) };
    let one = 1i32.to_ne_bytes();
    setopt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, &one)?;
    setopt(fd, libc::SOL_SOCKET, libc::SO_BROADCAST, &one)?;
    setopt(fd, libc::IPPROTO_IP, libc::IP_PKTINFO, &one)?;
    setopt(
        fd,
        libc::SOL_SOCKET,
        libc::SO_BINDTODEVICE,
        iface.as_bytes(),
    )?;
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr { s_addr: 0 },
        sin_zero: [0; 8],
    };
    // SAFETY: addr is a valid sockaddr_in of the size passed.
    let r = unsafe {
        libc::bind(
            fd,
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    sock.set_nonblocking(true)?;
    Ok(sock)
}

/// recvmsg(2) with the IP_PKTINFO control message: (length, source, receiving ifindex).
fn recv_pktinfo(fd: i32, buf: &mut [u8]) -> io::Result<(usize, SocketAddrV4, Option<u32>)> {
    // SAFETY: all-zero is a valid sockaddr_in/msghdr; every pointer below points into locals
    // that outlive the call, with their sizes.
    unsafe {
        let mut src: libc::sockaddr_in = std::mem::zeroed();
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut cbuf = [0u64; 16];
        let mut hdr: libc::msghdr = std::mem::zeroed();
        hdr.msg_name = (&mut src as *mut libc::sockaddr_in).cast();
        hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        hdr.msg_iov = &mut iov;
        hdr.msg_iovlen = 1;
        hdr.msg_control = cbuf.as_mut_ptr().cast();
        hdr.msg_controllen = std::mem::size_of_val(&cbuf) as _;
        let n = libc::recvmsg(fd, &mut hdr, libc::MSG_DONTWAIT);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut ifindex = None;
        let mut c = libc::CMSG_FIRSTHDR(&hdr);
        while !c.is_null() {
            if (*c).cmsg_level == libc::IPPROTO_IP && (*c).cmsg_type == libc::IP_PKTINFO {
                let info: libc::in_pktinfo = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                ifindex = Some(info.ipi_ifindex as u32);
            }
            c = libc::CMSG_NXTHDR(&hdr, c);
        }
        let ip = Ipv4Addr::from(u32::from_be(src.sin_addr.s_addr));
        Ok((
            n as usize,
            SocketAddrV4::new(ip, u16::from_be(src.sin_port)),
            ifindex,
        ))
    }
}

/// The first IPv4 address of `iface`, for `server_ip` when no `--listen` is given.
pub fn interface_ipv4(iface: &str) -> Result<Ipv4Addr, DhcpError> {
    let mut found = None;
    // SAFETY: getifaddrs fills a list we walk read-only and free once.
    unsafe {
        let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
        if libc::getifaddrs(&mut head) != 0 {
            return Err(sockerr("listing addresses", iface)(
                io::Error::last_os_error(),
            ));
        }
        let mut p = head;
        while !p.is_null() {
            let a = &*p;
            let name = std::ffi::CStr::from_ptr(a.ifa_name).to_string_lossy();
            if found.is_none()
                && name == iface
                && !a.ifa_addr.is_null()
                && i32::from((*a.ifa_addr).sa_family) == libc::AF_INET
            {
                let sin = &*(a.ifa_addr as *const libc::sockaddr_in);
                found = Some(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
            }
            p = a.ifa_next;
        }
        libc::freeifaddrs(head);
    }
    found.ok_or(DhcpError::NoAddress {
        iface: iface.to_string(),
    })
}

impl Server {
    /// Binds UDP 67 and 4011 (or the given ports, for tests) on `iface`. Sync, so a caller
    /// can bind inside a network namespace from the thread that entered it.
    pub fn bind(iface: &str, dhcp_port: u16, pxe_port: u16) -> Result<Server, DhcpError> {
        let cname = std::ffi::CString::new(iface).map_err(|_| DhcpError::NoAddress {
            iface: iface.to_string(),
        })?;
        // SAFETY: cname is a valid NUL-terminated string.
        let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
        if ifindex == 0 {
            return Err(sockerr("looking up", iface)(io::Error::last_os_error()));
        }
        let dhcp = bind_udp(iface, dhcp_port)
            .map_err(sockerr(format!("binding udp/{dhcp_port}"), iface))?;
        let pxe =
            bind_udp(iface, pxe_port).map_err(sockerr(format!("binding udp/{pxe_port}"), iface))?;
        Ok(Server {
            iface: iface.to_string(),
            ifindex,
            dhcp,
            pxe,
        })
    }

    /// Serves until the event receiver is dropped or a socket fails. Events that do not fit
    /// the channel are dropped (and logged) rather than stalling DHCP.
    pub async fn run(
        self,
        mut responder: Responder,
        events: mpsc::Sender<Event>,
    ) -> Result<(), DhcpError> {
        let iface = self.iface.clone();
        let dhcp = UdpSocket::from_std(self.dhcp).map_err(sockerr("registering udp/67", &iface))?;
        let pxe = UdpSocket::from_std(self.pxe).map_err(sockerr("registering udp/4011", &iface))?;
        let (mut b1, mut b2) = (vec![0u8; 1500], vec![0u8; 1500]);
        loop {
            if events.is_closed() {
                return Ok(());
            }
            let (sock, port, got) = tokio::select! {
                r = dhcp.async_io(Interest::READABLE, || recv_pktinfo(dhcp.as_raw_fd(), &mut b1)) => (&dhcp, Port::Dhcp, r.map(|x| (x, b1.as_slice()))),
                r = pxe.async_io(Interest::READABLE, || recv_pktinfo(pxe.as_raw_fd(), &mut b2)) => (&pxe, Port::Pxe, r.map(|x| (x, b2.as_slice()))),
                _ = events.closed() => return Ok(()),
            };
            let ((n, src, ifindex), buf) = match got {
                Ok(x) => x,
                Err(e) => {
                    // A link going down (ENETDOWN) must not end the server; it resumes when
                    // the link is back.
                    tracing::warn!("dhcp: receiving on {iface}: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    continue;
                }
            };
            if ifindex.is_some_and(|i| i != self.ifindex) {
                continue;
            }
            let out = responder.handle_bytes(&buf[..n], port, src, SystemTime::now());
            for e in out.events {
                tracing::info!(mac = %e.mac, kind = ?e.kind, ip = ?e.ip, "dhcp");
                if events.try_send(e).is_err() {
                    tracing::warn!("dhcp: event channel full, an event was dropped");
                }
            }
            let Some(reply) = out.reply else { continue };
            let bytes = reply.bytes()?;
            let to = match reply.to {
                ReplyTo::Broadcast(p) => SocketAddrV4::new(Ipv4Addr::BROADCAST, p),
                ReplyTo::Unicast(a) => a,
            };
            if let Err(e) = sock.send_to(&bytes, to).await {
                // One unreachable client must not stop the server.
                tracing::warn!("dhcp: sending to {to} on {iface}: {e}");
            }
        }
    }
}
