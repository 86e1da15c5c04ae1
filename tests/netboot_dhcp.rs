//! The DHCP responder on real sockets in network namespaces (192.0.2.0/24): as a ProxyDHCP
//! beside Debian's dnsmasq acting as the site's DHCP server, and as the full DHCP server of a
//! rack network answering busybox's udhcpc. Needs root, iproute2, dnsmasq and busybox.

mod dhcp_support;
mod netns;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use dhcp_support::*;
use dhcproto::v4::{DhcpOption, MessageType, OptionCode};
use kateskit::netboot::dhcp::{ClientPacket, EventKind, FullConfig, MacAddr, Mode, Server};
use netns::Netns;

#[test]
fn proxy_beside_dnsmasq_boots_pxe_clients_and_assigns_nothing() {
    if netns::skip_unless_available(&["dnsmasq"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (site, proxy, client) = (
        Netns::new("site"),
        Netns::new("proxy"),
        Netns::new("client"),
    );
    site.ip(&["link", "add", "br0", "type", "bridge"]);
    site.ip(&["addr", "add", "192.0.2.1/24", "dev", "br0"]);
    site.ip(&["link", "set", "br0", "up"]);
    netns::veth(&site, "sp0", &proxy, "px0");
    netns::veth(&site, "sc0", &client, "cl0");
    for port in ["sp0", "sc0"] {
        site.ip(&["link", "set", port, "master", "br0"]);
    }
    proxy.ip(&["addr", "add", "192.0.2.2/24", "dev", "px0"]);
    let found = proxy
        .spawn(|| kateskit::netboot::dhcp::interface_ipv4("px0").unwrap())
        .join()
        .unwrap();
    assert_eq!(found, PROXY_IP, "the address the serve command defaults to");
    client.ip(&["link", "set", "cl0", "address", "52:54:00:12:34:01"]);
    let _site_dhcp = SiteDhcp::start(&site, dir.path());
    let (server, mut events) = serve(&proxy, "px0", config(PROXY_IP, Mode::Proxy, &[PXE_MAC]));

    // UEFI PXE firmware: DISCOVER, two offers (address from dnsmasq, boot file from us).
    let pxe = ClientPacket::pxe_firmware(PXE_MAC, 7);
    let (p, xid) = (pxe.clone(), pxe.xid);
    let offers = client
        .spawn(move || {
            let s = client_socket("cl0");
            s.send_to(&p.bytes(MessageType::Discover), "255.255.255.255:67")
                .unwrap();
            collect(&s, xid, Duration::from_secs(10), 2)
        })
        .join()
        .unwrap();
    let from = |ip| {
        offers
            .iter()
            .find(|(a, _)| *a.ip() == ip)
            .map(|(_, m)| m.clone())
    };
    let site_offer = from(SITE_IP).expect("dnsmasq offered");
    let ours = from(PROXY_IP).expect("the proxy offered");
    assert!((100..=150).contains(&site_offer.yiaddr().octets()[3]));
    assert_eq!(
        ours.yiaddr(),
        Ipv4Addr::UNSPECIFIED,
        "a proxy offer carries no address"
    );
    assert_eq!(fname(&ours), "ipxe.efi");
    assert!(
        ours.opts().get(OptionCode::VendorExtensions).is_none(),
        "UEFI: no option 43"
    );
    assert_eq!(
        ours.opts().get(OptionCode::ClassIdentifier),
        Some(&DhcpOption::ClassIdentifier(b"PXEClient".to_vec()))
    );

    // The firmware takes dnsmasq's address, then asks the proxy on 4011 for the boot file.
    let addr = site_offer.yiaddr();
    let p = pxe.clone().requested_ip(addr).server_id(SITE_IP);
    let ack = client
        .spawn(move || {
            let s = client_socket("cl0");
            s.send_to(&p.bytes(MessageType::Request), "255.255.255.255:67")
                .unwrap();
            collect(&s, xid, Duration::from_secs(10), 1)
        })
        .join()
        .unwrap();
    assert_eq!(ack.len(), 1, "one ACK, from dnsmasq: {ack:?}");
    assert_eq!(
        (*ack[0].0.ip(), ack[0].1.opts().msg_type()),
        (SITE_IP, Some(MessageType::Ack))
    );
    client.ip(&["addr", "add", &format!("{addr}/24"), "dev", "cl0"]);
    let p = pxe.clone().ciaddr(addr);
    let binl = client
        .spawn(move || {
            let s = client_socket("cl0");
            s.send_to(&p.bytes(MessageType::Request), (PROXY_IP, 4011))
                .unwrap();
            collect(&s, xid, Duration::from_secs(10), 1)
        })
        .join()
        .unwrap();
    assert_eq!(binl.len(), 1, "the proxy answers on 4011");
    assert_eq!(*binl[0].0.ip(), PROXY_IP);
    assert_eq!(
        (binl[0].1.opts().msg_type(), fname(&binl[0].1)),
        (Some(MessageType::Ack), "ipxe.efi".into())
    );

    // A plain client (busybox udhcpc, the site's laptops): dnsmasq answers, we stay silent.
    client.ip(&["addr", "flush", "dev", "cl0"]);
    set_mac(&client, "52:54:00:12:34:02");
    let bound =
        udhcpc(&client, dir.path(), "plain", &[]).expect("udhcpc got no lease from dnsmasq");
    assert!(bound.lines().any(|l| l == "serverid=192.0.2.1"), "{bound}");

    // dnsmasq's leases stay dnsmasq's: both clients are in its lease file.
    let leases_path = dir.path().join("leases");
    wait_for("dnsmasq's lease file", Duration::from_secs(10), || {
        std::fs::read_to_string(&leases_path)
            .is_ok_and(|l| l.contains("52:54:00:12:34:01") && l.contains("52:54:00:12:34:02"))
    });
    let leases = std::fs::read_to_string(&leases_path).unwrap();
    assert!(leases.contains(&addr.to_string()), "{leases}");

    std::thread::sleep(Duration::from_millis(300));
    let ev = drain(&mut events);
    drop(events);
    server.join().unwrap();
    assert!(
        ev.iter().all(|e| e.ip.is_none()),
        "the proxy assigned an address: {ev:?}"
    );
    assert!(
        ev.iter().all(|e| e.mac == MacAddr(PXE_MAC)),
        "a plain client got an event: {ev:?}"
    );
    let kinds: Vec<_> = ev.iter().map(|e| e.kind.clone()).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Discover,
            EventKind::Offer,
            EventKind::Request,
            EventKind::Request,
            EventKind::Ack
        ]
    );
    assert_eq!(ev[4].boot.as_deref(), Some("ipxe.efi"));
}

