//! What the responder is told: its mode, where boot files live, and which machines it knows.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use super::arch::IpxeBuild;
use crate::mac::MacAddr;

/// `--dhcp proxy|full`.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Beside the site's DHCP server: answers PXE clients only, never assigns addresses.
    Proxy,
    /// The only DHCP server of an isolated rack network.
    Full(FullConfig),
}

/// Full DHCP: the pool, the options every lease carries, and the state directory.
#[derive(Debug, Clone)]
pub struct FullConfig {
    /// `--range FIRST,LAST`, inclusive.
    pub first: Ipv4Addr,
    pub last: Ipv4Addr,
    pub netmask: Ipv4Addr,
    pub routers: Vec<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub lease_secs: u32,
    /// Fixed addresses by MAC (cluster.toml's static addresses); these machines are known.
    pub reservations: HashMap<MacAddr, Ipv4Addr>,
    /// Where `dhcp-leases.json` lives (`--state DIR`).
    pub state_dir: PathBuf,
}

/// `--unknown ignore|pending`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownPolicy {
    /// No answer at all: the machine boots as if no netboot server existed.
    Ignore,
    /// Answered like a known machine, so it boots the generic image and waits for approval.
    Pending,
}

/// Decides per MAC whether a machine is known (in cluster.toml or approved). Shared with the
/// code that approves machines, so an approval takes effect on the next packet.
pub trait KnownMachines: Send + Sync {
    fn is_known(&self, mac: &MacAddr) -> bool;
}

impl KnownMachines for HashSet<MacAddr> {
    fn is_known(&self, mac: &MacAddr) -> bool {
        self.contains(mac)
    }
}

impl<T: KnownMachines> KnownMachines for RwLock<T> {
    fn is_known(&self, mac: &MacAddr) -> bool {
        // A poisoned lock still holds the last approvals.
        match self.read() {
            Ok(g) => g.is_known(mac),
            Err(p) => p.into_inner().is_known(mac),
        }
    }
}

impl<T: KnownMachines + ?Sized> KnownMachines for Arc<T> {
    fn is_known(&self, mac: &MacAddr) -> bool {
        (**self).is_known(mac)
    }
}

/// Where each kind of client is sent. URLs are templates: `{mac}` becomes the client's MAC
/// in iPXE's `hexhyp` form, `{arch}` iPXE's `${buildarch}`, `{file}` an iPXE build's file.
#[derive(Debug, Clone)]
pub struct BootTargets {
    /// The TFTP server PXE firmware loads iPXE from (siaddr, option 66).
    pub tftp_server: Ipv4Addr,
    /// The per-MAC iPXE script, e.g. `http://192.0.2.1:8080/boot.ipxe?mac={mac}&arch={arch}`.
    pub script_url: String,
    /// An iPXE build by HTTP for UEFI HTTP boot, e.g. `http://192.0.2.1:8080/ipxe/{file}`.
    pub http_boot_url: String,
    /// File names that differ from [`IpxeBuild::default_file`] (e.g. `snponly.efi`).
    pub files: HashMap<IpxeBuild, String>,
}

impl BootTargets {
    pub fn file(&self, b: IpxeBuild) -> &str {
        self.files
            .get(&b)
            .map(String::as_str)
            .unwrap_or(b.default_file())
    }

    pub fn script_for(&self, mac: &MacAddr, buildarch: &str) -> String {
        self.script_url
            .replace("{mac}", &mac.hexhyp())
            .replace("{arch}", buildarch)
    }

    pub fn http_boot_for(&self, b: IpxeBuild) -> String {
        self.http_boot_url.replace("{file}", self.file(b))
    }
}

/// Everything [`super::Responder`] needs.
#[derive(Clone)]
pub struct ResponderConfig {
    /// This server's address on the interface (option 54, replies' source).
    pub server_ip: Ipv4Addr,
    pub mode: Mode,
    pub unknown: UnknownPolicy,
    pub boot: BootTargets,
    /// The option 77 class the server's own iPXE build sends (besides stock `iPXE`).
    pub ipxe_user_class: String,
    pub known: Arc<dyn KnownMachines>,
}

impl std::fmt::Debug for ResponderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponderConfig")
            .field("server_ip", &self.server_ip)
            .field("mode", &self.mode)
            .field("unknown", &self.unknown)
            .field("boot", &self.boot)
            .finish_non_exhaustive()
    }
}

/// Why a `--unknown` or `--range` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadValue {
    #[error("--unknown {0:?}: expected `ignore` or `pending`")]
    Unknown(String),
    #[error("--range {0:?}: expected FIRST,LAST with two IPv4 addresses, FIRST <= LAST (e.g. 192.0.2.100,192.0.2.200)")]
    Range(String),
}

impl std::str::FromStr for UnknownPolicy {
    type Err = BadValue;
    fn from_str(s: &str) -> Result<Self, BadValue> {
        match s {
            "ignore" => Ok(UnknownPolicy::Ignore),
            "pending" => Ok(UnknownPolicy::Pending),
            _ => Err(BadValue::Unknown(s.to_string())),
        }
    }
}

/// Parses `--range FIRST,LAST`.
pub fn parse_range(s: &str) -> Result<(Ipv4Addr, Ipv4Addr), BadValue> {
    let bad = || BadValue::Range(s.to_string());
    let (a, b) = s.split_once(',').ok_or_else(bad)?;
    let first: Ipv4Addr = a.trim().parse().map_err(|_| bad())?;
    let last: Ipv4Addr = b.trim().parse().map_err(|_| bad())?;
    if first > last {
        return Err(bad());
    }
    Ok((first, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_values_parse_or_name_the_flag() {
        assert_eq!("pending".parse(), Ok(UnknownPolicy::Pending));
        assert_eq!("ignore".parse(), Ok(UnknownPolicy::Ignore));
        assert!("Pending"
            .parse::<UnknownPolicy>()
            .unwrap_err()
            .to_string()
            .contains("--unknown"));
        assert_eq!(
            parse_range("192.0.2.100, 192.0.2.200"),
            Ok((Ipv4Addr::new(192, 0, 2, 100), Ipv4Addr::new(192, 0, 2, 200)))
        );
        for bad in [
            "192.0.2.100",
            "192.0.2.200,192.0.2.100",
            "a,b",
            "192.0.2.1,",
        ] {
            assert!(
                parse_range(bad)
                    .unwrap_err()
                    .to_string()
                    .contains("--range"),
                "{bad}"
            );
        }
    }
}
