//! The node simulator (each Node's `kateskit node watch`, kubelet and boot loader, in one
//! timed plan per node) and the controllers that bring pods back.

use std::collections::VecDeque;
use std::time::Instant;

use serde_json::{json, Value};

use super::world::{now_rfc3339, Pod, World};
use super::{Fault, REQUEST, STATUS};

pub(super) struct NodeSim {
    pub version: String,
    pub staged: Option<String>,
    pub boot_id: String,
    machine_id: String,
    /// The Ready condition's status: "True", or "Unknown" once the node monitor notices.
    ready: &'static str,
    /// lastTransitionTime of Ready.
    pub since: String,
    pub boots: u32,
    pub fault: Fault,
    /// The request annotation's text last taken up (the watcher keeps it across boots).
    handled: Option<String>,
    rollout: Value,
    target: String,
    plan: VecDeque<(Instant, Step)>,
    last_poll: Option<Instant>,
}

enum Step {
    Report(&'static str, &'static str, String),
    Staged(String),
    Down,
    Boot(String),
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl NodeSim {
    pub(super) fn new(version: &str, seed: u64) -> NodeSim {
        NodeSim {
            version: version.into(),
            staged: None,
            boot_id: uuid(),
            machine_id: format!("{seed:032x}"),
            ready: "True",
            since: now_rfc3339(),
            boots: 0,
            fault: Fault::None,
            handled: None,
            rollout: json!(""),
            target: version.into(),
            plan: VecDeque::new(),
            last_poll: None,
        }
    }

    pub(super) fn ready(&self) -> bool {
        self.ready == "True"
    }

    /// The JSON text of `upgrade.kateskit.io/status`.
    pub(super) fn status_text(&self, action: &str, state: &str, message: &str) -> String {
        json!({"rollout": self.rollout, "action": action, "state": state,
            "version": self.version, "target": self.target, "message": message,
            "at": now_rfc3339()})
        .to_string()
    }

    pub(super) fn boot_status_text(&self, state: &str, message: &str) -> String {
        self.status_text("boot", state, message)
    }

    pub(super) fn status_json(&self, address: &str, hostname: &str) -> Value {
        let up = self.ready();
        let (reason, message) = if up {
            ("KubeletReady", "kubelet is posting ready status")
        } else {
            ("NodeStatusUnknown", "Kubelet stopped posting node status.")
        };
        let pressure = |t: &str| {
            json!({"type": t, "status": if up { "False" } else { "Unknown" },
                "lastTransitionTime": self.since})
        };
        json!({
            "conditions": [
                pressure("MemoryPressure"), pressure("DiskPressure"), pressure("PIDPressure"),
                {"type": "Ready", "status": self.ready, "reason": reason, "message": message,
                 "lastHeartbeatTime": self.since, "lastTransitionTime": self.since},
            ],
            "addresses": [{"type": "InternalIP", "address": address},
                          {"type": "Hostname", "address": hostname}],
            "nodeInfo": {
                "bootID": self.boot_id, "machineID": self.machine_id,
                "systemUUID": self.machine_id, "kernelVersion": "6.6.63",
                "osImage": "NixOS 24.11 (Vicuna)", "operatingSystem": "linux",
                "architecture": "amd64", "containerRuntimeVersion": "containerd://1.7.23-k3s2",
                "kubeletVersion": "v1.31.4+k3s1", "kubeProxyVersion": "v1.31.4+k3s1",
            },
        })
    }

    /// Takes up a new request annotation, as the watcher does: plans its steps.
    fn take_up(&mut self, raw: &str, now: Instant, w: &super::Timings) {
        let req: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
        self.rollout = req.get("rollout").cloned().unwrap_or(json!(""));
        let (action, version) = match parse(&req) {
            Ok(x) => x,
            Err(e) => {
                let msg = format!("invalid {REQUEST}: {e}");
                let action = match req.get("action").and_then(Value::as_str) {
                    Some("stage") => "stage",
                    Some("reboot") => "reboot",
                    _ => "fetch",
                };
                self.plan
                    .push_back((now, Step::Report(action, "failed", msg)));
                return;
            }
        };
        self.target = version.clone();
        let mut at = now;
        let mut push = |plan: &mut VecDeque<_>, after, s| {
            at += after;
            plan.push_back((at, s));
        };
        let zero = std::time::Duration::ZERO;
        let mismatch = format!(
            "kateskit_{version}.store: sha256 mismatch (SHA256SUMS says 9f86d081…, the download has e3b0c442…); nothing written"
        );
        let p = &mut self.plan;
        match action {
            "fetch" => {
                push(p, zero, Step::Report("fetch", "running", String::new()));
                let end = match self.fault {
                    Fault::FetchHashMismatch => Step::Report("fetch", "failed", mismatch),
                    _ => Step::Report("fetch", "done", String::new()),
                };
                push(p, w.work, end);
            }
            "stage" if version == self.version => {
                let msg = format!("already running {version}");
                push(p, zero, Step::Report("stage", "done", msg));
            }
            "stage" => {
                push(p, zero, Step::Report("stage", "running", String::new()));
                match self.fault {
                    Fault::FetchHashMismatch => {
                        push(p, w.work, Step::Report("stage", "failed", mismatch))
                    }
                    Fault::StageFails => {
                        let msg = "writing /dev/disk/by-partlabel/_empty: Input/output error (os error 5)";
                        push(p, w.work, Step::Report("stage", "failed", msg.into()));
                    }
                    _ => {
                        push(p, w.work, Step::Staged(version.clone()));
                        push(p, zero, Step::Report("stage", "done", String::new()));
                    }
                }
            }
            _ => {
                let old = self.version.clone();
                let new = self.staged.clone().unwrap_or_else(|| old.clone());
                push(p, zero, Step::Report("reboot", "running", String::new()));
                push(p, w.ready_lag, Step::Down);
                let down = w.down.saturating_sub(w.ready_lag);
                let back = format!("kateskit_{new} ran out of tries; booted {old}");
                match self.fault {
                    Fault::NeverReturns => {}
                    Fault::GateFails if new != old => {
                        push(p, down, Step::Boot(new));
                        let msg = "health gate: k3s.service is not active".to_string();
                        push(p, w.gate, Step::Report("boot", "failed", msg));
                        push(p, w.ready_lag, Step::Down);
                        push(p, down, Step::Boot(old));
                        push(p, w.gate, Step::Report("boot", "rolled-back", back));
                    }
                    Fault::BootPanics if new != old => {
                        push(p, down + w.down, Step::Boot(old));
                        push(p, w.gate, Step::Report("boot", "rolled-back", back));
                    }
                    _ => {
                        push(p, down, Step::Boot(new));
                        push(p, w.gate, Step::Report("boot", "done", String::new()));
                    }
                }
            }
        }
    }
}

/// (action, version) of a request annotation, or what is wrong with it.
fn parse(req: &Value) -> Result<(&'static str, String), String> {
    let s = |k: &str| {
        req.get(k)
            .and_then(Value::as_str)
            .ok_or(format!("`{k}` must be a string"))
    };
    s("rollout")?;
    s("source")?;
    let sums = s("sums_sha256")?;
    if sums.len() != 64 || !sums.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("`sums_sha256` must be 64 hex digits".into());
    }
    let version = s("version")?;
    let ok = (1..=64).contains(&version.len())
        && version.starts_with(|c: char| c.is_ascii_alphanumeric())
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".~^-".contains(c));
    if !ok {
        return Err(format!("version {version:?} is not a valid VERSION"));
    }
    let action = match s("action")? {
        "fetch" => "fetch",
        "stage" => "stage",
        "reboot" => "reboot",
        other => return Err(format!("unknown action {other:?}")),
    };
    Ok((action, version.into()))
}

