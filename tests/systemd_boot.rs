//! The systemd tier: Debian's kernel boots (QEMU, TCG) a debootstrapped Debian 12 root with real
//! systemd as PID 1 (systemd-networkd, timesyncd, udev, sshd), the project's debug binary and
//! the unit files of modules/units as NixOS installs them (Debian paths filled in), and a
//! STAND-IN k3s.service (busybox httpd answering /ping and /cacerts; not k3s) ordered only by
//! the project's drop-in. Each assertion reads what a boot recorded on its disk.
//!
//! Two machines, booted in parallel and shared between the assertions:
//! * `static`: a tap link in a test network namespace with no DHCP server; the kernel command
//!   line declares 192.0.2.21/24 and a pinned config_url on 192.0.2.1, reachable only through
//!   that address. Booted twice from the same disk.
//! * `failing`: QEMU user networking (DHCP), role/server/token on the command line and an OSD
//!   disk declared by the image defaults that is absent, so the disks phase fails.

mod agent_support;
mod systemd_tier;

use std::sync::OnceLock;

use systemd_tier::machines::{failing_machine, static_machine, Machine};
use systemd_tier::record::Record;
use systemd_tier::root;

type Shared = OnceLock<Result<Machine, String>>;
static STATIC: Shared = OnceLock::new();
static FAILING: Shared = OnceLock::new();

/// The machine's boots, made once; None (after printing why) where the tier cannot run.
fn machine(
    cell: &'static Shared,
    make: fn() -> Result<Machine, String>,
) -> Option<&'static Machine> {
    if !root::tools_present() {
        return None;
    }
    let got = cell.get_or_init(|| {
        std::panic::catch_unwind(make).unwrap_or_else(|p| {
            Err(p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panicked".into()))
        })
    });
    match got {
        Ok(m) => Some(m),
        Err(e) => panic!("the systemd tier's machine could not be booted: {e}"),
    }
}

/// Text of the record's systemd journal lines that mention `what`.
fn journal_lines(r: &Record, what: &str) -> Vec<String> {
    r.read("journal")
        .lines()
        .filter(|l| l.contains(what))
        .map(str::to_string)
        .collect()
}

fn show(r: &Record) -> String {
    let mut s = String::new();
    for f in [
        "ip",
        "networkctl",
        "hostname",
        "timesync",
        "network-files",
        "status.json",
    ] {
        s.push_str(&format!("--- {f}\n{}\n", r.read(f)));
    }
    for u in [
        "kateskit-network",
        "kateskit-agent",
        "k3s",
        "kateskit-join",
        "systemd-networkd",
    ] {
        s.push_str(&format!("--- unit {u}\n{}\n", r.read(&format!("unit-{u}"))));
    }
    let journal = r.read("journal");
    let kk: Vec<&str> = journal
        .lines()
        .filter(|l| l.contains("kateskit") || l.contains("k3s"))
        .collect();
    s.push_str(&format!(
        "--- journal (kateskit, k3s lines)\n{}\n",
        kk.join("\n")
    ));
    let tail: Vec<&str> = r.serial.lines().rev().take(40).collect();
    s.push_str(&format!(
        "--- serial console (last lines)\n{}\n",
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    ));
    s
}

#[test]
fn networkd_brings_up_the_static_address_before_the_config_url_fetch() {
    let Some(m) = machine(&STATIC, static_machine) else {
        return;
    };
    let b = &m.boots[0];
    let ip = b.read("ip");
    assert!(
        ip.contains("eth0") && ip.contains("inet 192.0.2.21/24"),
        "{}",
        show(b)
    );
    // No DHCP server on the tap: the only IPv4 address besides loopback is the static one.
    assert_eq!(
        ip.lines()
            .filter(|l| l.contains("inet ") && !l.contains(" lo "))
            .count(),
        1,
        "{ip}"
    );
    assert!(
        b.read("network-files")
            .contains("10-kateskit-static.network"),
        "{}",
        show(b)
    );
    // The early unit wrote the file before networkd started, and the agent came after it.
    let early_done = b.usec("kateskit-network", "ExecMainExitTimestampMonotonic");
    let networkd = b.usec("systemd-networkd", "ExecMainStartTimestampMonotonic");
    let agent = b.usec("kateskit-agent", "ExecMainStartTimestampMonotonic");
    assert!(
        early_done > 0 && early_done <= networkd && networkd < agent,
        "{}",
        show(b)
    );
    // network-online (wait-online --any) was reached on that address before the agent ran.
    let online = b.usec(
        "systemd-networkd-wait-online",
        "ExecMainExitTimestampMonotonic",
    );
    assert_eq!(
        b.prop("systemd-networkd-wait-online", "Result"),
        "success",
        "{}",
        show(b)
    );
    assert!(online > 0 && online <= agent, "{}", show(b));
    assert!(
        !journal_lines(b, "wrote 10-kateskit-static.network").is_empty(),
        "{}",
        show(b)
    );
    // The config_url was fetched through that address: its host name and the served config.
    assert_eq!(b.read("hostname").trim(), "sd-static", "{}", show(b));
    let status: serde_json::Value =
        serde_json::from_str(&b.read("status.json")).unwrap_or_default();
    assert_eq!(status["state"], "ok", "{}", show(b));
    // busybox httpd -vv logs `client:port: url:/path`: the request came from the static address.
    assert!(
        m.httpd.contains("192.0.2.21:") && m.httpd.contains("url:/n.json"),
        "httpd saw no request for the config from 192.0.2.21:\n{}",
        m.httpd
    );
}

