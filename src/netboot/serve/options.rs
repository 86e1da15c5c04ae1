//! What `netboot serve` is given, and what can stop it from starting (each error names the
//! input and the flag that fixes it).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use super::scripts::{INITRD, KERNEL};
use crate::netboot::dhcp;
use crate::netboot::fleet::{FleetError, Unknown};

/// What `netboot serve` was asked to do.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub cluster_dir: PathBuf,
    pub artifacts: PathBuf,
    pub interface: String,
    /// `None` is ProxyDHCP; `Some(range)` a full DHCP server handing out that range.
    pub full_range: Option<(Ipv4Addr, Ipv4Addr)>,
    /// Full mode's DHCP options 3 (routers) and 6 (DNS servers), in the order given.
    pub routers: Vec<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    /// Artifact bodies sent at once (`ArtifactConfig::slots`); more requests queue.
    pub slots: usize,
    /// The address nodes reach HTTP(S) at; the interface's address when absent.
    pub listen: Option<Ipv4Addr>,
    pub unknown: Unknown,
    pub state: PathBuf,
    pub tftp_root: PathBuf,
    pub ports: Ports,
    /// Extra kernel arguments of every boot script (`console=ttyS0`, ...).
    pub kargs: Vec<String>,
    /// `--install-image NAME`: the raw image inside `artifacts` the boot scripts name.
    pub install_image: Option<String>,
}

/// The ports served (fixed by the firmware for DHCP and TFTP).
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub dhcp: u16,
    pub pxe: u16,
    pub tftp: u16,
    pub http: u16,
    pub https: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            dhcp: 67,
            pxe: 4011,
            tftp: 69,
            http: 8080,
            https: 8443,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Dhcp(#[from] dhcp::DhcpError),
    #[error("{what} {addr}: {source} (stop the other server using it, or pick another address with --listen)")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("artifact directory {dir}: {why} (pass --artifacts DIR holding `{KERNEL}` and `{INITRD}`, e.g. the flake's netboot build)")]
    Artifacts { dir: PathBuf, why: String },
    #[error(
        "install image {path}: {why} (pass --install-image NAME of a raw image inside --artifacts)"
    )]
    InstallImage { path: PathBuf, why: String },
    #[error("TFTP root {dir}: {why} (install Debian's `ipxe` package, or pass --tftp-root DIR with ipxe.efi and undionly.kpxe)")]
    TftpRoot { dir: PathBuf, why: String },
    #[error("cluster directory {dir}: {why} (pass --cluster DIR made by `kateskit cluster init`)")]
    Cluster { dir: PathBuf, why: String },
    #[error("{0}")]
    Fleet(#[from] FleetError),
    #[error("{0}")]
    Fs(#[from] crate::fsutil::FsError),
    #[error("TLS certificate: {0}")]
    Tls(String),
    #[error("--dhcp full needs --range FIRST,LAST (addresses on {iface}'s subnet to hand out)")]
    NoRange { iface: String },
    #[error("--{flag} is only sent with --dhcp full (in proxy mode the site's DHCP server hands out routers and DNS servers; set them there)")]
    ProxyOption { flag: &'static str },
    #[error("--slots 0 would admit no artifact transfer at all (pass --slots N with N at least 1; default 16)")]
    NoSlots,
}

impl ServeOptions {
    /// Refuses flag combinations that cannot work, before anything is bound.
    pub fn check(&self) -> Result<(), ServeError> {
        if self.slots == 0 {
            return Err(ServeError::NoSlots);
        }
        if self.full_range.is_none() {
            if !self.routers.is_empty() {
                return Err(ServeError::ProxyOption { flag: "router" });
            }
            if !self.dns.is_empty() {
                return Err(ServeError::ProxyOption { flag: "dns" });
            }
        }
        Ok(())
    }
}
