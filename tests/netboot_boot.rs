//! Whole netboots from `kateskit netboot serve` in QEMU (TCG): SeaBIOS with Debian's iPXE ROM
//! (ipxe-qemu) gets DHCP, chains the served scripts, boots Debian's kernel and the agent's
//! test initramfs over HTTP, and the real agent fetches its config over pinned HTTPS, runs its
//! phases and posts its status into the server's timeline. Needs root, iproute2,
//! qemu-system-x86, ipxe-qemu, busybox, cpio, and dnsmasq for proxy mode.

mod agent_support;
mod dhcp_support;
mod fleet_support;
mod netns;
mod serve_support;

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use agent_support::Cluster;
use fleet_support::tokens;
use netns::Netns;
use serve_support::guest::{self, Guest, GuestOpts, BOOT_BOUND, VIRTIO_ROM};
use serve_support::{curl, wait_for_timeline, Serve};

/// a4 of the rack example: an agent without OSD disks, reserved at 192.0.2.24.
const A4: &str = "52:54:00:0b:00:04";
const A4_IP: &str = "192.0.2.24";
/// One TCG guest at a time: two would share the 2 cores with the build.
static ONE_GUEST: Mutex<()> = Mutex::new(());

/// Kernel arguments every boot script carries here: the serial console.
const KARGS: [&str; 4] = ["console=ttyS0", "quiet", "panic=-1", "no_timer_check"];

fn serve_cmd(
    ns: &Netns,
    iface: &str,
    c: &Cluster,
    art: &Path,
    state: &Path,
) -> std::process::Command {
    let mut cmd = ns.command(assert_cmd::cargo::cargo_bin("kateskit").to_str().unwrap());
    cmd.args(["netboot", "serve", "--interface", iface])
        .arg("--cluster")
        .arg(c.dir.path())
        .arg("--artifacts")
        .arg(art)
        .args(["--tftp-root", "/usr/lib/ipxe"])
        .arg("--state")
        .arg(state);
    for k in KARGS {
        cmd.arg("--karg").arg(k);
    }
    cmd
}