#[test]
fn units_run_in_order_agent_then_k3s_then_join() {
    let Some(m) = machine(&STATIC, static_machine) else {
        return;
    };
    let b = &m.boots[0];
    let agent_done = b.usec("kateskit-agent", "ExecMainExitTimestampMonotonic");
    let k3s = b.usec("k3s", "ExecMainStartTimestampMonotonic");
    let join = b.usec("kateskit-join", "ExecMainStartTimestampMonotonic");
    assert_eq!(b.prop("kateskit-agent", "Result"), "success", "{}", show(b));
    assert!(agent_done > 0 && agent_done <= k3s, "{}", show(b));
    assert!(k3s > 0 && k3s <= join, "{}", show(b));
    assert_eq!(b.prop("k3s", "ActiveState"), "active", "{}", show(b));
    assert_eq!(b.prop("kateskit-join", "Result"), "success", "{}", show(b));
    // The stand-in answered as k3s's supervisor does, reading the role the agent wrote.
    assert_eq!(b.read("ping"), "pong");
    assert!(b.read("cacerts").starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(
        b.read("k3s.env").contains("K3S_ROLE=agent"),
        "{}",
        b.read("k3s.env")
    );
    let cycles = journal_lines(b, "ordering cycle");
    assert!(cycles.is_empty(), "{cycles:#?}");
}

#[test]
fn hostname_and_ntp_servers_survive_a_reboot() {
    let Some(m) = machine(&STATIC, static_machine) else {
        return;
    };
    for b in &m.boots {
        assert_eq!(b.read("hostname").trim(), "sd-static", "{}", show(b));
        assert_eq!(b.read("etc-hostname").trim(), "sd-static");
        // timesyncd uses the site's servers from the drop-in, in place of its own.
        assert_eq!(
            b.read("timesync").trim(),
            "SystemNTPServers=192.0.2.123",
            "{}",
            show(b)
        );
    }
}

#[test]
fn a_second_boot_from_the_same_disk_changes_nothing() {
    let Some(m) = machine(&STATIC, static_machine) else {
        return;
    };
    let (first, second) = (&m.boots[0], &m.boots[1]);
    assert_eq!(
        first.read("mtimes"),
        second.read("mtimes"),
        "a file the agent owns was rewritten on the second boot"
    );
    assert!(!first.read("mtimes").is_empty());
    assert!(
        !journal_lines(second, "10-kateskit-static.network from").is_empty()
            && !journal_lines(second, "unchanged; networkd not reloaded").is_empty(),
        "{}",
        show(second)
    );
    for noisy in [
        "Reloading Network Configuration",
        "Stopping Network Time Synchronization",
    ] {
        let l = journal_lines(second, noisy);
        assert!(l.is_empty(), "second boot: {l:#?}");
    }
    assert_eq!(
        second.prop("k3s", "ActiveState"),
        "active",
        "{}",
        show(second)
    );
}

#[test]
fn a_failing_disk_phase_keeps_k3s_stopped_and_dhcp_configures_the_link() {
    let Some(m) = machine(&FAILING, failing_machine) else {
        return;
    };
    let b = &m.boots[0];
    assert_eq!(
        b.prop("kateskit-agent", "Result"),
        "exit-code",
        "{}",
        show(b)
    );
    assert_eq!(b.prop("k3s", "ActiveState"), "inactive", "{}", show(b));
    assert_eq!(
        b.usec("k3s", "ExecMainStartTimestampMonotonic"),
        0,
        "{}",
        show(b)
    );
    assert_eq!(
        b.usec("kateskit-join", "ExecMainStartTimestampMonotonic"),
        0,
        "{}",
        show(b)
    );
    assert_eq!(b.read("k3s.env"), "", "k3s.env must not exist");
    assert_eq!(b.read("ping"), "", "nothing listens where k3s would");
    let journal: serde_json::Value = serde_json::from_str(&b.read("agent-journal.json")).unwrap();
    let disks = journal["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "disks")
        .unwrap();
    assert_eq!(disks["outcome"], "failed", "{journal:#}");
    assert!(
        disks["detail"]
            .as_str()
            .unwrap()
            .contains("virtio-absent-osd"),
        "{journal:#}"
    );
    // No static address anywhere: QEMU's DHCP server configured the physical link.
    let ip = b.read("ip");
    assert!(
        ip.contains("eth0") && ip.contains("inet 10.0.2.15/24"),
        "{}",
        show(b)
    );
    assert!(b
        .read("network-files")
        .contains("99-kateskit-physical.network"));
}
