//! A/B upgrades booted for real: Debian's OVMF and systemd-boot 252 in QEMU (TCG) on a disk laid
//! out as the raw image (ESP with systemd-boot and one UKI per slot, two store slots, the data
//! partition as `/`). Each slot is a UKI of Debian's kernel with a test initramfs whose init is a
//! STAND-IN for the booted system's unit ordering (tests/data/upgrade-boot-init.sh); the
//! bootloader, its boot counting, the EFI variables, the ESP and the `kateskit node` commands are
//! the real ones. The machine reboots by ending its QEMU run (`-no-reboot`); the test reads the
//! serial console and the ESP's file names between boots.

mod agent_support;
#[path = "upgrade_support/layout.rs"]
mod layout;
#[path = "upgrade_support/machine.rs"]
mod machine;
#[path = "upgrade_support/node.rs"]
mod node;
#[path = "upgrade_support/release.rs"]
mod release;
#[path = "upgrade_support/serve.rs"]
mod serve;
#[path = "upgrade_support/uki.rs"]
mod uki;

use std::time::Duration;

use node::{status, After, Node, B, CMDLINE};

/// One boot of a machine: firmware, systemd-boot, the UKI, and the init's work (TCG is slow).
const BOOT_BOUND: Duration = Duration::from_secs(150);

fn tools() -> bool {
    agent_support::initramfs::tools_present() && uki::tools_present() && machine::tools_present()
}

fn store_hash(version: &str) -> String {
    layout::sha256_hex(&release::parts().store(version))
}

/// Asserts the boot ran VERSION's init from `selected` (systemd-boot's LoaderEntrySelected)
/// with `count_path` as LoaderBootCountPath ("" when absent), on VERSION's own store slot.
fn assert_booted(a: &After, version: &str, selected: &str, count_path: &str) {
    let (b, log) = (&a.boot, &a.boot.log);
    assert_eq!(b.marker("VERSION"), Some(version), "boot {}:\n{log}", b.n);
    assert_eq!(b.marker("SELECTED"), Some(selected), "boot {}:\n{log}", b.n);
    assert_eq!(
        b.marker("COUNTPATH"),
        Some(count_path),
        "boot {}:\n{log}",
        b.n
    );
    assert_eq!(
        b.marker("STORE"),
        Some(store_hash(version).as_str()),
        "boot {}: the store slot named kateskit_{version} does not hold version {version}'s store:\n{log}",
        b.n
    );
}

/// The verdict `kateskit agent health --json` printed in the guest.
fn gate(a: &After) -> serde_json::Value {
    let text = a
        .boot
        .section("GATE")
        .unwrap_or_else(|| panic!("no gate ran:\n{}", a.boot.log));
    serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("gate output is not JSON ({e}):\n{}", a.boot.log))
}