/// Advances every node and controller to `now`; true when anything changed.
pub(super) fn tick(w: &mut World, now: Instant) -> bool {
    let mut changed = false;
    let names: Vec<String> = w.nodes.keys().cloned().collect();
    for name in &names {
        loop {
            let n = w.nodes.get_mut(name).unwrap();
            let due = n.sim.plan.front().is_some_and(|(t, _)| *t <= now);
            if !due {
                break;
            }
            let (_, step) = n.sim.plan.pop_front().unwrap();
            apply(w, name, step);
            changed = true;
        }
        let timings = w.timings;
        let n = w.nodes.get_mut(name).unwrap();
        let polled = n.sim.last_poll.is_some_and(|t| now < t + timings.poll);
        if !n.sim.plan.is_empty() || !n.sim.ready() || polled {
            continue;
        }
        n.sim.last_poll = Some(now);
        if let Some(raw) = n.annotations.get(REQUEST).cloned() {
            if n.sim.handled.as_deref() != Some(raw.as_str()) {
                n.sim.handled = Some(raw.clone());
                n.sim.take_up(&raw, now, &timings);
            }
        }
    }
    changed | controllers(w, now)
}

fn apply(w: &mut World, name: &str, step: Step) {
    let rv = w.bump();
    let n = w.nodes.get_mut(name).unwrap();
    n.rv = rv;
    match step {
        Step::Report(action, state, msg) => {
            let text = n.sim.status_text(action, state, &msg);
            n.annotations.insert(STATUS.into(), text);
        }
        Step::Staged(v) => n.sim.staged = Some(v),
        Step::Down => {
            n.sim.ready = "Unknown";
            n.sim.since = now_rfc3339();
        }
        Step::Boot(v) => {
            n.sim.version = v;
            n.sim.staged = None;
            n.sim.boot_id = uuid();
            n.sim.boots += 1;
            n.sim.ready = "True";
            n.sim.since = now_rfc3339();
            let text = n.sim.boot_status_text("running", "");
            n.annotations.insert(STATUS.into(), text);
        }
    }
}

