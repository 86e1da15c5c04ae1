//! `kateskit netboot serve`'s tuning flags on the real binary in a network namespace
//! (192.0.2.0/24, a client namespace over a veth pair): `--router`/`--dns` in full-mode offers,
//! `--tftp-port`, and `--slots` admission (a second artifact GET waits for the first body), plus
//! the flag errors. Needs root, iproute2 and curl.

mod agent_support;
mod dhcp_support;
mod fleet_support;
mod netns;
mod serve_support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agent_support::Cluster;
use dhcp_support::{client_socket, collect};
use dhcproto::v4::{DhcpOption, MessageType, OptionCode};
use fleet_support::A1;
use kateskit::netboot::dhcp::ClientPacket;
use netns::Netns;
use serve_support::{artifacts, curl, kateskit, Serve};

const SERVER: &str = "192.0.2.1";
const A1_BYTES: [u8; 6] = [0x52, 0x54, 0x00, 0x0b, 0x00, 0x01];

/// A server namespace with `sv0` at 192.0.2.1/24 and a client namespace with `cl0` (a1's MAC).
fn pair() -> (Netns, Netns) {
    let (srv, cl) = (Netns::new("srv"), Netns::new("cl"));
    netns::veth(&srv, "sv0", &cl, "cl0");
    srv.ip(&["addr", "add", &format!("{SERVER}/24"), "dev", "sv0"]);
    cl.ip(&["link", "set", "cl0", "address", A1]);
    cl.ip(&["addr", "add", "192.0.2.77/24", "dev", "cl0"]);
    (srv, cl)
}

fn serve_cmd(srv: &Netns, c: &Cluster, dir: &Path, extra: &[&str]) -> Command {
    let (art, tftp, _) = artifacts(dir);
    let mut cmd = srv.command(assert_cmd::cargo::cargo_bin("kateskit").to_str().unwrap());
    cmd.args(["netboot", "serve", "--interface", "sv0"])
        .arg("--cluster")
        .arg(c.dir.path())
        .arg("--artifacts")
        .arg(art)
        .arg("--tftp-root")
        .arg(tftp)
        .arg("--state")
        .arg(dir.join("state"))
        .args(extra);
    cmd
}