/// The state of one named check in a gate verdict.
fn check(g: &serde_json::Value, name: &str) -> String {
    g["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == name)
        .map(|c| c["state"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

/// Boot 1 of every upgrade scenario: version 1 stages version 2 and reboots.
fn assert_staged(a: &After) {
    assert_booted(a, "1", "kateskit_1.efi", "");
    let log = &a.boot.log;
    assert_eq!(a.boot.marker("STAGE"), Some("0"), "stage failed:\n{log}");
    assert_eq!(a.boot.marker("END"), Some("reboot"), "{log}");
    assert_eq!(a.entries, ["kateskit_1.efi", "kateskit_2+2-0.efi"]);
    assert_eq!(a.slots, ["kateskit_1", "kateskit_2"]);
}

/// The last boot of a rollback: back on version 1 with no operator, and the node says so.
fn assert_rolled_back(a: &After) {
    assert_booted(a, "1", "kateskit_1.efi", "");
    assert_eq!(a.boot.marker("END"), Some("poweroff"), "{}", a.boot.log);
    assert_eq!(a.entries, ["kateskit_1.efi", "kateskit_2+0-2.efi"]);
    let st = status(a);
    assert_eq!(st["version"], "1", "{st:#}");
    assert_eq!(st["last_upgrade"]["result"], "rolled-back", "{st:#}");
    assert_eq!(st["rolled_back_from"], "2", "{st:#}");
    assert_eq!(st["next_boot"], "kateskit_1.efi", "{st:#}");
}

#[test]
fn systemd_boot_starts_the_blessed_uki_of_slot_a() {
    if !tools() {
        return;
    }
    let mut n = Node::new("plain", None);
    let a = n.boot(BOOT_BOUND);
    // systemd-boot 252 names the entry by its file name; an entry without a counter has no
    // LoaderBootCountPath.
    assert_booted(&a, "1", "kateskit_1.efi", "");
    assert_eq!(a.boot.marker("END"), Some("poweroff"), "{}", a.boot.log);
    assert_eq!(a.entries, ["kateskit_1.efi"]);
    assert_eq!(a.slots, ["kateskit_1", "_empty"]);
}

#[test]
fn a_good_upgrade_boots_b_passes_the_gate_is_committed_and_survives_a_reboot() {
    if !tools() {
        return;
    }
    let mut n = Node::new(
        "good",
        Some(B {
            cmdline: &format!("{CMDLINE} kateskit.test.gate_timeout=60s"),
            node_ready: "True",
        }),
    );
    let boots = n.run(4, BOOT_BOUND);
    assert_eq!(boots.len(), 3, "boots: stage, try and commit, blessed");
    assert_staged(&boots[0]);
    let got = n.files.as_ref().unwrap().requests.lock().unwrap().clone();
    for f in ["SHA256SUMS", "kateskit_2.efi", "kateskit_2.store"] {
        let want = format!("GET /{f} 200");
        assert!(got.contains(&want), "the node never fetched {f}: {got:?}");
    }
    // systemd-boot picks the newest entry with tries left and counts the try before starting
    // it: the id keeps the counter as selected, the count path names the renamed file.
    let t = &boots[1];
    assert_booted(
        t,
        "2",
        "kateskit_2+2-0.efi",
        "\\EFI\\Linux\\kateskit_2+1-1.efi",
    );
    assert_eq!(t.boot.marker("GATE"), Some("0"), "{}", t.boot.log);
    let g = gate(t);
    assert_eq!(g["passed"], true, "{g:#}");
    assert_eq!(g["node"], release::NODE, "{g:#}");
    assert_eq!(g["version"], "2", "the gate read the booted version: {g:#}");
    assert_eq!(check(&g, "node-ready"), "passed", "{g:#}");
    assert_eq!(t.boot.marker("COMMIT"), Some("0"), "{}", t.boot.log);
    assert_eq!(t.entries, ["kateskit_1.efi", "kateskit_2.efi"]);
    let done = &boots[2];
    assert_booted(done, "2", "kateskit_2.efi", "");
    let st = status(done);
    assert_eq!(st["version"], "2", "{st:#}");
    assert_eq!(st["last_upgrade"]["result"], "committed", "{st:#}");
    assert_eq!(done.entries, ["kateskit_1.efi", "kateskit_2.efi"]);
    assert_eq!(done.slots, ["kateskit_1", "kateskit_2"]);
}

#[test]
fn a_failing_gate_runs_the_real_boot_counter_out_and_the_machine_is_back_on_a() {
    if !tools() {
        return;
    }
    // The stand-in API reports the node NotReady on every boot: the gate fails at its timeout.
    let mut n = Node::new(
        "gatefail",
        Some(B {
            cmdline: &format!("{CMDLINE} kateskit.test.gate_timeout=4s"),
            node_ready: "False",
        }),
    );
    let boots = n.run(5, BOOT_BOUND);
    assert_eq!(boots.len(), 4, "boots: stage, two failed tries, A");
    assert_staged(&boots[0]);
    for (i, (sel, path, left)) in [
        (
            "kateskit_2+2-0.efi",
            "\\EFI\\Linux\\kateskit_2+1-1.efi",
            "kateskit_2+1-1.efi",
        ),
        (
            "kateskit_2+1-1.efi",
            "\\EFI\\Linux\\kateskit_2+0-2.efi",
            "kateskit_2+0-2.efi",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let t = &boots[1 + i];
        assert_booted(t, "2", sel, path);
        assert_eq!(t.boot.marker("GATE"), Some("1"), "{}", t.boot.log);
        let g = gate(t);
        assert_eq!(g["passed"], false, "{g:#}");
        assert_eq!(check(&g, "k3s-active"), "passed", "{g:#}");
        assert_eq!(check(&g, "node-ready"), "failed", "{g:#}");
        assert!(
            g.to_string().contains("Ready condition is False"),
            "the gate says why: {g:#}"
        );
        assert_eq!(t.boot.marker("COMMIT"), None, "{}", t.boot.log);
        assert_eq!(t.entries, ["kateskit_1.efi", left]);
    }
    assert_rolled_back(&boots[3]);
}

#[test]
fn a_kernel_panic_in_b_runs_the_counter_out_and_a_boots() {
    if !tools() {
        return;
    }
    // No init to run: the kernel panics before the gate could ever start, and reboots.
    let mut n = Node::new(
        "panic",
        Some(B {
            cmdline: &format!("{CMDLINE} rdinit=/nonexistent"),
            node_ready: "True",
        }),
    );
    let boots = n.run(5, BOOT_BOUND);
    assert_eq!(boots.len(), 4, "boots: stage, two panics, A");
    assert_staged(&boots[0]);
    for (i, left) in ["kateskit_2+1-1.efi", "kateskit_2+0-2.efi"]
        .iter()
        .enumerate()
    {
        let t = &boots[1 + i];
        assert!(t.boot.log.contains("Kernel panic"), "{}", t.boot.log);
        assert_eq!(t.boot.marker("VERSION"), None, "{}", t.boot.log);
        assert_eq!(t.entries, ["kateskit_1.efi", *left]);
    }
    assert_rolled_back(&boots[3]);
}
