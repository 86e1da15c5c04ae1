//! `kateskit node watch`, the node's side of a rollout, against the k3s API STAND-IN (not
//! Kubernetes; it records every PATCH of the Node), a stand-in `kateskit node` (a script that
//! logs its calls, fails a stage on request and answers `status --json` with what the test
//! put there) and a stand-in systemctl. The watcher runs as a child process and is stopped by
//! its handle; every wait is bounded.

mod agent_support;

use std::time::Duration;

use agent_support::watching::{node, request};
use agent_support::watching::{reboots, stages, statuses, steps, wait_for, watch, SUMS};
use serde_json::json;

#[test]
fn each_step_runs_once_and_reports_running_then_done() {
    let n = node();
    let _w = watch(&n);
    // First the boot: a committed entry with no gate this boot.
    let boot = wait_for(&n, "boot", "done");
    assert_eq!(boot["version"], "2");
    request(&n, "r1", "fetch");
    let fetched = wait_for(&n, "fetch", "done");
    assert_eq!(
        (fetched["rollout"].as_str(), fetched["target"].as_str()),
        (Some("r1"), Some("3"))
    );
    assert_eq!(fetched["message"], "staged 3 into slot 2");
    request(&n, "r1", "stage");
    wait_for(&n, "stage", "done");
    request(&n, "r1", "reboot");
    wait_for(&n, "reboot", "running");
    // Several more polls of the same request.
    std::thread::sleep(Duration::from_millis(1500));
    let state = n.path("var/lib/kateskit/upgrade");
    assert_eq!(
        stages(&n),
        [
            format!(
                "stage https://192.0.2.5/release/ --sums-sha256 {SUMS} --fetch-only --state {}",
                state.display()
            ),
            format!(
                "stage https://192.0.2.5/release/ --sums-sha256 {SUMS} --state {}",
                state.display()
            ),
        ]
    );
    assert_eq!(reboots(&n), 1);
    let want: Vec<(String, String)> = [
        ("boot", "done"),
        ("fetch", "running"),
        ("fetch", "done"),
        ("stage", "running"),
        ("stage", "done"),
        ("reboot", "running"),
    ]
    .iter()
    .map(|(a, s)| (a.to_string(), s.to_string()))
    .collect();
    assert_eq!(steps(&n), want);
    for s in statuses(&n) {
        assert!(s["at"].as_str().unwrap().contains('T'), "{s}");
    }
}

#[test]
fn a_restart_does_not_repeat_a_step_and_the_next_boot_is_reported_once() {
    let n = node();
    let w = watch(&n);
    wait_for(&n, "boot", "done");
    request(&n, "r1", "reboot");
    wait_for(&n, "reboot", "running");
    drop(w);
    let before = statuses(&n).len();
    // The watcher restarts on the same boot: nothing is repeated.
    let w = watch(&n);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(reboots(&n), 1);
    assert_eq!(statuses(&n).len(), before, "{:?}", steps(&n));
    drop(w);
    // The machine comes back on version 3 from a counted entry; the gate passes; commit ran.
    n.set_boot_id("boot-2");
    n.booted(
        "kateskit_3+3-0.efi",
        Some("\\EFI\\Linux\\kateskit_3+2-1.efi"),
    );
    let (out, _) = n.health("10s");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    std::fs::write(
        n.aux().join("status.json"),
        json!({"version": "3", "booted_entry": "kateskit_3.efi", "entries": [
            {"name": "kateskit_3.efi", "version": "3", "state": "good"},
            {"name": "kateskit_2.efi", "version": "2", "state": "good"}]})
        .to_string(),
    )
    .unwrap();
    let _w = watch(&n);
    let boot = wait_for(&n, "boot", "done");
    assert_eq!(
        (
            boot["rollout"].as_str(),
            boot["version"].as_str(),
            boot["target"].as_str()
        ),
        (Some("r1"), Some("3"), Some("3"))
    );
    assert!(
        boot["message"].as_str().unwrap().contains("committed"),
        "{boot}"
    );
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        reboots(&n),
        1,
        "the reboot request is still on the Node; it is not repeated"
    );
    assert_eq!(steps(&n).iter().filter(|s| s.0 == "boot").count(), 2);
}

