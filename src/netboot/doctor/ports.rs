//! Who holds a local port: the sockets in /proc/net/{udp,udp6,tcp,tcp6} of this network
//! namespace, matched by inode to the processes whose /proc/PID/fd links name them. And whether
//! a `kateskit netboot serve` answers on the HTTP port (`GET /boot.ipxe` is an iPXE script).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

use serde::Serialize;

/// `udp` or `tcp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Udp,
    Tcp,
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
        })
    }
}

/// A socket bound to the port, and the process holding it when /proc shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holder {
    /// The local address it is bound to (`0.0.0.0:67`).
    pub local: SocketAddr,
    pub pid: Option<u32>,
    /// `/proc/PID/comm`.
    pub process: Option<String>,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.process, self.pid) {
            (Some(p), Some(pid)) => write!(f, "{p} (pid {pid}) on {}", self.local),
            _ => write!(
                f,
                "a socket on {} of a process this user cannot see (run as root)",
                self.local
            ),
        }
    }
}

/// Every socket bound to `proto`/`port` (TCP: listening ones only).
pub fn holders(proto: Proto, port: u16) -> std::io::Result<Vec<Holder>> {
    let files: &[&str] = match proto {
        Proto::Udp => &["/proc/net/udp", "/proc/net/udp6"],
        Proto::Tcp => &["/proc/net/tcp", "/proc/net/tcp6"],
    };
    let mut found = Vec::new();
    for f in files {
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            // No IPv6 in this kernel: no IPv6 sockets either.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(std::io::Error::new(e.kind(), format!("{f}: {e}"))),
        };
        for line in text.lines().skip(1) {
            if let Some((local, inode)) = parse_line(line, proto) {
                if local.port() == port {
                    found.push((local, inode));
                }
            }
        }
    }
    let owners = socket_owners(found.iter().map(|(_, i)| *i).collect());
    Ok(found
        .into_iter()
        .map(|(local, inode)| {
            let pid = owners.get(&inode).copied();
            Holder {
                local,
                pid,
                process: pid.and_then(comm),
            }
        })
        .collect())
}

/// One /proc/net line: its local address and socket inode (TCP: only state 0A, LISTEN).
fn parse_line(line: &str, proto: Proto) -> Option<(SocketAddr, u64)> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 10 || (proto == Proto::Tcp && f[3] != "0A") {
        return None;
    }
    let (addr, port) = f[1].split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    // The kernel prints each 32-bit word of the address as a host-order integer.
    let words: Vec<[u8; 4]> = (0..addr.len() / 8)
        .map(|i| u32::from_str_radix(&addr[i * 8..i * 8 + 8], 16).map(u32::to_ne_bytes))
        .collect::<Result<_, _>>()
        .ok()?;
    let ip = match words.len() {
        1 => IpAddr::V4(Ipv4Addr::from(words[0])),
        4 => {
            let mut b = [0u8; 16];
            for (i, w) in words.iter().enumerate() {
                b[i * 4..i * 4 + 4].copy_from_slice(w);
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some((SocketAddr::new(ip, port), f[9].parse().ok()?))
}

/// inode -> pid for the given socket inodes, from every /proc/PID/fd this user may read.
fn socket_owners(inodes: Vec<u64>) -> HashMap<u64, u32> {
    let mut out = HashMap::new();
    if inodes.is_empty() {
        return out;
    }
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let t = target.to_string_lossy();
            let inode = t
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|s| s.parse::<u64>().ok());
            if let Some(i) = inode.filter(|i| inodes.contains(i)) {
                out.entry(i).or_insert(pid);
            }
        }
    }
    out
}

fn comm(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_string())
}

/// Whether `GET /boot.ipxe` on the listener at `local` returns an iPXE script (what
/// `kateskit netboot serve` answers); a wildcard listener is asked on loopback.
pub fn answers_boot_script(local: SocketAddr) -> bool {
    let ip = match local.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let addr = SocketAddr::new(ip, local.port());
    let t = Duration::from_secs(2);
    let Ok(mut s) = TcpStream::connect_timeout(&addr, t) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(t));
    let _ = s.set_write_timeout(Some(t));
    let req = format!("GET /boot.ipxe HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = Vec::new();
    let _ = s.take(64 * 1024).read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    text.starts_with("HTTP/1.") && text.contains(" 200 ") && text.contains("#!ipxe")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_lines_are_decoded() {
        let udp = "  12: 00000000:0043 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 0";
        let (a, i) = parse_line(udp, Proto::Udp).unwrap();
        assert_eq!(a, "0.0.0.0:67".parse().unwrap());
        assert_eq!(i, 4242);
        let lo = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 77 1 0 100 0 0 10 0";
        let (a, _) = parse_line(lo, Proto::Tcp).unwrap();
        assert_eq!(a, "127.0.0.1:8080".parse().unwrap());
        let established = lo.replace(" 0A ", " 01 ");
        assert!(parse_line(&established, Proto::Tcp).is_none());
        let v6 = "   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 78 1 0";
        let (a, _) = parse_line(v6, Proto::Tcp).unwrap();
        assert_eq!(a, "[::]:8080".parse().unwrap());
    }

    #[test]
    fn a_socket_of_this_process_is_found_with_its_pid() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = s.local_addr().unwrap().port();
        let h = holders(Proto::Udp, port).unwrap();
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!(h[0].pid, Some(std::process::id()));
        drop(s);
        assert!(holders(Proto::Udp, port).unwrap().is_empty());
    }
}
