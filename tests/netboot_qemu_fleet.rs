//! Unknown machines and a small rack in QEMU guests (SeaBIOS + Debian's iPXE ROM, TCG) against
//! `kateskit netboot serve --dhcp full`: an ignored MAC gets no answer; a pending MAC boots the
//! generic image, its agent waits `unconfigured` without touching its disk, and `netboot
//! approve` lets the same run go on without a reboot; five guests at once each reach their end
//! state. Needs root, iproute2, qemu-system-x86, ipxe-qemu, busybox, cpio.

mod agent_support;
mod fleet_support;
mod netns;
mod serve_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agent_support::Cluster;
use fleet_support::{netboot, ok, STRANGER};
use netns::Netns;
use serve_support::guest::{self, Guest, GuestOpts, BOOT_BOUND, VIRTIO_ROM};
use serve_support::Serve;

const KARGS: [&str; 6] = [
    "console=ttyS0",
    "no_timer_check",
    "quiet",
    "panic=-1",
    "kateskit.agent.verify_join=false",
    "kateskit.agent.pending_timeout_s=900",
];

/// A rack namespace (bridge br0, 192.0.2.1/24, `taps` taps) and serve in full mode on it.
struct Rack {
    ns: Netns,
    state: PathBuf,
    _serve: Serve,
    _cluster: Cluster,
}

fn rack(dir: &Path, taps: usize, unknown: &str) -> Rack {
    let c = Cluster::new("rack");
    let art = guest::agent_artifacts(dir, &[]);
    let state = dir.join("state");
    let ns = Netns::new("qfleet");
    guest::bridge(&ns, "br0", "192.0.2.1/24");
    for i in 0..taps {
        guest::tap(&ns, "br0", &format!("tap{i}"));
    }
    let mut cmd = ns.command(assert_cmd::cargo::cargo_bin("kateskit").to_str().unwrap());
    cmd.args(["netboot", "serve", "--interface", "br0", "--dhcp", "full"])
        .args(["--range", "192.0.2.100,192.0.2.150", "--unknown", unknown])
        .arg("--cluster")
        .arg(c.dir.path())
        .arg("--artifacts")
        .arg(&art)
        .args(["--tftp-root", "/usr/lib/ipxe"])
        .arg("--state")
        .arg(&state);
    for k in KARGS {
        cmd.arg("--karg").arg(k);
    }
    let serve = Serve::start(cmd);
    Rack {
        ns,
        state,
        _serve: serve,
        _cluster: c,
    }
}

/// The machine's row from `netboot status --json --mac MAC` (null while it has none).
fn row(state: &Path, mac: &str) -> serde_json::Value {
    let out = netboot(&[
        "status",
        "--state",
        state.to_str().unwrap(),
        "--json",
        "--mac",
        mac,
    ]);
    // A machine the server has not seen yet has no row (the command says so and fails).
    if !out.status.success() {
        return serde_json::Value::Null;
    }
    let rows: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    rows[0].clone()
}

