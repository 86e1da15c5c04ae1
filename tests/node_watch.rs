//! `kateskit node watch`, the node's side of a rollout, against the k3s API STAND-IN (not
//! Kubernetes; it records every PATCH of the Node), a stand-in `kateskit node` (a script that
//! logs its calls, fails a stage on request and answers `status --json` with what the test
//! put there) and a stand-in systemctl. The watcher runs as a child process and is stopped by
//! its handle; every wait is bounded.

mod agent_support;

use std::os::unix::fs::PermissionsExt;
use std::process::Child;
use std::time::{Duration, Instant};

use agent_support::gate::GateNode;
use serde_json::{json, Value};

const NODE_CMD: &str = r#"#!/bin/sh
echo "$*" >> "$AUX/node.log"
case "$1" in
  stage)
    if [ -e "$AUX/stage-fail" ]; then
      echo "kateskit_3.store: SHA-256 does not match SHA256SUMS; nothing was written" >&2
      exit 1
    fi
    echo "staged 3 into slot 2";;
  status)
    [ -e "$AUX/status.json" ] || exit 1
    cat "$AUX/status.json";;
esac
"#;

const SUMS: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

struct Watcher(Child);

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn node() -> GateNode {
    let mut n = GateNode::new("agent", "s1", "server: https://192.0.2.10:6443\n");
    let cmd = n.aux().join("node-cmd");
    std::fs::write(&cmd, NODE_CMD).unwrap();
    std::fs::set_permissions(&cmd, std::fs::Permissions::from_mode(0o755)).unwrap();
    n.setenv("KATESKIT_NODE_CMD", cmd.to_str().unwrap());
    n
}

fn watch(n: &GateNode) -> Watcher {
    Watcher(
        n.command(&["node", "watch", "--interval", "200ms"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn request(n: &GateNode, rollout: &str, action: &str) {
    let r = json!({"rollout": rollout, "version": "3", "source": "https://192.0.2.5/release/",
        "sums_sha256": SUMS, "action": action});
    n.api
        .nodes
        .lock()
        .unwrap()
        .annotate("s1", "upgrade.kateskit.io/request", &r.to_string());
}

/// The statuses the watcher patched onto the Node, in order.
fn statuses(n: &GateNode) -> Vec<Value> {
    n.api
        .nodes
        .lock()
        .unwrap()
        .patches
        .iter()
        .map(|(name, p)| {
            assert_eq!(name, "s1");
            let keys: Vec<&String> = p["metadata"]["annotations"]
                .as_object()
                .unwrap()
                .keys()
                .collect();
            assert_eq!(
                keys,
                ["upgrade.kateskit.io/status"],
                "the watcher patches only its status"
            );
            serde_json::from_str(
                p["metadata"]["annotations"]["upgrade.kateskit.io/status"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap()
        })
        .collect()
}

fn steps(n: &GateNode) -> Vec<(String, String)> {
    statuses(n)
        .iter()
        .map(|s| {
            (
                s["action"].as_str().unwrap().into(),
                s["state"].as_str().unwrap().into(),
            )
        })
        .collect()
}

/// Waits (at most 20 s) until the last status is `action`/`state`.
fn wait_for(n: &GateNode, action: &str, state: &str) -> Value {
    let t0 = Instant::now();
    loop {
        if let Some(s) = statuses(n).last() {
            if s["action"] == action && s["state"] == state {
                return s.clone();
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "no {action}/{state}; saw {:?}",
            steps(n)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn log(n: &GateNode, name: &str) -> Vec<String> {
    std::fs::read_to_string(n.aux().join(name))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn stages(n: &GateNode) -> Vec<String> {
    log(n, "node.log")
        .into_iter()
        .filter(|l| l.starts_with("stage"))
        .collect()
}

fn reboots(n: &GateNode) -> usize {
    n.systemctl_calls()
        .iter()
        .filter(|c| *c == "reboot")
        .count()
}

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
