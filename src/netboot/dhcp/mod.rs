//! DHCP for netboot (docs/netboot.md "DHCP"): a ProxyDHCP beside the site's DHCP server, or a
//! full DHCP server for an isolated rack network. Both point PXE firmware at the right iPXE
//! build and iPXE at its per-MAC script.
//!
//! The protocol logic is [`Responder`]: one parsed request and its context in, the reply (or
//! nothing) and the exchange's [`Event`]s out, so every option rule is testable without
//! sockets. [`Server`] binds ports 67 and 4011 on one interface and feeds the responder.
//!
//! ```no_run
//! # async fn serve() -> Result<(), kateskit::netboot::dhcp::DhcpError> {
//! use std::sync::{Arc, RwLock};
//! use kateskit::netboot::dhcp::*;
//! let ip = interface_ipv4("eth1")?;
//! let known = Arc::new(RwLock::new(std::collections::HashSet::<MacAddr>::new()));
//! let cfg = ResponderConfig {
//!     server_ip: ip,
//!     mode: Mode::Proxy,
//!     unknown: UnknownPolicy::Pending,
//!     boot: BootTargets {
//!         tftp_server: ip,
//!         script_url: format!("http://{ip}:8080/boot.ipxe?mac={{mac}}&arch={{arch}}"),
//!         http_boot_url: format!("http://{ip}:8080/ipxe/{{file}}"),
//!         files: Default::default(),
//!     },
//!     ipxe_user_class: "kateskit".into(),
//!     known: known.clone(), // approvals insert into this set
//! };
//! let (events, mut timeline) = tokio::sync::mpsc::channel(1024);
//! let server = Server::bind("eth1", 67, 4011)?;
//! tokio::spawn(server.run(Responder::new(cfg)?, events));
//! while let Some(e) = timeline.recv().await {
//!     println!("{} {:?}", e.mac, e.kind);
//! }
//! # Ok(()) }
//! ```

mod arch;
mod classify;
mod config;
mod events;
mod full;
mod leases;
mod packet;
mod proxy;
mod reply;
mod responder;
mod server;
mod wire;

pub use crate::mac::MacAddr;
pub use arch::{ClientArch, IpxeBuild};
pub use classify::{Client, ClientKind, Refusal};
pub use config::{
    parse_range, BadValue, BootTargets, FullConfig, KnownMachines, Mode, ResponderConfig,
    UnknownPolicy,
};
pub use events::{Event, EventKind};
pub use leases::{Lease, LeaseState, Leases};
pub use packet::ClientPacket;
pub use responder::{Outcome, Port, Reply, ReplyTo, Request, Responder, Stats};
pub use server::{interface_ipv4, Server};
pub use wire::{decode, decode_reply, Malformed};

use std::path::PathBuf;

/// What can go wrong setting up or running the DHCP side; a malformed packet is not an
/// error of the server (it is counted in [`Stats`] and dropped).
#[derive(Debug, thiserror::Error)]
pub enum DhcpError {
    #[error("DHCP range {first}..{last}: {why} (pass --range FIRST,LAST inside the interface's subnet, FIRST <= LAST)")]
    BadRange {
        first: std::net::Ipv4Addr,
        last: std::net::Ipv4Addr,
        why: &'static str,
    },
    #[error("lease file {path}: {source}")]
    LeaseRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "lease file {path} is not valid JSON ({source}); move it away to start with no leases"
    )]
    LeaseParse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("writing lease file: {0}")]
    LeaseWrite(#[from] crate::fsutil::FsError),
    #[error("{what} on interface {iface}: {source}")]
    Socket {
        what: String,
        iface: String,
        #[source]
        source: std::io::Error,
    },
    #[error("interface {iface} has no IPv4 address (give it one, or pass --listen ADDR)")]
    NoAddress { iface: String },
    #[error("encoding a DHCP reply: {0}")]
    Encode(String),
}

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests_full;
#[cfg(test)]
mod tests_leases;
#[cfg(test)]
mod tests_proxy;
