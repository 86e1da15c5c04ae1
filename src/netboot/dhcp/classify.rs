//! Who is asking: plain DHCP client, PXE firmware, UEFI HTTP boot firmware, or iPXE itself.

use dhcproto::v4::{DhcpOption, Message, OptionCode};

use super::arch::{ClientArch, IpxeBuild};
use crate::mac::MacAddr;

/// iPXE's own user class (option 77) value.
pub const IPXE_USER_CLASS: &str = "iPXE";

/// A requester as far as netboot cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub mac: MacAddr,
    /// Option 93 as sent (first code), also for clients that are not served.
    pub arch: Option<ClientArch>,
    pub kind: ClientKind,
    /// Option 97 exactly as sent (empty or type 0 + GUID), mirrored in replies; `None` when
    /// the client did not send it, so replies leave it out too.
    pub machine_id: Option<Vec<u8>>,
}

/// What a requester gets as its boot file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// Not a netboot client (no `PXEClient`/`HTTPClient` class or no option 93).
    Plain,
    /// PXE firmware: the iPXE build over TFTP.
    Pxe(IpxeBuild),
    /// UEFI HTTP boot firmware: the iPXE build by `http://` URL, class `HTTPClient`.
    HttpBoot(IpxeBuild),
    /// iPXE already running (user class `iPXE` or the server's own): the script URL, so
    /// iPXE never loads itself again.
    Ipxe,
    /// A netboot client with no iPXE build for its architecture.
    Unsupported(Refusal),
}

/// Why a netboot client cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("architecture {0} has no iPXE build")]
    NoBuild(ClientArch),
}

fn bytes(msg: &Message, code: OptionCode) -> Option<&[u8]> {
    match msg.opts().get(code)? {
        DhcpOption::ClassIdentifier(b)
        | DhcpOption::UserClass(b)
        | DhcpOption::ClientMachineIdentifier(b)
        | DhcpOption::VendorExtensions(b) => Some(b),
        _ => None,
    }
}

/// True when option 77 names `class`: either the raw string (what iPXE sends) or one entry of
/// an RFC 3004 length-prefixed list.
pub fn has_user_class(msg: &Message, class: &str) -> bool {
    let Some(raw) = bytes(msg, OptionCode::UserClass) else {
        return false;
    };
    if raw == class.as_bytes() {
        return true;
    }
    let mut rest = raw;
    while let Some((&len, tail)) = rest.split_first() {
        let len = len as usize;
        if len == 0 || len > tail.len() {
            return false;
        }
        if &tail[..len] == class.as_bytes() {
            return true;
        }
        rest = &tail[len..];
    }
    false
}

/// The requester's MAC (chaddr; wire::decode guarantees Ethernet).
pub fn mac_of(msg: &Message) -> MacAddr {
    let mut m = [0u8; 6];
    m.copy_from_slice(&msg.chaddr()[..6]);
    MacAddr(m)
}

