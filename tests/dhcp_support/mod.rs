//! Helpers for tests/netboot_dhcp.rs: the responder on a namespace's interface, a raw client
//! socket, Debian's dnsmasq as the site DHCP server, and busybox udhcpc runs.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dhcproto::v4::Message;
use dhcproto::{Decodable, Decoder};
use kateskit::netboot::dhcp::{
    BootTargets, Event, MacAddr, Mode, Responder, ResponderConfig, Server, UnknownPolicy,
};

use crate::netns::Netns;

pub const PROXY_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
pub const SITE_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const PXE_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x01];

pub fn config(server_ip: Ipv4Addr, mode: Mode, known: &[[u8; 6]]) -> ResponderConfig {
    ResponderConfig {
        server_ip,
        mode,
        unknown: UnknownPolicy::Ignore,
        boot: BootTargets {
            tftp_server: server_ip,
            script_url: format!("http://{server_ip}:8080/boot.ipxe?mac={{mac}}"),
            http_boot_url: format!("http://{server_ip}:8080/ipxe/{{file}}"),
            files: HashMap::new(),
        },
        ipxe_user_class: "kateskit".into(),
        known: Arc::new(known.iter().map(|m| MacAddr(*m)).collect::<HashSet<_>>()),
    }
}

/// Runs the responder on `iface` inside `ns` until the returned receiver is dropped.
pub fn serve(
    ns: &Netns,
    iface: &'static str,
    cfg: ResponderConfig,
) -> (
    std::thread::JoinHandle<()>,
    tokio::sync::mpsc::Receiver<Event>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let h = ns.spawn(move || {
        let server = Server::bind(iface, 67, 4011).expect("bind 67/4011");
        let responder = Responder::new(cfg).expect("responder");
        ready_tx.send(()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(server.run(responder, tx)).expect("server run");
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("server bound");
    (h, rx)
}

pub fn drain(rx: &mut tokio::sync::mpsc::Receiver<Event>) -> Vec<Event> {
    let mut v = Vec::new();
    while let Ok(e) = rx.try_recv() {
        v.push(e);
    }
    v
}

/// A client socket on udp/68 of `iface` (call inside the client namespace).
pub fn client_socket(iface: &str) -> UdpSocket {
    use std::os::fd::FromRawFd;
    // SAFETY: fresh socket; options on it; ownership moves to the UdpSocket.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let one = 1i32.to_ne_bytes();
        for (l, o) in [
            (libc::SOL_SOCKET, libc::SO_REUSEADDR),
            (libc::SOL_SOCKET, libc::SO_BROADCAST),
        ] {
            libc::setsockopt(fd, l, o, one.as_ptr().cast(), 4);
        }
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            iface.as_ptr().cast(),
            iface.len() as u32,
        );
        let s = UdpSocket::from_raw_fd(fd);
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as u16,
            sin_port: 68u16.to_be(),
            sin_addr: libc::in_addr { s_addr: 0 },
            sin_zero: [0; 8],
        };
        let r = libc::bind(
            fd,
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as u32,
        );
        assert_eq!(r, 0, "bind 68: {}", std::io::Error::last_os_error());
        s
    }
}

/// Every reply to `xid` within `wait`, with its sender.
pub fn collect(
    sock: &UdpSocket,
    xid: u32,
    wait: Duration,
    want: usize,
) -> Vec<(SocketAddrV4, Message)> {
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    let mut buf = [0u8; 1500];
    while out.len() < want {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        sock.set_read_timeout(Some(left)).unwrap();
        let Ok((n, std::net::SocketAddr::V4(from))) = sock.recv_from(&mut buf) else {
            break;
        };
        if let Ok(m) = Message::decode(&mut Decoder::new(&buf[..n])) {
            if m.xid() == xid && m.opcode() == dhcproto::v4::Opcode::BootReply {
                out.push((from, m));
            }
        }
    }
    out
}

pub fn fname(m: &Message) -> String {
    let f = m.fname().unwrap_or_default();
    String::from_utf8_lossy(&f[..f.iter().position(|b| *b == 0).unwrap_or(f.len())]).into_owned()
}

pub fn wait_for(what: &str, wait: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + wait;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Debian's dnsmasq as the site's DHCP server (addresses only, no PXE), killed on drop.
pub struct SiteDhcp(std::process::Child);

impl SiteDhcp {
    pub fn start(ns: &Netns, dir: &Path) -> SiteDhcp {
        let log = dir.join("dnsmasq.log");
        let child = ns
            .command("dnsmasq")
            .args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--port=0",
            ])
            .args([
                "--interface=br0",
                "--bind-interfaces",
                "--user=root",
                "--dhcp-authoritative",
                "--log-dhcp",
            ])
            .arg("--dhcp-range=192.0.2.100,192.0.2.150,255.255.255.0,1h")
            .arg(format!("--dhcp-leasefile={}", dir.join("leases").display()))
            .arg(format!("--pid-file={}", dir.join("pid").display()))
            .arg(format!("--log-facility={}", log.display()))
            .spawn()
            .expect("dnsmasq");
        let site = SiteDhcp(child);
        wait_for("dnsmasq to start", Duration::from_secs(10), || {
            std::fs::read_to_string(&log).is_ok_and(|l| l.contains("DHCP, IP range"))
        });
        site
    }
}

impl Drop for SiteDhcp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs udhcpc once in `ns` with the PXE identity options; returns the script's env, if bound.
pub fn udhcpc(ns: &Netns, dir: &Path, tag: &str, extra: &[&str]) -> Option<String> {
    let script = dir.join(format!("{tag}.sh"));
    std::fs::write(
        &script,
        format!("#!/bin/sh\nenv > {}/{tag}.$1\n", dir.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let st = ns
        .command("timeout")
        .args([
            "30", "busybox", "udhcpc", "-i", "cl0", "-f", "-q", "-n", "-t", "5", "-T", "2", "-s",
        ])
        .arg(&script)
        .args(extra)
        .status()
        .unwrap();
    st.success()
        .then(|| std::fs::read_to_string(dir.join(format!("{tag}.bound"))).unwrap())
}

pub fn set_mac(ns: &Netns, mac: &str) {
    ns.ip(&["link", "set", "cl0", "down"]);
    ns.ip(&["link", "set", "cl0", "address", mac]);
    ns.ip(&["link", "set", "cl0", "up"]);
}