#[test]
fn full_mode_offers_carry_router_and_dns_and_tftp_serves_on_its_port() {
    if netns::skip_unless_available(&["curl"]) {
        return;
    }
    let c = Cluster::new("rack");
    let dir = tempfile::tempdir().unwrap();
    let (srv, cl) = pair();
    let flags = [
        "--dhcp",
        "full",
        "--range",
        "192.0.2.100,192.0.2.150",
        "--router",
        "192.0.2.254",
        "--dns",
        "192.0.2.53",
        "--dns",
        "192.0.2.54",
        "--tftp-port",
        "6969",
    ];
    let serve = Serve::start(serve_cmd(&srv, &c, dir.path(), &flags));
    assert_eq!(serve.field("tftp"), format!("{SERVER}:6969"));

    let pxe = ClientPacket::pxe_firmware(A1_BYTES, 7);
    let (p, xid) = (pxe.clone(), pxe.xid);
    let offers = cl
        .spawn(move || {
            let s = client_socket("cl0");
            s.send_to(&p.bytes(MessageType::Discover), "255.255.255.255:67")
                .unwrap();
            collect(&s, xid, Duration::from_secs(10), 1)
        })
        .join()
        .unwrap();
    assert_eq!(offers.len(), 1, "one offer from serve");
    let offer = &offers[0].1;
    match offer.opts().get(OptionCode::Router) {
        Some(DhcpOption::Router(r)) => assert_eq!(r, &[Ipv4Addr::new(192, 0, 2, 254)]),
        o => panic!("no option 3 in the offer: {o:?}"),
    }
    match offer.opts().get(OptionCode::DomainNameServer) {
        Some(DhcpOption::DomainNameServer(d)) => assert_eq!(
            d,
            &[Ipv4Addr::new(192, 0, 2, 53), Ipv4Addr::new(192, 0, 2, 54)],
            "DNS servers in the order given"
        ),
        o => panic!("no option 6 in the offer: {o:?}"),
    }

    // The iPXE build on the chosen port, byte for byte; nothing answers on 69.
    let got = dir.path().join("got.efi");
    let o = curl(
        &cl,
        &[
            "-o",
            got.to_str().unwrap(),
            &format!("tftp://{SERVER}:6969/ipxe.efi"),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want = std::fs::read(dir.path().join("tftp/ipxe.efi")).unwrap();
    assert_eq!(std::fs::read(&got).unwrap(), want);
    let o = curl(
        &cl,
        &[
            "--max-time",
            "3",
            "-o",
            "/dev/null",
            &format!("tftp://{SERVER}/ipxe.efi"),
        ],
    );
    assert!(!o.status.success(), "TFTP answered on port 69 too");
}

#[test]
fn one_slot_makes_a_second_artifact_get_wait_for_the_first_body() {
    if netns::skip_unless_available(&["curl"]) {
        return;
    }
    let c = Cluster::new("rack");
    let dir = tempfile::tempdir().unwrap();
    let (srv, cl) = pair();
    let cmd = serve_cmd(&srv, &c, dir.path(), &["--slots", "1"]);
    // Larger than every socket buffer on the path, so the body cannot end while unread.
    let big = vec![0x5a; 64 << 20];
    std::fs::write(dir.path().join("artifacts/big.img"), &big).unwrap();
    let _serve = Serve::start(cmd);

    // The slow reader: takes the only slot, reads a little, then nothing for a while.
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let reader = cl.spawn(move || {
        let mut s = TcpStream::connect((SERVER, 8080)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(b"GET /artifacts/big.img HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut buf = vec![0u8; 64 << 10];
        let mut total = s.read(&mut buf).unwrap();
        assert!(buf.starts_with(b"HTTP/1.1 200"), "first GET answered");
        started_tx.send(()).unwrap();
        go_rx.recv_timeout(Duration::from_secs(60)).unwrap();
        loop {
            match s.read(&mut buf).unwrap() {
                0 => break,
                n => total += n,
            }
        }
        (total, Instant::now())
    });
    started_rx.recv_timeout(Duration::from_secs(20)).unwrap();

    // The second GET, of a small file: with a free slot it would take milliseconds.
    let t0 = Instant::now();
    let mut second = cl
        .command("curl")
        .args(["-sS", "--max-time", "60", "-o", "/dev/null"])
        .args(["-w", "%{http_code} %{time_starttransfer}"])
        .arg(format!("http://{SERVER}:8080/artifacts/vmlinuz"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        second.try_wait().unwrap().is_none(),
        "the second GET finished while the only slot was taken"
    );
    go_tx.send(()).unwrap();
    let (total, first_done) = reader.join().unwrap();
    assert!(total > big.len(), "the first body arrived whole: {total}");
    let o = second.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let (code, ttfb) = out.split_once(' ').unwrap();
    assert_eq!(code, "200", "{out}");
    let first_byte = t0 + Duration::from_secs_f64(ttfb.parse::<f64>().unwrap());
    assert!(
        first_byte + Duration::from_millis(500) >= first_done,
        "the second body began before the first ended ({first_byte:?} < {first_done:?})"
    );
}

/// Flag errors name the flag and the fix, before anything is bound.
#[test]
fn slots_zero_and_proxy_mode_router_or_dns_are_refused() {
    let c = Cluster::new("rack");
    let dir = tempfile::tempdir().unwrap();
    let (art, tftp, _) = artifacts(dir.path());
    let run = |extra: &[&str]| {
        let o = kateskit()
            .args(["netboot", "serve", "--interface", "lo"])
            .arg("--cluster")
            .arg(c.dir.path())
            .arg("--artifacts")
            .arg(&art)
            .arg("--tftp-root")
            .arg(&tftp)
            .arg("--state")
            .arg(dir.path().join("state"))
            .args(extra)
            .output()
            .unwrap();
        assert!(!o.status.success(), "{extra:?} was accepted");
        String::from_utf8_lossy(&o.stderr).to_string()
    };
    let e = run(&["--slots", "0"]);
    assert!(e.contains("--slots") && e.contains("at least 1"), "{e}");
    for flag in ["--router", "--dns"] {
        let e = run(&[flag, "192.0.2.254"]);
        assert!(
            e.contains(flag) && e.contains("--dhcp full") && e.contains("site's DHCP"),
            "{e}"
        );
    }
}

/// The default TFTP root, Debian's /usr/lib/ipxe, links ipxe.efi to /boot/ipxe.efi: the iPXE
/// builds DHCP names are served through their links, and other links out of the root are not.
#[test]
fn the_default_tftp_root_serves_debians_linked_ipxe_efi() {
    const ROOT: &str = "/usr/lib/ipxe";
    if netns::skip_unless_available(&["curl"]) {
        return;
    }
    let linked = Path::new(ROOT).join("ipxe.efi");
    if !linked.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have {ROOT} (ipxe)"
        );
        eprintln!(
            "skipping: {} missing (apt-get install ipxe)",
            linked.display()
        );
        return;
    }
    assert!(
        std::fs::symlink_metadata(&linked)
            .unwrap()
            .file_type()
            .is_symlink(),
        "{} is no longer a symlink: this test proves nothing",
        linked.display()
    );
    let c = Cluster::new("rack");
    let dir = tempfile::tempdir().unwrap();
    let (art, _, _) = artifacts(dir.path());
    let (srv, cl) = pair();
    let mut cmd = srv.command(assert_cmd::cargo::cargo_bin("kateskit").to_str().unwrap());
    cmd.args([
        "netboot",
        "serve",
        "--interface",
        "sv0",
        "--tftp-root",
        ROOT,
    ])
    .arg("--cluster")
    .arg(c.dir.path())
    .arg("--artifacts")
    .arg(art)
    .arg("--state")
    .arg(dir.path().join("state"));
    let _serve = Serve::start(cmd);
    let got = dir.path().join("got.efi");
    let o = curl(
        &cl,
        &[
            "-o",
            got.to_str().unwrap(),
            &format!("tftp://{SERVER}/ipxe.efi"),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read(&got).unwrap(),
        std::fs::read(&linked).unwrap()
    );
    // A link the server did not choose stays confined (ipxe.lkrn -> /boot/ipxe.lkrn).
    if Path::new(ROOT).join("ipxe.lkrn").exists() {
        let o = curl(
            &cl,
            &[
                "--max-time",
                "5",
                "-o",
                "/dev/null",
                &format!("tftp://{SERVER}/ipxe.lkrn"),
            ],
        );
        assert!(!o.status.success(), "a link out of the root was served");
    }
}
