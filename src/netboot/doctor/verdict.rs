//! From what the probe and the port checks found to what to do: conflicts (another
//! ProxyDHCP, a port `netboot serve` needs held by another program), warnings (two DHCP
//! servers, a site server that already names a boot file) and the mode that fits.

use std::net::Ipv4Addr;
use std::time::Duration;

use serde::Serialize;

use super::offer::{Responder, Role};
use super::PortCheck;

/// How much a finding matters; any `Conflict` makes the doctor exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Conflict,
    Warning,
    Ok,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub level: Level,
    pub text: String,
}

/// The findings, and whether any is a conflict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub conflict: bool,
    /// `proxy`, `full`, or none when a conflict must be resolved first.
    pub mode: Option<&'static str>,
    pub findings: Vec<Finding>,
}

fn who(r: &Responder) -> String {
    match r.server_id {
        Some(id) if id != *r.source.ip() => format!("{id} (from {})", r.source.ip()),
        Some(id) => id.to_string(),
        None => format!("{} (no server id)", r.source.ip()),
    }
}

fn port_findings(ports: &[PortCheck], out: &mut Vec<Finding>) {
    for p in ports {
        if p.holders.is_empty() {
            continue;
        }
        let names: Vec<String> = p.holders.iter().map(|h| h.to_string()).collect();
        let ours = p
            .holders
            .iter()
            .all(|h| h.process.as_deref() == Some("kateskit"));
        let serving = p.netboot_serve == Some(true);
        if ours || serving {
            out.push(Finding {
                level: Level::Ok,
                text: format!(
                    "{}/{} ({}) is held by {}{}",
                    p.proto,
                    p.port,
                    p.purpose,
                    names.join(", "),
                    if serving {
                        ": a kateskit netboot serve answers GET /boot.ipxe there"
                    } else {
                        ": a kateskit netboot serve already runs here"
                    }
                ),
            });
            continue;
        }
        let fix = match p.port {
            67 | 4011 => "stop it, or run netboot serve on another host of the segment (if it is the site's DHCP server, set the boot file on it instead: below)",
            69 => "stop that TFTP server: netboot serve serves the iPXE builds itself",
            _ if p.proto == super::Proto::Tcp => "stop it, or give netboot serve another port (--http-port / --https-port)",
            _ => "stop it",
        };
        out.push(Finding {
            level: Level::Conflict,
            text: format!(
                "{}/{} ({}) is held by {}: netboot serve cannot use it; {fix}",
                p.proto,
                p.port,
                p.purpose,
                names.join(", ")
            ),
        });
    }
}