#[test]
fn full_mode_leases_to_udhcpc_persists_and_reserves() {
    if netns::skip_unless_available(&["busybox"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (srv, client) = (Netns::new("rack"), Netns::new("node"));
    netns::veth(&srv, "sv0", &client, "cl0");
    srv.ip(&["addr", "add", "192.0.2.1/24", "dev", "sv0"]);
    let reserved = [0x52, 0x54, 0x00, 0x12, 0x34, 0x50];
    let full = FullConfig {
        first: Ipv4Addr::new(192, 0, 2, 100),
        last: Ipv4Addr::new(192, 0, 2, 110),
        netmask: Ipv4Addr::new(255, 255, 255, 0),
        routers: vec![SITE_IP],
        dns: vec![Ipv4Addr::new(192, 0, 2, 53)],
        lease_secs: 600,
        reservations: HashMap::from([(MacAddr(reserved), Ipv4Addr::new(192, 0, 2, 50))]),
        state_dir: state.clone(),
    };
    let cfg = config(SITE_IP, Mode::Full(full), &[PXE_MAC]);
    let pxe_opts = ["-V", "PXEClient:Arch:00007:UNDI:003016", "-x", "0x5d:0007"];

    set_mac(&client, "52:54:00:12:34:01");
    let (server, events) = serve(&srv, "sv0", cfg.clone());
    let env = udhcpc(&client, dir.path(), "first", &pxe_opts).expect("udhcpc bound");
    for want in [
        "ip=192.0.2.100",
        "boot_file=ipxe.efi",
        "siaddr=192.0.2.1",
        "router=192.0.2.1",
        "dns=192.0.2.53",
        "lease=600",
        "subnet=255.255.255.0",
    ] {
        assert!(env.lines().any(|l| l == want), "{want} not in\n{env}");
    }
    let on_disk = std::fs::read_to_string(state.join("dhcp-leases.json")).unwrap();
    assert!(
        on_disk.contains("52:54:00:12:34:01") && on_disk.contains("192.0.2.100"),
        "{on_disk}"
    );

    // Restart: the lease is reloaded, so a different first address proves nothing; the same
    // client asking again with no memory (udhcpc keeps none) gets its address back.
    drop(events);
    server.join().unwrap();
    let (server, mut events) = serve(&srv, "sv0", cfg.clone());
    let env = udhcpc(
        &client,
        dir.path(),
        "again",
        &[
            "-V",
            "PXEClient:Arch:00007",
            "-x",
            "0x5d:0007",
            "-x",
            "0x4d:69505845",
        ],
    )
    .expect("bound after restart");
    assert!(env.lines().any(|l| l == "ip=192.0.2.100"), "{env}");
    assert!(
        env.lines()
            .any(|l| l == "boot_file=http://192.0.2.1:8080/boot.ipxe?mac=52-54-00-12-34-01"),
        "iPXE gets the script: {env}"
    );

    // A reserved machine gets its static address; an unknown one (policy ignore) nothing.
    set_mac(&client, "52:54:00:12:34:50");
    let env = udhcpc(&client, dir.path(), "reserved", &[]).expect("reserved bound");
    assert!(env.lines().any(|l| l == "ip=192.0.2.50"), "{env}");
    set_mac(&client, "52:54:00:12:34:99");
    assert!(
        udhcpc(&client, dir.path(), "stranger", &pxe_opts).is_none(),
        "unknown machine got a lease"
    );

    let ev = drain(&mut events);
    drop(events);
    server.join().unwrap();
    let stranger = MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x99]);
    assert!(ev
        .iter()
        .any(|e| e.mac == stranger
            && matches!(&e.kind, EventKind::Ignored(r) if r.contains("unknown"))));
    assert!(ev.iter().all(|e| e.mac != stranger || e.ip.is_none()));
    assert!(ev
        .iter()
        .any(|e| e.mac == MacAddr(reserved) && e.kind == EventKind::Ack));
}

