//! What the probe learns from one reply: the offer's fields, the responder it came from and
//! the role its offers give it.

use std::net::{Ipv4Addr, SocketAddrV4};

use dhcproto::v4::{DhcpOption, Message, OptionCode};
use serde::Serialize;

/// Which firmware a DISCOVER pretended to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Firmware {
    /// `PXEClient:Arch:00000`, option 93 = 0.
    Bios,
    /// `PXEClient:Arch:00007`, option 93 = 7.
    Uefi,
}

impl Firmware {
    pub(super) fn arch(self) -> u16 {
        match self {
            Firmware::Bios => 0,
            Firmware::Uefi => 7,
        }
    }
}

/// One reply to one DISCOVER.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Offer {
    pub probe: Firmware,
    /// `yiaddr`, when the responder offers an address.
    pub offered: Option<Ipv4Addr>,
    /// `siaddr` (next-server), when set.
    pub next_server: Option<Ipv4Addr>,
    /// Option 66.
    pub tftp_server: Option<String>,
    /// Option 67, else the `file` field.
    pub boot_file: Option<String>,
    /// Option 43 (PXE vendor options) present.
    pub option_43: bool,
    /// The boot server types of option 43's boot menu (sub-option 9), which a PXE client
    /// asks udp/4011 for (dnsmasq numbers its own from 0x8000).
    pub boot_menu: Vec<u16>,
    /// Option 60.
    pub vendor_class: Option<String>,
}

/// What a responder is, from its offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Offers an address.
    DhcpServer,
    /// Offers an address and names a boot file.
    DhcpServerWithBootFile,
    /// No address (`yiaddr` 0) and option 60 `PXEClient`.
    ProxyDhcp,
    /// Neither (an address-less reply without `PXEClient`).
    Unclassified,
}

impl Role {
    /// How the report names it.
    pub fn label(self) -> &'static str {
        match self {
            Role::DhcpServer => "DHCP server",
            Role::DhcpServerWithBootFile => "DHCP server naming a boot file",
            Role::ProxyDhcp => "ProxyDHCP",
            Role::Unclassified => "unclassified responder",
        }
    }
}

/// The answer of a ProxyDHCP's udp/4011 to a PXE boot-server REQUEST.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Port4011 {
    pub answered: bool,
    pub boot_file: Option<String>,
    /// Why it was not asked, when it was not.
    pub skipped: Option<String>,
}

/// Everything one server sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Responder {
    pub role: Role,
    /// Option 54.
    pub server_id: Option<Ipv4Addr>,
    /// Where the replies came from.
    pub source: SocketAddrV4,
    /// The source is this host's own address on the interface.
    pub local: bool,
    pub offers: Vec<Offer>,
    /// Only for ProxyDHCPs.
    pub port_4011: Option<Port4011>,
}

fn text(b: &[u8]) -> Option<String> {
    let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
    (end > 0).then(|| String::from_utf8_lossy(&b[..end]).into_owned())
}

pub(super) fn offer(probe: Firmware, m: &Message) -> Offer {
    let o = m.opts();
    let boot_file = match o.get(OptionCode::BootfileName) {
        Some(DhcpOption::BootfileName(b)) => text(b),
        _ => None,
    }
    .or_else(|| m.fname().and_then(text));
    Offer {
        probe,
        offered: Some(m.yiaddr()).filter(|a| !a.is_unspecified()),
        next_server: Some(m.siaddr()).filter(|a| !a.is_unspecified()),
        tftp_server: match o.get(OptionCode::TFTPServerName) {
            Some(DhcpOption::TFTPServerName(b)) => text(b),
            _ => None,
        },
        boot_file,
        option_43: o.get(OptionCode::VendorExtensions).is_some(),
        boot_menu: match o.get(OptionCode::VendorExtensions) {
            Some(DhcpOption::VendorExtensions(v)) => menu_types(v),
            _ => Vec::new(),
        },
        vendor_class: match o.get(OptionCode::ClassIdentifier) {
            Some(DhcpOption::ClassIdentifier(b)) => text(b),
            _ => None,
        },
    }
}

/// The item types of PXE sub-option 9 (boot menu: type(2) length(1) text, repeated).
fn menu_types(vendor: &[u8]) -> Vec<u16> {
    let mut i = 0;
    while i + 1 < vendor.len() {
        let (code, len) = (vendor[i], vendor[i + 1] as usize);
        if code == 255 {
            break;
        }
        if code == 0 {
            i += 1;
            continue;
        }
        let Some(data) = vendor.get(i + 2..i + 2 + len) else {
            break;
        };
        if code == 9 {
            let mut types = Vec::new();
            let mut j = 0;
            while j + 2 < data.len() {
                types.push(u16::from_be_bytes([data[j], data[j + 1]]));
                j += 3 + data[j + 2] as usize;
            }
            return types;
        }
        i += 2 + len;
    }
    Vec::new()
}

pub(super) fn server_id(m: &Message) -> Option<Ipv4Addr> {
    match m.opts().get(OptionCode::ServerIdentifier) {
        Some(DhcpOption::ServerIdentifier(ip)) => Some(*ip),
        _ => None,
    }
}

/// The role the offers give a responder.
pub fn classify(offers: &[Offer]) -> Role {
    if offers.iter().any(|o| o.offered.is_some()) {
        if offers
            .iter()
            .any(|o| o.offered.is_some() && o.boot_file.is_some())
        {
            Role::DhcpServerWithBootFile
        } else {
            Role::DhcpServer
        }
    } else if offers.iter().any(|o| {
        o.vendor_class
            .as_deref()
            .is_some_and(|v| v.starts_with("PXEClient"))
    }) {
        Role::ProxyDhcp
    } else {
        Role::Unclassified
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_menu_types_are_read_from_sub_option_9() {
        // Sub-option 6 (discovery control), then a menu of two items, then the end.
        let v = [6, 1, 8, 9, 9, 0x80, 0, 2, b'a', b'b', 0x80, 1, 0, 255];
        assert_eq!(menu_types(&v), vec![0x8000, 0x8001]);
        assert!(menu_types(&[6, 1, 8, 255]).is_empty());
        assert!(
            menu_types(&[9, 40, 0x80]).is_empty(),
            "a truncated menu is ignored"
        );
    }

    #[test]
    fn roles_follow_the_offers() {
        let base = Offer {
            probe: Firmware::Bios,
            offered: None,
            next_server: None,
            tftp_server: None,
            boot_file: None,
            option_43: false,
            boot_menu: vec![],
            vendor_class: None,
        };
        let addr = Offer {
            offered: Some(Ipv4Addr::new(192, 0, 2, 100)),
            ..base.clone()
        };
        let file = Offer {
            boot_file: Some("pxelinux.0".into()),
            ..addr.clone()
        };
        let proxy = Offer {
            vendor_class: Some("PXEClient".into()),
            ..base.clone()
        };
        assert_eq!(classify(std::slice::from_ref(&addr)), Role::DhcpServer);
        assert_eq!(classify(&[addr, file]), Role::DhcpServerWithBootFile);
        assert_eq!(classify(&[proxy]), Role::ProxyDhcp);
        assert_eq!(classify(&[base]), Role::Unclassified);
    }
}