/// The verdict for one segment.
/// `server` is the netboot server's address: a site server already pointing there is fine.
pub fn judge(
    iface: &str,
    server: Ipv4Addr,
    wait: Duration,
    rs: &[Responder],
    ports: &[PortCheck],
) -> Verdict {
    let mut f = Vec::new();
    port_findings(ports, &mut f);
    let foreign: Vec<&Responder> = rs.iter().filter(|r| !r.local).collect();
    let servers: Vec<&&Responder> = foreign
        .iter()
        .filter(|r| matches!(r.role, Role::DhcpServer | Role::DhcpServerWithBootFile))
        .collect();
    let proxies: Vec<&&Responder> = foreign
        .iter()
        .filter(|r| r.role == Role::ProxyDhcp)
        .collect();
    for r in rs.iter().filter(|r| r.local) {
        f.push(Finding {
            level: Level::Ok,
            text: format!(
                "{} answered from this host's own address ({})",
                who(r),
                r.role.label()
            ),
        });
    }
    for p in &proxies {
        let file = p.offers.iter().find_map(|o| o.boot_file.clone());
        let binl = match &p.port_4011 {
            Some(x) if x.answered => "; it answers on udp/4011 too".to_string(),
            Some(x) if x.skipped.is_some() => String::new(),
            _ => "; it does not answer on udp/4011".to_string(),
        };
        f.push(Finding {
            level: Level::Conflict,
            text: format!(
                "another ProxyDHCP answers PXE clients on {iface}: {}{}{binl}. Two proxies race for every PXE client: stop it, or boot this rack on another segment",
                who(p),
                file.map(|b| format!(", boot file {b}")).unwrap_or_default()
            ),
        });
    }
    for s in servers
        .iter()
        .filter(|r| r.role == Role::DhcpServerWithBootFile)
    {
        let o = s.offers.iter().find(|o| o.boot_file.is_some());
        let file = o.and_then(|o| o.boot_file.clone()).unwrap_or_default();
        let next = o
            .and_then(|o| o.next_server)
            .map(|n| format!(" (next-server {n})"))
            .unwrap_or_default();
        let ours = o.and_then(|o| o.next_server) == Some(server);
        f.push(if ours {
            Finding {
                level: Level::Ok,
                text: format!(
                    "DHCP server {} already points PXE clients at {server} (boot file {file}): firmware that ignores ProxyDHCP boots from it",
                    who(s)
                ),
            }
        } else {
            Finding {
                level: Level::Warning,
                text: format!(
                    "DHCP server {} already names boot file {file}{next} for PXE clients: firmware may boot that instead of the ProxyDHCP answer; remove it, or point it at this server (below)",
                    who(s)
                ),
            }
        });
    }
    for u in foreign.iter().filter(|r| r.role == Role::Unclassified) {
        f.push(Finding {
            level: Level::Warning,
            text: format!(
                "{} replied with neither an address nor option 60 PXEClient",
                who(u)
            ),
        });
    }
    let mode = match (servers.len(), proxies.len()) {
        (_, n) if n > 0 => None,
        (0, _) => {
            f.push(Finding {
                level: Level::Ok,
                text: format!(
                    "no DHCP server answered within {:.1} s on {iface}: an isolated segment; use `--dhcp full --range FIRST,LAST`{}",
                    wait.as_secs_f64(),
                    if wait < Duration::from_secs(4) {
                        " (servers that ping an address before offering it, as dnsmasq does, can take 3 s: try --wait 4 or more)"
                    } else {
                        ""
                    }
                ),
            });
            Some("full")
        }
        (n, _) => {
            if n > 1 {
                let names: Vec<String> = servers.iter().map(|r| who(r)).collect();
                f.push(Finding {
                    level: Level::Warning,
                    text: format!(
                        "{n} DHCP servers offer addresses on {iface} ({}): clients take whichever answers first",
                        names.join(", ")
                    ),
                });
            }
            f.push(Finding {
                level: Level::Ok,
                text: format!(
                    "site DHCP server {} offers addresses: `--dhcp proxy` works beside it for firmware that honours ProxyDHCP; for firmware that ignores it, set the boot file on the site server (below)",
                    who(servers[0])
                ),
            });
            Some("proxy")
        }
    };
    let conflict = f.iter().any(|x| x.level == Level::Conflict);
    Verdict {
        conflict,
        mode: if conflict { None } else { mode },
        findings: f,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netboot::doctor::offer::{Firmware, Offer};
    use crate::netboot::doctor::{Holder, Proto};

    fn responder(ip: [u8; 4], offered: bool, class: Option<&str>) -> Responder {
        let offers = vec![Offer {
            probe: Firmware::Uefi,
            offered: offered.then_some(Ipv4Addr::new(192, 0, 2, 100)),
            next_server: None,
            tftp_server: None,
            boot_file: None,
            option_43: false,
            boot_menu: vec![],
            vendor_class: class.map(String::from),
        }];
        Responder {
            role: super::super::offer::classify(&offers),
            server_id: Some(Ipv4Addr::from(ip)),
            source: std::net::SocketAddrV4::new(Ipv4Addr::from(ip), 67),
            local: false,
            offers,
            port_4011: None,
        }
    }

    fn judged(rs: &[Responder], ports: &[PortCheck]) -> Verdict {
        judge(
            "eth1",
            Ipv4Addr::new(192, 0, 2, 9),
            Duration::from_secs(4),
            rs,
            ports,
        )
    }

    #[test]
    fn the_mode_follows_what_answered() {
        let site = responder([192, 0, 2, 1], true, None);
        let v = judged(std::slice::from_ref(&site), &[]);
        assert_eq!((v.conflict, v.mode), (false, Some("proxy")));
        let v = judged(&[], &[]);
        assert_eq!((v.conflict, v.mode), (false, Some("full")));
        assert!(v.findings[0].text.contains("--dhcp full"));
        let two = judged(&[site.clone(), responder([192, 0, 2, 3], true, None)], &[]);
        assert!(!two.conflict);
        assert!(two.findings.iter().any(|f| f.level == Level::Warning));
        let proxy = responder([192, 0, 2, 2], false, Some("PXEClient"));
        let v = judged(&[site, proxy.clone()], &[]);
        assert_eq!((v.conflict, v.mode), (true, None));
        assert!(v.findings.iter().any(|f| f.text.contains("192.0.2.2")));
        let mut ours = proxy;
        ours.local = true;
        assert!(!judged(&[ours], &[]).conflict, "this host's own proxy");
    }

    #[test]
    fn a_port_held_by_another_program_conflicts() {
        let held = |process: &str| PortCheck {
            proto: Proto::Udp,
            port: 69,
            purpose: "TFTP",
            holders: vec![Holder {
                local: "0.0.0.0:69".parse().unwrap(),
                pid: Some(42),
                process: Some(process.into()),
            }],
            netboot_serve: None,
        };
        let v = judged(&[], &[held("in.tftpd")]);
        assert!(v.conflict);
        assert!(v.findings[0].text.contains("in.tftpd (pid 42)"), "{v:?}");
        assert!(!judged(&[], &[held("kateskit")]).conflict);
    }
}