fn kinds(row: &serde_json::Value) -> Vec<String> {
    row["timeline"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|e| e["kind"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Polls the row until `done` holds or `bound` runs out; returns the last row.
fn wait_row(
    state: &Path,
    mac: &str,
    bound: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let t0 = Instant::now();
    loop {
        let r = row(state, mac);
        if done(&r) || t0.elapsed() > bound {
            return r;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn sha256_file(p: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(p).unwrap()))
}

/// A 16 MiB data disk with a recognisable pattern (not blank, so any write changes it).
fn data_disk(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    let block: Vec<u8> = (0..65536u32).map(|i| (i * 31 % 253) as u8).collect();
    let mut all = Vec::with_capacity(16 << 20);
    for _ in 0..256 {
        all.extend_from_slice(&block);
    }
    std::fs::write(&p, all).unwrap();
    p
}

fn opts(dir: &Path, mac: &str, tap: &str) -> GuestOpts {
    let mut o = GuestOpts::bios(mac, tap, &dir.join(format!("serial-{tap}.log")));
    o.mem_mib = 384;
    o
}

/// `--unknown ignore`: the unknown MAC's DISCOVERs are not answered (the timeline holds only
/// refused DHCP events), the guest never gets a boot file, so no script, kernel or boot.
#[test]
fn an_unknown_machine_is_ignored() {
    if guest::skip_unless_available(VIRTIO_ROM) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let r = rack(dir.path(), 1, "ignore");
    let mut g = Guest::launch(&r.ns, &opts(dir.path(), STRANGER, "tap0"));
    let got = wait_row(&r.state, STRANGER, Duration::from_secs(120), |row| {
        kinds(row).iter().filter(|k| *k == "ignored").count() >= 2
    });
    let k = kinds(&got);
    assert!(
        k.iter().filter(|k| *k == "ignored").count() >= 2,
        "no ignored DHCP events for {STRANGER}: {got:#}"
    );
    for e in got["timeline"].as_array().unwrap() {
        assert_eq!(
            e["kind"], "ignored",
            "an ignored machine got further: {got:#}"
        );
        assert!(e["detail"].as_str().unwrap().contains("unknown"), "{e}");
    }
    assert!(
        got["ip"].is_null(),
        "an ignored machine got an address: {got:#}"
    );
    // iPXE retries DHCP for about a minute; it never boots a kernel.
    let (log, booted) = g.wait_for("Linux version", Duration::from_secs(20));
    assert!(!booted, "the ignored guest booted a kernel:\n{log}");
}

/// `--unknown pending`: the guest boots the generic image; its agent polls the config
/// endpoint, which answers pending (the timeline's `pending`, the row `pending`), while its
/// data disk stays byte-identical; `netboot approve --as agent` lets the same run go on (one
/// kernel boot on the console) to its config, phases and status POST as `node-0c0007`.
#[test]
fn a_pending_machine_waits_untouched_and_proceeds_once_approved() {
    if guest::skip_unless_available(VIRTIO_ROM) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let r = rack(dir.path(), 1, "pending");
    let disk = data_disk(dir.path(), "data.raw");
    let before = sha256_file(&disk);
    let mut o = opts(dir.path(), STRANGER, "tap0");
    o.disk = Some((disk.clone(), "data0".into()));
    let mut g = Guest::launch(&r.ns, &o);
    let pending = wait_row(&r.state, STRANGER, BOOT_BOUND, |row| {
        kinds(row).iter().any(|k| k == "pending")
    });
    assert!(
        kinds(&pending).iter().any(|k| k == "pending"),
        "the agent never asked for its config: {pending:#}\n{}",
        g.log()
    );
    assert_eq!(pending["state"], "pending", "{pending:#}");
    for want in ["dhcp", "script", "kernel", "initrd"] {
        assert!(kinds(&pending).iter().any(|k| k == want), "{pending:#}");
    }
    // A few more polls while pending: still nothing written.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        sha256_file(&disk),
        before,
        "the pending machine's disk changed"
    );
    let state = r.state.to_str().unwrap();
    ok(&netboot(&[
        "approve", STRANGER, "--as", "agent", "--state", state,
    ]));
    let log = g.expect("==DONE==", BOOT_BOUND);
    assert_eq!(guest::marker(&log, "RC"), Some("0"), "{log}");
    let status: serde_json::Value =
        serde_json::from_str(guest::section(&log, "STATUS").unwrap()).unwrap();
    assert_eq!(status["state"], "ok", "{status:#}");
    assert_eq!(status["node_name"], "node-0c0007", "{status:#}");
    // The agent's console banner said why it waited; /init ran once: no reboot.
    assert!(
        log.contains("UNCONFIGURED") && log.contains("reason:    pending approval"),
        "no pending banner on the console:\n{log}"
    );
    assert_eq!(
        log.matches("==INIT up==").count(),
        1,
        "the guest rebooted:\n{log}"
    );
    let done = wait_row(&r.state, STRANGER, Duration::from_secs(30), |row| {
        kinds(row).iter().any(|k| k == "phase")
    });
    let k = kinds(&done);
    let p = k.iter().position(|k| k == "pending").unwrap();
    let c = k.iter().position(|k| k == "config").expect("config served");
    assert!(p < c, "config before the wait: {k:?}");
    assert!(k.iter().any(|k| k == "phase"), "no status POST: {done:#}");
    assert_eq!(done["approved_as"], "new agent", "{done:#}");
    assert_eq!(done["state"], "configured", "{done:#}");
    assert_eq!(
        sha256_file(&disk),
        before,
        "the approved agent wrote its disk"
    );
}

/// Five guests at once on one bridge (384 MiB each): a4 (known) configures itself; a1 (known,
/// its OSD disks absent) fails closed in its disks phase and says so; two unknown machines
/// wait pending until approved, then configure as `node-0c0007`/`node-0c0008`; a third stays
/// pending. Each ends in its state in the timeline; the whole run is timed and printed.
#[test]
fn five_guests_at_once_each_reach_their_end_state() {
    if guest::skip_unless_available(VIRTIO_ROM) {
        return;
    }
    const A1: &str = "52:54:00:0b:00:01";
    const A4: &str = "52:54:00:0b:00:04";
    const P: [&str; 3] = [
        "52:54:00:0c:00:07",
        "52:54:00:0c:00:08",
        "52:54:00:0c:00:09",
    ];
    let bound = Duration::from_secs(480);
    let dir = tempfile::tempdir().unwrap();
    let r = rack(dir.path(), 5, "pending");
    let t0 = Instant::now();
    let macs = [A4, A1, P[0], P[1], P[2]];
    let mut guests: Vec<Guest> = macs
        .iter()
        .enumerate()
        .map(|(i, m)| Guest::launch(&r.ns, &opts(dir.path(), m, &format!("tap{i}"))))
        .collect();
    let state = r.state.to_str().unwrap().to_string();
    for m in P {
        // The agent asked for its config and was told to wait (not only DHCP seen).
        let got = wait_row(&r.state, m, bound.saturating_sub(t0.elapsed()), |row| {
            kinds(row).iter().any(|k| k == "pending")
        });
        assert_eq!(got["state"], "pending", "{m} never waited: {got:#}");
    }
    eprintln!("three machines pending after {:?}", t0.elapsed());
    for m in &P[..2] {
        ok(&netboot(&[
            "approve", m, "--as", "agent", "--state", &state,
        ]));
    }
    let mut logs = Vec::new();
    for g in guests.iter_mut().take(4) {
        logs.push(g.expect("==DONE==", bound.saturating_sub(t0.elapsed())));
    }
    eprintln!("four guests done after {:?}", t0.elapsed());
    let status = |log: &str| -> serde_json::Value {
        serde_json::from_str(guest::section(log, "STATUS").unwrap()).unwrap()
    };
    assert_eq!(guest::marker(&logs[0], "RC"), Some("0"), "{}", logs[0]);
    assert_eq!(status(&logs[0])["node_name"], "a4");
    assert_ne!(guest::marker(&logs[1], "RC"), Some("0"), "{}", logs[1]);
    for (i, name) in [(2, "node-0c0007"), (3, "node-0c0008")] {
        assert_eq!(guest::marker(&logs[i], "RC"), Some("0"), "{}", logs[i]);
        assert_eq!(status(&logs[i])["node_name"], name, "{}", logs[i]);
    }
    let end = |m: &str, want: &str| {
        let got = wait_row(&r.state, m, Duration::from_secs(30), |row| {
            row["state"] == want
        });
        assert_eq!(got["state"], want, "{m}: {got:#}");
        got
    };
    for m in [A4, P[0], P[1]] {
        let got = end(m, "configured");
        let k = kinds(&got);
        for want in ["dhcp", "script", "kernel", "initrd", "config", "phase"] {
            assert!(k.iter().any(|x| x == want), "{m}: no {want} in {k:?}");
        }
    }
    let a1 = end(A1, "failed");
    assert!(
        a1["failure"].as_str().unwrap_or("").contains("disk"),
        "{a1:#}"
    );
    let last = row(&r.state, P[2]);
    assert_eq!(last["state"], "pending", "{last:#}");
    assert!(!kinds(&last).iter().any(|k| k == "config"), "{last:#}");
    eprintln!("five guests: end states after {:?}", t0.elapsed());
}
