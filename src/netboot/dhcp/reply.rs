//! The parts every reply shares: the BOOTP header copied from the request, and the boot file
//! fields for each kind of netboot client.

use std::net::Ipv4Addr;

use dhcproto::v4::{DhcpOption, Message, MessageType, Opcode};

use super::classify::{Client, ClientKind};
use super::config::BootTargets;

/// Option 43 for BIOS PXE: sub-option 6 (PXE_DISCOVERY_CONTROL) = 8, "skip boot server
/// discovery, load the boot file named here".
pub const PXE_USE_BOOTFILE: [u8; 4] = [6, 1, 8, 255];

/// A reply of type `t` to `req`: same xid, flags, chaddr and relay address; server id set.
pub fn base(req: &Message, t: MessageType, server_ip: Ipv4Addr) -> Message {
    let mut m = Message::default();
    m.set_opcode(Opcode::BootReply)
        .set_htype(req.htype())
        .set_xid(req.xid())
        .set_flags(req.flags())
        .set_giaddr(req.giaddr())
        .set_chaddr(&req.chaddr()[..6]);
    m.opts_mut().insert(DhcpOption::MessageType(t));
    m.opts_mut().insert(DhcpOption::ServerIdentifier(server_ip));
    m
}

/// Puts the boot file in the header's `file` field (where PXE ROMs read it) when it fits,
/// and in option 67 always.
fn set_file(m: &mut Message, file: &str) {
    if file.len() < 128 {
        m.set_fname(file.as_bytes());
    }
    m.opts_mut()
        .insert(DhcpOption::BootfileName(file.as_bytes().to_vec()));
}

/// Adds the boot fields for `client`; returns the file or URL handed out. `proxy` adds what a
/// ProxyDHCP reply needs to be recognised (class `PXEClient`, BIOS option 43).
pub fn boot(m: &mut Message, client: &Client, t: &BootTargets, proxy: bool) -> Option<String> {
    let file = match client.kind {
        ClientKind::Plain | ClientKind::Unsupported(_) => return None,
        ClientKind::Pxe(build) => {
            let file = t.file(build).to_string();
            m.set_siaddr(t.tftp_server);
            m.opts_mut().insert(DhcpOption::TFTPServerName(
                t.tftp_server.to_string().into_bytes(),
            ));
            if proxy {
                m.opts_mut()
                    .insert(DhcpOption::ClassIdentifier(b"PXEClient".to_vec()));
                if build.is_bios() {
                    m.opts_mut()
                        .insert(DhcpOption::VendorExtensions(PXE_USE_BOOTFILE.to_vec()));
                }
            }
            file
        }
        ClientKind::HttpBoot(build) => {
            m.opts_mut()
                .insert(DhcpOption::ClassIdentifier(b"HTTPClient".to_vec()));
            t.http_boot_for(build)
        }
        ClientKind::Ipxe => {
            if proxy {
                m.opts_mut()
                    .insert(DhcpOption::ClassIdentifier(b"PXEClient".to_vec()));
                // iPXE builds such as Debian's ipxe-qemu ignore a ProxyDHCP offer or ACK
                // without a next-server even when it names a boot file, and then keep the
                // site's lease with no boot file at all.
                m.set_siaddr(t.tftp_server);
            }
            let arch = client
                .arch
                .and_then(|a| a.build)
                .map(|b| b.buildarch())
                .unwrap_or("i386");
            t.script_for(&client.mac, arch)
        }
    };
    if let Some(id) = &client.machine_id {
        m.opts_mut()
            .insert(DhcpOption::ClientMachineIdentifier(id.clone()));
    }
    set_file(m, &file);
    Some(file)
}