/// Classifies a decoded request; `own_class` is the user class the server's own iPXE sends.
pub fn classify(msg: &Message, own_class: &str) -> Client {
    let mac = mac_of(msg);
    let arch = match msg.opts().get(OptionCode::ClientSystemArchitecture) {
        Some(DhcpOption::ClientSystemArchitecture(a)) => Some(ClientArch::from_code(u16::from(*a))),
        _ => None,
    };
    let machine_id = bytes(msg, OptionCode::ClientMachineIdentifier).map(<[u8]>::to_vec);
    let class = bytes(msg, OptionCode::ClassIdentifier).unwrap_or_default();
    let http_class = class.starts_with(b"HTTPClient");
    let netboot = class.starts_with(b"PXEClient") || http_class;
    let kind = match arch {
        Some(arch) if netboot => {
            if has_user_class(msg, IPXE_USER_CLASS) || has_user_class(msg, own_class) {
                ClientKind::Ipxe
            } else {
                match arch.build {
                    None => ClientKind::Unsupported(Refusal::NoBuild(arch)),
                    Some(b) if arch.http || http_class => ClientKind::HttpBoot(b),
                    Some(b) => ClientKind::Pxe(b),
                }
            }
        }
        _ => ClientKind::Plain,
    };
    Client {
        mac,
        arch,
        kind,
        machine_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netboot::dhcp::packet::ClientPacket;
    use IpxeBuild::*;

    fn kind(p: ClientPacket) -> ClientKind {
        classify(&p.discover(), "kateskit").kind
    }

    #[test]
    fn pxe_needs_the_class_and_option_93() {
        let p = ClientPacket::new([2, 0, 0, 0, 0, 1]);
        assert_eq!(kind(p.clone()), ClientKind::Plain);
        assert_eq!(
            kind(p.clone().vendor_class("PXEClient:Arch:00000")),
            ClientKind::Plain
        );
        assert_eq!(kind(p.clone().arch(0)), ClientKind::Plain);
        assert_eq!(
            kind(p.clone().vendor_class("MSFT 5.0").arch(0)),
            ClientKind::Plain
        );
        assert_eq!(
            kind(
                p.clone()
                    .vendor_class("PXEClient:Arch:00000:UNDI:002001")
                    .arch(0)
            ),
            ClientKind::Pxe(BiosUndi)
        );
        assert_eq!(
            kind(p.vendor_class("PXEClient").arch(7)),
            ClientKind::Pxe(EfiX64)
        );
    }

    #[test]
    fn http_boot_by_code_or_by_class() {
        let p = ClientPacket::new([2, 0, 0, 0, 0, 2]);
        assert_eq!(
            kind(p.clone().vendor_class("HTTPClient:Arch:00016").arch(16)),
            ClientKind::HttpBoot(EfiX64)
        );
        assert_eq!(
            kind(p.clone().vendor_class("PXEClient").arch(19)),
            ClientKind::HttpBoot(EfiArm64)
        );
        assert_eq!(
            kind(p.vendor_class("HTTPClient").arch(7)),
            ClientKind::HttpBoot(EfiX64)
        );
    }

    #[test]
    fn ipxe_user_class_raw_or_rfc3004_and_our_own() {
        let p = ClientPacket::new([2, 0, 0, 0, 0, 3])
            .vendor_class("PXEClient:Arch:00000")
            .arch(0);
        assert_eq!(kind(p.clone().user_class(b"iPXE")), ClientKind::Ipxe);
        assert_eq!(kind(p.clone().user_class(b"\x04iPXE")), ClientKind::Ipxe);
        assert_eq!(
            kind(p.clone().user_class(b"\x03abc\x08kateskit")),
            ClientKind::Ipxe
        );
        assert_eq!(kind(p.clone().user_class(b"kateskit")), ClientKind::Ipxe);
        assert_eq!(
            kind(p.clone().user_class(b"ipxe")),
            ClientKind::Pxe(BiosUndi)
        );
        assert_eq!(kind(p.user_class(b"\x09iPXE")), ClientKind::Pxe(BiosUndi));
    }

    #[test]
    fn architectures_without_a_build_are_refused_by_name() {
        let p = ClientPacket::new([2, 0, 0, 0, 0, 4])
            .vendor_class("PXEClient")
            .arch(12);
        let ClientKind::Unsupported(r) = kind(p) else {
            panic!()
        };
        assert_eq!(
            r.to_string(),
            "architecture 12 (PowerPC Open Firmware) has no iPXE build"
        );
    }

    #[test]
    fn option_97_kept_only_when_sent() {
        let p = ClientPacket::new([2, 0, 0, 0, 0, 5])
            .vendor_class("PXEClient")
            .arch(7);
        assert_eq!(classify(&p.clone().discover(), "k").machine_id, None);
        assert_eq!(
            classify(&p.clone().machine_id(&[]).discover(), "k").machine_id,
            Some(vec![])
        );
        let mut guid = vec![0u8];
        guid.extend(1..=16u8);
        assert_eq!(
            classify(&p.machine_id(&guid).discover(), "k").machine_id,
            Some(guid)
        );
    }
}
