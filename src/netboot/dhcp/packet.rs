//! Client-side packets: what PXE firmware, iPXE and plain clients send. Used by the tests, the
//! fuzz seeds, and by callers probing a segment for DHCP servers.

use std::net::Ipv4Addr;

use dhcproto::v4::{
    Architecture, DhcpOption, Flags, HType, Message, MessageType, Opcode, OptionCode,
};

use crate::mac::MacAddr;

/// A DHCP client's identity and options; each builder method adds one option.
#[derive(Debug, Clone)]
pub struct ClientPacket {
    pub mac: MacAddr,
    pub xid: u32,
    pub broadcast: bool,
    pub ciaddr: Ipv4Addr,
    opts: Vec<DhcpOption>,
}

impl ClientPacket {
    pub fn new(mac: [u8; 6]) -> ClientPacket {
        ClientPacket {
            mac: MacAddr(mac),
            xid: u32::from_be_bytes([mac[2], mac[3], mac[4], mac[5]]) ^ 0x5a5a_0000,
            broadcast: true,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            opts: Vec::new(),
        }
    }

    fn with(mut self, o: DhcpOption) -> Self {
        let code = OptionCode::from(&o);
        self.opts.retain(|x| OptionCode::from(x) != code);
        self.opts.push(o);
        self
    }

    /// Option 60, e.g. `PXEClient:Arch:00007:UNDI:003016`.
    pub fn vendor_class(self, class: &str) -> Self {
        self.with(DhcpOption::ClassIdentifier(class.as_bytes().to_vec()))
    }
    /// Option 93.
    pub fn arch(self, code: u16) -> Self {
        self.with(DhcpOption::ClientSystemArchitecture(Architecture::from(
            code,
        )))
    }
    /// Option 77, raw bytes (iPXE sends the bare string; RFC 3004 prefixes lengths).
    pub fn user_class(self, raw: &[u8]) -> Self {
        self.with(DhcpOption::UserClass(raw.to_vec()))
    }
    /// Option 97 (empty, or 0 followed by the 16-byte GUID).
    pub fn machine_id(self, raw: &[u8]) -> Self {
        self.with(DhcpOption::ClientMachineIdentifier(raw.to_vec()))
    }
    /// Option 94 (UNDI 3.16, what PXE 2.1 ROMs send).
    pub fn undi(self) -> Self {
        self.with(DhcpOption::ClientNetworkInterface(1, 3, 16))
    }
    /// Option 50.
    pub fn requested_ip(self, ip: Ipv4Addr) -> Self {
        self.with(DhcpOption::RequestedIpAddress(ip))
    }
    /// Option 54.
    pub fn server_id(self, ip: Ipv4Addr) -> Self {
        self.with(DhcpOption::ServerIdentifier(ip))
    }
    /// The client's own address (renewing, or asking port 4011 after it got one).
    pub fn ciaddr(mut self, ip: Ipv4Addr) -> Self {
        self.ciaddr = ip;
        self
    }
    /// Option 43 sub-option 71 (PXE boot item type 0, layer 0), sent to port 4011 by PXE ROMs.
    pub fn pxe_boot_item(self) -> Self {
        self.with(DhcpOption::VendorExtensions(vec![71, 4, 0, 0, 0, 0, 255]))
    }

    /// The packet with message type `t`.
    pub fn message(&self, t: MessageType) -> Message {
        let mut m = Message::default();
        m.set_opcode(Opcode::BootRequest)
            .set_htype(HType::Eth)
            .set_xid(self.xid)
            .set_flags(if self.broadcast {
                Flags::default().set_broadcast()
            } else {
                Flags::default()
            })
            .set_ciaddr(self.ciaddr)
            .set_chaddr(&self.mac.0);
        m.opts_mut().insert(DhcpOption::MessageType(t));
        m.opts_mut().insert(DhcpOption::ParameterRequestList(vec![
            OptionCode::SubnetMask,
            OptionCode::Router,
            OptionCode::DomainNameServer,
            OptionCode::VendorExtensions,
            OptionCode::ClassIdentifier,
            OptionCode::TFTPServerName,
            OptionCode::BootfileName,
        ]));
        for o in &self.opts {
            m.opts_mut().insert(o.clone());
        }
        m
    }

    pub fn discover(&self) -> Message {
        self.message(MessageType::Discover)
    }
    pub fn request(&self) -> Message {
        self.message(MessageType::Request)
    }

    /// The encoded packet with message type `t`.
    pub fn bytes(&self, t: MessageType) -> Vec<u8> {
        // Encoding a message built from typed options cannot fail.
        super::wire::encode_unpadded(&self.message(t)).unwrap_or_default()
    }

    /// PXE firmware as SeaBIOS/iPXE ROMs and EDK2 identify themselves (`arch` 0 or 7), with
    /// UNDI and an option 97 GUID.
    pub fn pxe_firmware(mac: [u8; 6], arch: u16) -> ClientPacket {
        let mut guid = vec![0u8];
        guid.extend_from_slice(&[0x11; 10]);
        guid.extend_from_slice(&mac);
        ClientPacket::new(mac)
            .vendor_class(&format!("PXEClient:Arch:{arch:05}:UNDI:003016"))
            .arch(arch)
            .undi()
            .machine_id(&guid)
    }
}