#[test]
fn a_failed_stage_reports_failed_with_the_message() {
    let n = node();
    std::fs::write(n.aux().join("stage-fail"), "").unwrap();
    let _w = watch(&n);
    wait_for(&n, "boot", "done");
    request(&n, "r2", "stage");
    let s = wait_for(&n, "stage", "failed");
    let msg = s["message"].as_str().unwrap();
    assert!(
        msg.contains("SHA-256 does not match") && msg.contains("nothing was written"),
        "{msg}"
    );
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        stages(&n).len(),
        1,
        "a failed step is not retried within the rollout"
    );
}

#[test]
fn a_boot_back_on_the_old_slot_reports_rolled_back() {
    let n = node();
    // The entry of 3 ran out of tries; the loader booted the committed 2.
    n.booted("kateskit_2.efi", None);
    std::fs::write(
        n.aux().join("status.json"),
        json!({"version": "2", "booted_entry": "kateskit_2.efi", "rolled_back_from": null, "entries": [
            {"name": "kateskit_3+0-3.efi", "version": "3", "state": "bad"},
            {"name": "kateskit_2.efi", "version": "2", "state": "good"}]}).to_string(),
    )
    .unwrap();
    request(&n, "r3", "reboot");
    // The watcher already did the reboot step on the boot before.
    std::fs::create_dir_all(n.path("var/lib/kateskit/upgrade")).unwrap();
    std::fs::write(
        n.path("var/lib/kateskit/upgrade/watch.json"),
        json!({"steps": {"r3": ["reboot"]}, "order": ["r3"], "running": ["r3", "reboot"]})
            .to_string(),
    )
    .unwrap();
    let _w = watch(&n);
    let s = wait_for(&n, "boot", "rolled-back");
    assert_eq!(
        (s["rollout"].as_str(), s["version"].as_str()),
        (Some("r3"), Some("2"))
    );
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("3 ran out of tries"),
        "{s}"
    );
    assert_eq!(reboots(&n), 0);
}

#[test]
fn a_failed_gate_on_this_boot_reports_failed() {
    let n = node();
    n.set_k3s("failed");
    let (out, _) = n.health("1s");
    assert_eq!(out.status.code(), Some(1));
    std::fs::write(
        n.aux().join("status.json"),
        json!({"version": "2", "booted_entry": "kateskit_2+1-1.efi", "entries": [
            {"name": "kateskit_2+1-1.efi", "version": "2", "state": "trying"}]})
        .to_string(),
    )
    .unwrap();
    let _w = watch(&n);
    let s = wait_for(&n, "boot", "failed");
    let msg = s["message"].as_str().unwrap();
    assert!(
        msg.contains("health gate failed") && msg.contains("k3s.service is failed"),
        "{msg}"
    );
}

#[test]
fn the_real_node_stage_runs_as_a_child_and_its_refusal_is_reported() {
    let mut n = node();
    // No stand-in: the watcher runs this build's own `kateskit node stage`. The release does
    // not exist, so stage refuses before it looks at any disk.
    n.env.retain(|(k, _)| k != "KATESKIT_NODE_CMD");
    let missing = n.aux().join("no-such-release");
    let r = json!({"rollout": "r5", "version": "3", "source": missing.to_str().unwrap(),
        "sums_sha256": SUMS, "action": "stage"});
    n.api
        .nodes
        .lock()
        .unwrap()
        .annotate("s1", "upgrade.kateskit.io/request", &r.to_string());
    let _w = watch(&n);
    let s = wait_for(&n, "stage", "failed");
    let msg = s["message"].as_str().unwrap();
    assert!(
        msg.contains("kateskit node stage failed") && msg.contains("no-such-release"),
        "{msg}"
    );
}
