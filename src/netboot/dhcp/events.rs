//! One record per DHCP step, for the per-MAC boot timeline.

use std::net::Ipv4Addr;
use std::time::SystemTime;

use super::arch::ClientArch;
use crate::mac::MacAddr;

/// What happened in one exchange.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "reason")]
pub enum EventKind {
    Discover,
    Offer,
    Request,
    Ack,
    Nak,
    Release,
    Decline,
    Inform,
    /// Not answered, and why (unknown machine, unsupported firmware, no free address, ...).
    Ignored(String),
}

/// One DHCP event for the timeline.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Event {
    pub mac: MacAddr,
    pub kind: EventKind,
    pub arch: Option<ClientArch>,
    /// The address offered/acknowledged, where there is one.
    pub ip: Option<Ipv4Addr>,
    /// Whether the machine is known (a pending machine is answered but not known).
    pub known: bool,
    /// The boot file or URL handed out, if any.
    pub boot: Option<String>,
    #[serde(with = "unix_secs")]
    pub at: SystemTime,
}

mod unix_secs {
    use std::time::{SystemTime, UNIX_EPOCH};
    pub fn serialize<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        s.serialize_f64(d.as_secs_f64())
    }
}