#[test]
fn binding_a_missing_interface_names_it() {
    let e = Server::bind("kk-no-such0", 67, 4011)
        .err()
        .expect("no such interface");
    let msg = e.to_string();
    assert!(msg.contains("kk-no-such0"), "{msg}");
    let e = kateskit::netboot::dhcp::interface_ipv4("kk-no-such0").unwrap_err();
    assert!(e.to_string().contains("has no IPv4 address"), "{e}");
}

#[test]
fn only_the_bound_interface_is_served() {
    if netns::skip_unless_available(&[]) {
        return;
    }
    let (srv, a, b) = (Netns::new("srv2"), Netns::new("nic-a"), Netns::new("nic-b"));
    netns::veth(&srv, "sv0", &a, "cl0");
    netns::veth(&srv, "sv1", &b, "cl0");
    srv.ip(&["addr", "add", "192.0.2.1/25", "dev", "sv0"]);
    srv.ip(&["addr", "add", "192.0.2.129/25", "dev", "sv1"]);
    let (server, events) = serve(&srv, "sv0", config(SITE_IP, Mode::Proxy, &[PXE_MAC]));
    let ask = |ns: &Netns| {
        let p = ClientPacket::pxe_firmware(PXE_MAC, 0);
        ns.spawn(move || {
            let s = client_socket("cl0");
            s.send_to(&p.bytes(MessageType::Discover), "255.255.255.255:67")
                .unwrap();
            collect(&s, p.xid, Duration::from_secs(3), 1)
        })
        .join()
        .unwrap()
    };
    let on_b = ask(&b);
    let on_a = ask(&a);
    drop(events);
    server.join().unwrap();
    assert!(
        on_b.is_empty(),
        "answered on an interface it is not bound to: {on_b:?}"
    );
    assert_eq!(on_a.len(), 1, "no offer on the bound interface");
    assert_eq!(fname(&on_a[0].1), "undionly.kpxe");
}
