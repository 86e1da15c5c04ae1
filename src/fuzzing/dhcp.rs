//! The DHCP harness: any bytes on port 67 or 4011, to a ProxyDHCP and a full DHCP responder.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use crate::netboot::dhcp::{
    self, BootTargets, FullConfig, MacAddr, Mode, Port, Responder, ResponderConfig, UnknownPolicy,
};

fn config(mode: Mode) -> ResponderConfig {
    let ip = Ipv4Addr::new(192, 0, 2, 1);
    ResponderConfig {
        server_ip: ip,
        mode,
        unknown: UnknownPolicy::Pending,
        boot: BootTargets {
            tftp_server: ip,
            script_url: "http://192.0.2.1/boot.ipxe?mac={mac}&arch={arch}".into(),
            http_boot_url: "http://192.0.2.1/ipxe/{file}".into(),
            files: HashMap::new(),
        },
        ipxe_user_class: "kateskit".into(),
        known: Arc::new(HashSet::<MacAddr>::new()),
    }
}

/// Decoding never panics; a decoded packet gets at most one reply, which encodes, decodes
/// back, and in proxy mode never carries an address.
pub fn dhcp(data: &[u8]) {
    let decoded = dhcp::decode(data);
    // A fresh state directory per input: an ACK writes the lease file, and nothing is left behind.
    let Ok(state) = tempfile::tempdir() else {
        return;
    };
    let full = FullConfig {
        first: Ipv4Addr::new(192, 0, 2, 100),
        last: Ipv4Addr::new(192, 0, 2, 103),
        netmask: Ipv4Addr::new(255, 255, 255, 0),
        routers: vec![],
        dns: vec![],
        lease_secs: 60,
        reservations: HashMap::new(),
        state_dir: state.path().to_path_buf(),
    };
    let src = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68);
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    for mode in [Mode::Proxy, Mode::Full(full)] {
        let proxy = matches!(mode, Mode::Proxy);
        let Ok(mut r) = Responder::new(config(mode)) else {
            return;
        };
        for port in [Port::Dhcp, Port::Pxe] {
            let out = r.handle_bytes(data, port, src, now);
            let Some(reply) = out.reply else { continue };
            assert!(decoded.is_ok(), "answered a packet decode() refuses");
            let bytes = reply.bytes().expect("a reply encodes");
            let back = dhcp::decode_reply(&bytes).expect("a reply decodes");
            if proxy {
                assert!(
                    back.yiaddr().is_unspecified(),
                    "the proxy assigned an address"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use dhcproto::v4::MessageType;
    use rand::{Rng, SeedableRng};

    use crate::netboot::dhcp::ClientPacket;

    /// A fixed-seed mutation run over real packets, so every `cargo test` covers odd lengths
    /// and flipped bytes in the option area, not only the kept fuzz inputs.
    #[test]
    fn mutated_real_packets_never_panic() {
        let mac = [0x52, 0x54, 0, 1, 2, 3];
        let seeds = [
            ClientPacket::pxe_firmware(mac, 0).bytes(MessageType::Discover),
            ClientPacket::pxe_firmware(mac, 7)
                .user_class(b"iPXE")
                .bytes(MessageType::Request),
            ClientPacket::new(mac)
                .requested_ip([192, 0, 2, 100].into())
                .bytes(MessageType::Request),
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(15);
        for i in 0..3000 {
            let mut b = seeds[i % seeds.len()].clone();
            for _ in 0..rng.gen_range(1..6) {
                let at = rng.gen_range(236..b.len());
                match rng.gen_range(0..3) {
                    0 => b[at] = rng.gen(),
                    1 => b.truncate(at),
                    _ => b.insert(at, rng.gen()),
                }
                if b.len() <= 236 {
                    break;
                }
            }
            super::dhcp(&b);
        }
    }
}