/// Boots a4 and waits for the console's last marker; prints the timeline when it never came.
fn boot_a4(
    ns: &Netns,
    dir: &Path,
    state: &Path,
    disk: Option<(std::path::PathBuf, String)>,
) -> String {
    let serial = dir.join("serial.log");
    let mut opts = GuestOpts::bios(A4, "tap0", &serial);
    opts.disk = disk;
    let mut g = Guest::launch(ns, &opts);
    let (_, done) = g.wait_for("==DONE==", BOOT_BOUND);
    if !done {
        let out =
            fleet_support::netboot(&["status", "--state", state.to_str().unwrap(), "--mac", A4]);
        eprintln!(
            "the timeline so far:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let log = g.expect("==DONE==", Duration::ZERO);
    eprintln!("the guest's console:\n{log}");
    assert_eq!(guest::marker(&log, "RC"), Some("0"), "{log}");
    let status: serde_json::Value =
        serde_json::from_str(guest::section(&log, "STATUS").unwrap()).unwrap();
    assert_eq!(status["state"], "ok", "{status:#}");
    assert_eq!(status["node_name"], "a4", "{status:#}");
    log
}

/// The kinds of a4's timeline, with every stage of the boot present and in order.
fn assert_stages_in_order(state: &Path, log: &str) -> serde_json::Value {
    let want = ["dhcp", "script", "kernel", "initrd", "config", "phase"];
    let kinds = wait_for_timeline(
        state,
        A4,
        &want,
        Duration::from_secs(30),
        Duration::from_millis(500),
    );
    let first = |k: &str| {
        kinds
            .iter()
            .position(|x| x == k)
            .unwrap_or_else(|| panic!("no {k} in the timeline {kinds:?}; console:\n{log}"))
    };
    let idx: Vec<usize> = want.iter().map(|k| first(k)).collect();
    assert!(
        idx.windows(2).all(|w| w[0] < w[1]),
        "stages out of order in {kinds:?} (want {want:?})"
    );
    let out = fleet_support::netboot(&[
        "status",
        "--state",
        state.to_str().unwrap(),
        "--json",
        "--mac",
        A4,
    ]);
    let rows: serde_json::Value = serde_json::from_str(&fleet_support::ok(&out)).unwrap();
    for e in rows[0]["timeline"].as_array().into_iter().flatten() {
        eprintln!("timeline: {} {}", e["kind"], e["detail"]);
    }
    rows[0].clone()
}

/// Every agent phase before the report, as the status POST reported it, in run order; `join`
/// is the join phase's expected start.
fn assert_phases(row: &serde_json::Value, join: &str) {
    let details: Vec<&str> = row["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "phase")
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    let want = [
        "discover done",
        "validate done",
        "network done",
        "host done",
        "disks done",
        "k3s-config done",
        "start done",
        join,
    ];
    let mut at = 0;
    for w in want {
        let i = details[at..]
            .iter()
            .position(|d| d.starts_with(w))
            .unwrap_or_else(|| panic!("{w} missing or out of order in {details:?}"));
        at += i + 1;
    }
}

/// No secret in the scripts (fetched as the guest fetched them), on the kernel command line or
/// the console; the agent token arrived (only the HTTPS config carries it).
fn assert_token_only_in_the_config(ns: &Netns, c: &Cluster, http: &str, log: &str) {
    let (agent, server) = tokens(c);
    let chain = curl(ns, &[&format!("http://{http}/boot.ipxe")]);
    // The URL the chain script builds for this guest (uuid and serial empty under QEMU).
    let boot = curl(
        ns,
        &[&format!(
            "http://{http}/boot/{}?uuid=&serial=&arch=i386",
            A4.replace(':', "-")
        )],
    );
    let boot = String::from_utf8_lossy(&boot.stdout).to_string();
    assert!(boot.contains("kateskit.config_tls_sha256="), "{boot}");
    for text in [
        &String::from_utf8_lossy(&chain.stdout).to_string(),
        &boot,
        &log.to_string(),
    ] {
        for secret in [&agent, &server] {
            let pass = secret.rsplit(':').next().unwrap();
            assert!(
                !text.contains(pass),
                "a token is in a script or on the console:\n{text}"
            );
        }
        assert!(!text.contains("kateskit.token"), "{text}");
    }
    let got = guest::marker(log, "TOKEN_SHA256").unwrap_or("");
    let sha = |s: &str| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(s.as_bytes()))
    };
    assert!(
        got == sha(&agent) || got == sha(&format!("{agent}\n")),
        "the guest's token file is not the agent token (sha256 {got:?})"
    );
}

/// `--dhcp full`: the guest's MAC is a4 of cluster.toml; DHCP (its reservation) → iPXE →
/// chain and boot script → kernel and initrd over HTTP → the agent's pinned HTTPS config →
/// phases → status POST; the timeline shows each stage in order.
#[test]
fn a_bios_guest_netboots_the_agent_in_full_mode() {
    if guest::skip_unless_available(VIRTIO_ROM) {
        return;
    }
    let _one = ONE_GUEST.lock().unwrap_or_else(|e| e.into_inner());
    let c = Cluster::new("rack");
    let dir = tempfile::tempdir().unwrap();
    let srv = Netns::new("boot");
    guest::bridge(&srv, "br0", "192.0.2.1/24");
    guest::tap(&srv, "br0", "tap0");
    let (_k3s_ns, k3s, files) = serve_support::k3s::at_api_vip(&srv, "br0", &c);
    let extra: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    let art = guest::agent_artifacts(dir.path(), &extra);
    let state = dir.path().join("state");
    let mut cmd = serve_cmd(&srv, "br0", &c, &art, &state);
    cmd.args(["--dhcp", "full", "--range", "192.0.2.100,192.0.2.150"]);
    let serve = Serve::start(cmd);
    // A data disk a4's config does not name: the agent leaves it alone.
    let disk = dir.path().join("data.img");
    std::fs::File::create(&disk)
        .unwrap()
        .set_len(16 << 20)
        .unwrap();
    let log = boot_a4(
        &srv,
        dir.path(),
        &state,
        Some((disk.clone(), "KK_DATA".into())),
    );
    assert_eq!(
        guest::marker(&log, "DISKS"),
        Some("virtio-KK_DATA "),
        "{log}"
    );
    assert!(
        std::fs::read(&disk).unwrap().iter().all(|&b| b == 0),
        "the agent wrote to a disk its config does not name"
    );
    assert_eq!(
        guest::marker(&log, "NET"),
        Some(format!("{A4_IP}/24 from 192.0.2.1").as_str()),
        "{log}"
    );
    let row = assert_stages_in_order(&state, &log);
    assert_phases(&row, "join done: joined via https://192.0.2.10:6443");
    let kinds: Vec<&str> = row["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.last(), Some(&"joined"), "{kinds:?}");
    assert_eq!(row["state"], "joined", "{row:#}");
    assert_eq!(row["ip"], A4_IP, "{row:#}");
    assert_eq!(
        k3s.url(),
        format!("https://{}", serve_support::k3s::API_VIP)
    );
    assert_token_only_in_the_config(&srv, &c, &serve.field("http"), &log);
}

/// `--dhcp proxy` beside Debian's dnsmasq, the site's DHCP server on the same bridge (full
/// DHCP, its own lease file): the same boot end to end; dnsmasq leased the guest its address
/// and serve handed out none (no lease file entries, no address in any DHCP event).
#[test]
fn a_bios_guest_netboots_the_agent_in_proxy_mode_beside_dnsmasq() {
    if guest::skip_unless_available(VIRTIO_ROM) || netns::skip_unless_available(&["dnsmasq"]) {
        return;
    }
    let _one = ONE_GUEST.lock().unwrap_or_else(|e| e.into_inner());
    let c = Cluster::new("rack");
    let dir = tempfile::tempdir().unwrap();
    let art = guest::agent_artifacts(dir.path(), &[]);
    let state = dir.path().join("state");
    let (site, proxy) = (Netns::new("site"), Netns::new("proxy"));
    guest::bridge(&site, "br0", "192.0.2.1/24");
    guest::tap(&site, "br0", "tap0");
    netns::veth(&site, "sp0", &proxy, "px0");
    site.ip(&["link", "set", "sp0", "master", "br0"]);
    proxy.ip(&["addr", "add", "192.0.2.2/24", "dev", "px0"]);
    let _site_dhcp = dhcp_support::SiteDhcp::start(&site, dir.path());
    let mut cmd = serve_cmd(&proxy, "px0", &c, &art, &state);
    cmd.args([
        "--dhcp",
        "proxy",
        "--karg",
        "kateskit.agent.verify_join=false",
    ]);
    let serve = Serve::start(cmd);
    let log = boot_a4(&site, dir.path(), &state, None);
    let net = guest::marker(&log, "NET").unwrap_or("");
    let addr = net
        .strip_suffix("/24 from 192.0.2.1")
        .unwrap_or_else(|| panic!("the guest's address is not dnsmasq's: {net:?}"));
    let leases = std::fs::read_to_string(dir.path().join("leases")).unwrap();
    assert!(
        leases
            .lines()
            .any(|l| l.contains(A4) && l.contains(&format!(" {addr} "))),
        "dnsmasq's lease file has no {A4} {addr}:\n{leases}"
    );
    let row = assert_stages_in_order(&state, &log);
    assert_phases(&row, "join skipped: agent.verify_join is false");
    assert_eq!(row["state"], "configured", "{row:#}");
    assert_eq!(row["ip"], addr, "{row:#}");
    for e in row["timeline"].as_array().unwrap() {
        if e["kind"] == "dhcp" {
            let d = e["detail"].as_str().unwrap();
            assert!(
                d.starts_with("offer boot ") || d.starts_with("ack boot "),
                "a proxy DHCP event with an address: {d}"
            );
        }
    }
    let ours = std::fs::read_to_string(state.join("dhcp-leases.json")).unwrap_or_default();
    let ours: serde_json::Value = serde_json::from_str(&ours).unwrap_or_default();
    assert!(
        ours["leases"].as_array().is_none_or(|l| l.is_empty()),
        "serve leased addresses in proxy mode: {ours}"
    );
    assert_token_only_in_the_config(&proxy, &c, &serve.field("http"), &log);
}
