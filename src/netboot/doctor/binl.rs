//! The udp/4011 check of a ProxyDHCP: a PXE boot-server REQUEST, as firmware sends after a
//! proxy offer without a boot file. It assigns no address, so no lease is taken.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use dhcproto::v4::DhcpOption;
use dhcproto::{Encodable, Encoder};

use super::offer::{offer, Firmware, Offer, Port4011};
use super::probe::{receive, ProbeOptions};
use crate::netboot::dhcp::ClientPacket;

/// PXE boot-server REQUESTs to `proxy`:4011 from this host's address: as UEFI firmware for
/// boot item type 0, then for the first type of a boot menu the proxy offered (as the
/// firmware that got the menu).
pub(super) fn ask_4011(
    sock: &UdpSocket,
    o: &ProbeOptions,
    proxy: Ipv4Addr,
    offers: &[Offer],
) -> Port4011 {
    let Some(local) = o.local_ip else {
        return Port4011 {
            answered: false,
            boot_file: None,
            skipped: Some(format!("{} has no IPv4 address to ask from", o.iface)),
        };
    };
    let mut tries = vec![(Firmware::Uefi, 0u16)];
    if let Some(menu) = offers.iter().find(|x| !x.boot_menu.is_empty()) {
        tries.push((menu.probe, menu.boot_menu[0]));
    }
    let wait = o.wait.min(Duration::from_secs(2)) / tries.len() as u32;
    for (fw, item) in tries {
        let mut p = ClientPacket::pxe_firmware(o.mac.0, fw.arch()).ciaddr(local);
        p.broadcast = false;
        p.xid = rand::random();
        let mut m = p.request();
        let [hi, lo] = item.to_be_bytes();
        m.opts_mut()
            .insert(DhcpOption::VendorExtensions(vec![71, 4, hi, lo, 0, 0, 255]));
        let mut bytes = Vec::new();
        if let Err(e) = m.encode(&mut Encoder::new(&mut bytes)) {
            return Port4011 {
                answered: false,
                boot_file: None,
                skipped: Some(format!("encoding the request: {e}")),
            };
        }
        if let Err(e) = sock.send_to(&bytes, SocketAddrV4::new(proxy, 4011)) {
            return Port4011 {
                answered: false,
                boot_file: None,
                skipped: Some(format!("sending to {proxy}:4011: {e}")),
            };
        }
        let got = receive(sock, o.mac, &[p.xid], Instant::now() + wait);
        if let Some((_, m)) = got.first() {
            return Port4011 {
                answered: true,
                boot_file: offer(fw, m).boot_file,
                skipped: None,
            };
        }
    }
    Port4011 {
        answered: false,
        boot_file: None,
        skipped: None,
    }
}
