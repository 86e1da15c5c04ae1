//! `kateskit netboot doctor` (docs/netboot.md "Doctor"): before serving a segment, find the
//! DHCP servers and ProxyDHCPs already on it, check the local ports `netboot serve` needs,
//! say whether proxy or full mode fits, and render what to set on the site's DHCP server for
//! firmware that ignores ProxyDHCP.
//!
//! [`probe`] is the wire part ([`offer`] reads the replies), [`ports`] the local sockets, [`site`] the site-server snippets,
//! [`verdict`] the advice and [`text`] the printed report; [`run`] puts them together.

mod binl;
pub mod offer;
pub mod ports;
pub mod probe;
pub mod site;
pub mod text;
pub mod verdict;

use std::net::Ipv4Addr;
use std::time::Duration;

use serde::Serialize;

use crate::netboot::dhcp::{interface_ipv4, MacAddr};
pub use offer::{Firmware, Offer, Port4011, Responder, Role};
pub use ports::{Holder, Proto};
pub use probe::ProbeError;
pub use site::{site_configs, SiteConfig, SiteParams};
pub use verdict::{Finding, Level, Verdict};

/// What the doctor is asked to check.
#[derive(Debug, Clone)]
pub struct DoctorOptions {
    pub iface: String,
    /// How long replies are collected.
    pub wait: Duration,
    pub http_port: u16,
    pub https_port: u16,
    /// The netboot server's address the site snippets name (default: the interface's IPv4).
    pub server: Option<Ipv4Addr>,
    /// The probe's MAC (default: a random locally administered one).
    pub mac: Option<MacAddr>,
}

/// A local port `netboot serve` needs, and who holds it.
#[derive(Debug, Clone, Serialize)]
pub struct PortCheck {
    pub proto: Proto,
    pub port: u16,
    /// What `netboot serve` uses it for.
    pub purpose: &'static str,
    pub holders: Vec<Holder>,
    /// HTTP port only: a `kateskit netboot serve` answers `GET /boot.ipxe` there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netboot_serve: Option<bool>,
}

/// The whole report (`--json` prints it).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub interface: String,
    /// The address the site snippets name.
    pub server: Ipv4Addr,
    /// The interface's own IPv4 address, if it has one.
    pub interface_ip: Option<Ipv4Addr>,
    pub probe_mac: String,
    pub wait_ms: u64,
    pub responders: Vec<Responder>,
    pub ports: Vec<PortCheck>,
    pub verdict: Verdict,
    pub site_configs: Vec<SiteConfig>,
}

/// Bad input or a probe that could not run.
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    #[error("interface {iface} does not exist (`ip -br link` lists the interfaces; pass the one facing the machines to boot)")]
    NoInterface { iface: String },
    #[error("interface {iface} has no IPv4 address, so there is no server address for the site DHCP snippets: pass --server IP (the address netboot serve will listen on)")]
    NoAddress { iface: String },
    #[error("reading {what}: {source}")]
    Proc {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Probe(#[from] ProbeError),
}

fn iface_exists(iface: &str) -> bool {
    let Ok(c) = std::ffi::CString::new(iface) else {
        return false;
    };
    // SAFETY: c is a valid NUL-terminated string.
    unsafe { libc::if_nametoindex(c.as_ptr()) != 0 }
}

/// The IPv4 network of `ip` under `iface`'s netmask, `a.b.c.d/len`.
fn network_of(ip: Ipv4Addr, iface: &str) -> Option<String> {
    let mask = crate::netboot::serve::iface::netmask(iface)?;
    let len = u32::from(mask).count_ones();
    Some(format!(
        "{}/{len}",
        Ipv4Addr::from(u32::from(ip) & u32::from(mask))
    ))
}

/// The local ports checks, in the order they are printed.
pub fn check_ports(http_port: u16, https_port: u16) -> Result<Vec<PortCheck>, DoctorError> {
    let wanted = [
        (Proto::Udp, 67, "DHCP"),
        (Proto::Udp, 69, "TFTP, the iPXE builds"),
        (Proto::Udp, 4011, "PXE boot server"),
        (Proto::Tcp, http_port, "HTTP, scripts and artifacts"),
        (Proto::Tcp, https_port, "HTTPS, configs and status"),
    ];
    wanted
        .into_iter()
        .map(|(proto, port, purpose)| {
            let holders = ports::holders(proto, port).map_err(|source| DoctorError::Proc {
                what: format!("the {proto} sockets"),
                source,
            })?;
            let netboot_serve = (proto == Proto::Tcp && port == http_port).then(|| {
                holders
                    .first()
                    .is_some_and(|h| ports::answers_boot_script(h.local))
            });
            Ok(PortCheck {
                proto,
                port,
                purpose,
                holders,
                netboot_serve,
            })
        })
        .collect()
}

/// Checks the input, the local ports, probes the segment and gives the verdict.
pub fn run(o: &DoctorOptions) -> Result<Report, DoctorError> {
    if !iface_exists(&o.iface) {
        return Err(DoctorError::NoInterface {
            iface: o.iface.clone(),
        });
    }
    let interface_ip = interface_ipv4(&o.iface).ok();
    let server = o
        .server
        .or(interface_ip)
        .ok_or_else(|| DoctorError::NoAddress {
            iface: o.iface.clone(),
        })?;
    let network = network_of(server, &o.iface).unwrap_or_else(|| "NETWORK".to_string());
    let ports = check_ports(o.http_port, o.https_port)?;
    let mac = o.mac.unwrap_or_else(probe::random_mac);
    let responders = probe::probe(&probe::ProbeOptions {
        iface: o.iface.clone(),
        mac,
        wait: o.wait,
        local_ip: interface_ip,
    })?;
    let verdict = verdict::judge(&o.iface, server, o.wait, &responders, &ports);
    Ok(Report {
        interface: o.iface.clone(),
        server,
        interface_ip,
        probe_mac: mac.to_string(),
        wait_ms: o.wait.as_millis() as u64,
        responders,
        ports,
        verdict,
        site_configs: site_configs(&SiteParams::new(&server.to_string(), o.http_port, &network)),
    })
}
