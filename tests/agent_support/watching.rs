//! The upgrade watcher under test as a child process (stopped by its handle), a STAND-IN
//! `kateskit node` (a script that logs its calls, fails a stage on request and answers
//! `status --json` with what the test put in `AUX/status.json`), and readers of what the
//! watcher patched onto the stand-in API's Node.

use std::os::unix::fs::PermissionsExt;
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::gate::GateNode;

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

pub const SUMS: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

pub struct Watcher(Child);

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn node() -> GateNode {
    let mut n = GateNode::new("agent", "s1", "server: https://192.0.2.10:6443\n");
    let cmd = n.aux().join("node-cmd");
    std::fs::write(&cmd, NODE_CMD).unwrap();
    std::fs::set_permissions(&cmd, std::fs::Permissions::from_mode(0o755)).unwrap();
    n.setenv("KATESKIT_NODE_CMD", cmd.to_str().unwrap());
    n
}

pub fn watch(n: &GateNode) -> Watcher {
    Watcher(
        n.command(&["node", "watch", "--interval", "200ms"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    )
}

pub fn request(n: &GateNode, rollout: &str, action: &str) {
    let r = json!({"rollout": rollout, "version": "3", "source": "https://192.0.2.5/release/",
        "sums_sha256": SUMS, "action": action});
    n.api
        .nodes
        .lock()
        .unwrap()
        .annotate("s1", "upgrade.kateskit.io/request", &r.to_string());
}

/// The statuses the watcher patched onto the Node, in order.
pub fn statuses(n: &GateNode) -> Vec<Value> {
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

pub fn steps(n: &GateNode) -> Vec<(String, String)> {
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
pub fn wait_for(n: &GateNode, action: &str, state: &str) -> Value {
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

pub fn log(n: &GateNode, name: &str) -> Vec<String> {
    std::fs::read_to_string(n.aux().join(name))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

pub fn stages(n: &GateNode) -> Vec<String> {
    log(n, "node.log")
        .into_iter()
        .filter(|l| l.starts_with("stage"))
        .collect()
}

pub fn reboots(n: &GateNode) -> usize {
    n.systemctl_calls()
        .iter()
        .filter(|c| *c == "reboot")
        .count()
}