/// Removes pods whose grace is over; ReplicaSets, DaemonSets and kubelets (mirror pods)
/// replace what is missing; Pending pods go to a schedulable Ready node.
fn controllers(w: &mut World, now: Instant) -> bool {
    let gone: Vec<_> = w
        .pods
        .iter()
        .filter(|(_, p)| p.deleting.as_ref().is_some_and(|(t, _)| *t <= now))
        .map(|(k, _)| k.clone())
        .collect();
    let mut changed = !gone.is_empty();
    for k in gone {
        let p = w.pods.remove(&k).unwrap();
        if p.annotations.contains_key(super::MIRROR) {
            let mut again = Pod::new(w, &p.ns, &p.name, p.node.clone(), p.labels.clone(), None);
            again.annotations = p.annotations.clone();
            again.ready_at = Some(now + w.timings.reschedule);
            w.insert_pod(again);
        }
    }
    for c in w.controllers.clone() {
        let active: Vec<Pod> = w
            .pods
            .values()
            .filter(|p| p.deleting.is_none() && p.owner.as_ref().is_some_and(|o| o.uid == c.uid))
            .cloned()
            .collect();
        if c.kind == "DaemonSet" {
            let nodes: Vec<String> = w.nodes.keys().cloned().collect();
            for node in nodes
                .into_iter()
                .filter(|n| !active.iter().any(|p| &p.node == n))
            {
                let mut p = w.controller_pod(&c, node);
                p.ready_at = Some(now + w.timings.reschedule);
                w.insert_pod(p);
                changed = true;
            }
        } else {
            for _ in active.len()..c.replicas as usize {
                let mut p = w.controller_pod(&c, String::new());
                p.ready_at = None;
                w.insert_pod(p);
                changed = true;
            }
        }
    }
    let pending: Vec<_> = w
        .pods
        .iter()
        .filter(|(_, p)| p.node.is_empty() && p.deleting.is_none())
        .map(|(k, _)| k.clone())
        .collect();
    for k in pending {
        let owner = w.pods[&k].owner.as_ref().map(|o| o.uid.clone());
        let count = |node: &str| {
            let mine =
                |p: &&Pod| p.node == node && p.owner.as_ref().map(|o| &o.uid) == owner.as_ref();
            w.pods.values().filter(mine).count()
        };
        let best = w
            .nodes
            .values()
            .filter(|n| !n.unschedulable && n.sim.ready())
            .min_by_key(|n| (count(&n.name), n.name.clone()))
            .map(|n| n.name.clone());
        if let Some(node) = best {
            let rv = w.bump();
            let p = w.pods.get_mut(&k).unwrap();
            p.node = node;
            p.ready_at = Some(now + w.timings.reschedule);
            p.rv = rv;
            changed = true;
        }
    }
    changed
}
