//! `kateskit netboot serve` as one process in a network namespace (192.0.2.0/24), driven from
//! a client namespace over a veth pair: a PXE DHCP discover, TFTP of the iPXE build, the chain
//! and boot scripts (no secret in them), the config over HTTPS trusted only by the pin the
//! boot script carries, and the boot timeline `netboot status` shows. Plus the start-up errors.
//! Needs root, iproute2 and curl.

mod agent_support;
mod dhcp_support;
mod fleet_support;
mod netns;
mod serve_support;

use std::net::Ipv4Addr;
use std::path::Path;

use std::time::Duration;

use agent_support::Cluster;
use base64::Engine;
use dhcp_support::{client_socket, collect, fname};
use dhcproto::v4::MessageType;
use fleet_support::{ok, tokens, A1};
use kateskit::netboot::dhcp::ClientPacket;
use netns::Netns;
use serve_support::{artifacts, curl, kateskit, wait_for_timeline, Serve};

const SERVER: &str = "192.0.2.1";
/// a1's static address in examples/rack: full mode reserves it.
const A1_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 21);
const A1_BYTES: [u8; 6] = [0x52, 0x54, 0x00, 0x0b, 0x00, 0x01];

#[test]
fn serve_in_full_mode_answers_dhcp_tftp_scripts_and_the_pinned_config() {
    if netns::skip_unless_available(&["curl"]) {
        return;
    }
    let c = Cluster::new("rack");
    let dir = tempfile::tempdir().unwrap();
    let (art, tftp, ipxe) = artifacts(dir.path());
    let state = dir.path().join("state");
    let (srv, cl) = (Netns::new("srv"), Netns::new("cl"));
    netns::veth(&srv, "sv0", &cl, "cl0");
    srv.ip(&["addr", "add", &format!("{SERVER}/24"), "dev", "sv0"]);
    cl.ip(&["link", "set", "cl0", "address", A1]);
    let mut cmd = srv.command(assert_cmd::cargo::cargo_bin("kateskit").to_str().unwrap());
    cmd.args(["netboot", "serve", "--interface", "sv0", "--dhcp", "full"])
        .args([
            "--range",
            "192.0.2.100,192.0.2.150",
            "--karg",
            "console=ttyS0",
        ])
        .arg("--cluster")
        .arg(c.dir.path())
        .arg("--artifacts")
        .arg(&art)
        .arg("--tftp-root")
        .arg(&tftp)
        .arg("--state")
        .arg(&state);
    let mut serve = Serve::start(cmd);
    assert_eq!(serve.field("dhcp"), "full");
    let pin = serve.field("config_tls_sha256");
    assert_eq!(pin.len(), 64);

    // UEFI PXE firmware: the offer carries the reserved address and the iPXE build.
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
    let (from, offer) = &offers[0];
    assert_eq!(from.ip().to_string(), SERVER);
    assert_eq!(
        offer.yiaddr(),
        A1_IP,
        "cluster.toml's static address is reserved"
    );
    assert_eq!(fname(offer), "ipxe.efi");
    cl.ip(&["addr", "add", &format!("{A1_IP}/24"), "dev", "cl0"]);

    // TFTP: the iPXE build, byte for byte.
    let got = dir.path().join("got.efi");
    let o = curl(
        &cl,
        &[
            "-o",
            got.to_str().unwrap(),
            &format!("tftp://{SERVER}/ipxe.efi"),
        ],
    );
    assert!(
        o.status.success(),
        "tftp: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(std::fs::read(&got).unwrap(), ipxe);

    // The chain script, then this machine's boot script.
    let o = curl(
        &cl,
        &[&format!(
            "http://{SERVER}:8080/boot.ipxe?mac=52-54-00-0b-00-01"
        )],
    );
    let chain = ok(&o);
    assert!(chain.starts_with("#!ipxe") && chain.contains(&format!("http://{SERVER}:8080/boot/")));
    let o = curl(
        &cl,
        &[
            "-f",
            &format!("http://{SERVER}:8080/boot/52-54-00-0b-00-01"),
        ],
    );
    let boot = ok(&o);
    let config_url = format!("https://{SERVER}:8443/v1/config/{A1}");
    assert!(
        boot.contains(&format!("kateskit.config_url={config_url}")),
        "{boot}"
    );
    assert!(
        boot.contains(&format!("kateskit.config_tls_sha256={pin}")),
        "{boot}"
    );
    assert!(boot.contains(&format!("kernel http://{SERVER}:8080/artifacts/vmlinuz")));
    assert!(boot.contains("console=ttyS0"));
    let (agent_token, server_token) = tokens(&c);
    for s in [&chain, &boot] {
        assert!(
            !s.contains(&agent_token) && !s.contains(&server_token),
            "a token in {s}"
        );
        assert!(
            !s.contains("PRIVATE KEY") && !s.contains("phone_home"),
            "{s}"
        );
    }

    // The kernel, as iPXE fetches it.
    let o = curl(
        &cl,
        &[
            "-f",
            "-o",
            "/dev/null",
            &format!("http://{SERVER}:8080/artifacts/vmlinuz"),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // The config over HTTPS, trusted by the pin alone; another pin is refused.
    let b64 = |h: &str| base64::engine::general_purpose::STANDARD.encode(hex::decode(h).unwrap());
    let wrong = "00".repeat(32);
    let o = curl(
        &cl,
        &[
            "-k",
            "--pinnedpubkey",
            &format!("sha256//{}", b64(&wrong)),
            &config_url,
        ],
    );
    assert!(!o.status.success(), "a wrong pin must fail");
    // A client dropping the connection mid-handshake leaves the server running; repeated so
    // a write into the closed socket (SIGPIPE) is hit.
    for _ in 0..30 {
        let _ = curl(
            &cl,
            &[
                "-k",
                "--pinnedpubkey",
                &format!("sha256//{}", b64(&wrong)),
                &config_url,
            ],
        );
    }
    assert!(
        serve.child.try_wait().unwrap().is_none(),
        "serve died when a client went away"
    );
    let o = curl(
        &cl,
        &[
            "-k",
            "-f",
            "--pinnedpubkey",
            &format!("sha256//{}", b64(&pin)),
            &config_url,
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&ok(&o)).unwrap();
    assert_eq!(v["secrets"]["token"], agent_token.as_str());
    let ph = v["agent"]["phone_home"].as_str().unwrap();
    let (cred, rest) = ph
        .strip_prefix("https://")
        .and_then(|r| r.split_once('@'))
        .unwrap_or_else(|| panic!("phone_home carries its credential: {ph}"));
    assert!(
        rest.starts_with(&format!("{SERVER}:8443/v1/status/")),
        "{ph}"
    );
    let password = cred.split_once(':').map_or(cred, |(_, p)| p);
    for s in [&chain, &boot] {
        assert!(
            !s.contains(password),
            "the status credential in a script: {s}"
        );
    }

    // The timeline: every stage, attributed to the MAC (TFTP/HTTP by the offered address).
    let want = ["dhcp", "tftp", "script", "kernel", "config"];
    let kinds = wait_for_timeline(
        &state,
        A1,
        &want,
        Duration::from_secs(10),
        Duration::from_millis(200),
    );
    for w in want {
        assert!(
            kinds.iter().any(|k| k == w),
            "no {w} in the timeline {kinds:?}"
        );
    }

    let st = serve.terminate();
    assert!(st.success(), "SIGTERM stops serve cleanly: {st:?}");
    let key = std::fs::metadata(state.join("tls.key")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
}

/// Start-up errors name the thing and the fix, before anything is served.
#[test]
fn start_errors_name_the_interface_the_artifacts_and_the_port() {
    let c = Cluster::new("rack");
    let dir = tempfile::tempdir().unwrap();
    let (art, tftp, _) = artifacts(dir.path());
    let run = |iface: &str, art: &Path, extra: &[&str]| {
        let o = kateskit()
            .args(["netboot", "serve", "--interface", iface])
            .arg("--cluster")
            .arg(c.dir.path())
            .arg("--artifacts")
            .arg(art)
            .arg("--tftp-root")
            .arg(&tftp)
            .arg("--state")
            .arg(dir.path().join("state"))
            .args(extra)
            .output()
            .unwrap();
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).to_string()
    };
    let e = run("kk-no-such0", &art, &[]);
    assert!(e.contains("kk-no-such0"), "{e}");
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = run("lo", &empty, &[]);
    assert!(e.contains("vmlinuz") && e.contains("--artifacts"), "{e}");
    let e = run("lo", &art, &["--dhcp", "full"]);
    assert!(e.contains("--range"), "{e}");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let e = run("lo", &art, &["--http-port", &port]);
    assert!(
        e.contains(&format!("127.0.0.1:{port}")) && e.contains("--listen"),
        "{e}"
    );
}
