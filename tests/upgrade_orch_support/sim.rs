//! The simulated nodes: each answers the rollout protocol annotation as `kateskit node watch`
//! does (fetch, stage, reboot, then a `boot` status), and evicted pods terminate and, when a
//! ReplicaSet owns them, come back on another schedulable Ready node.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{Fault, State};

/// How long a simulated reboot takes (Ready False for this long).
pub const REBOOT: Duration = Duration::from_millis(500);
const TICK: Duration = Duration::from_millis(20);

pub fn spawn(state: Arc<Mutex<State>>, started: Instant) {
    std::thread::spawn(move || loop {
        std::thread::sleep(TICK);
        let Ok(mut st) = state.lock() else { return };
        tick(&mut st, started);
    });
}

fn set_status(n: &mut super::Node, v: Value) {
    n.annotations.insert(
        "upgrade.kateskit.io/status".into(),
        Value::String(v.to_string()),
    );
}

fn tick(st: &mut State, started: Instant) {
    let now = Instant::now();
    let t = started.elapsed().as_secs_f64();
    let mut events = Vec::new();
    let mut hooks = Vec::new();
    for n in st.nodes.values_mut() {
        let req = n
            .annotations
            .get("upgrade.kateskit.io/request")
            .and_then(Value::as_str)
            .map(str::to_string);
        if req.is_some() && req != n.last_request {
            n.last_request.clone_from(&req);
            let r: Value = serde_json::from_str(req.as_deref().unwrap()).unwrap();
            let (rollout, target) = (r["rollout"].clone(), r["version"].clone());
            let action = r["action"].as_str().unwrap_or("").to_string();
            let mut status = json!({"rollout": rollout, "action": action, "state": "done",
                                    "version": n.version, "target": target, "message": ""});
            match action.as_str() {
                "fetch" if n.fault == Fault::FetchFails => {
                    status["state"] = "failed".into();
                    status["message"] = "kateskit_2.store: SHA-256 mismatch".into();
                }
                "reboot" => {
                    n.ready = false;
                    n.reboots += 1;
                    n.boot_at = Some(now + REBOOT);
                    events.push((t, n.name.clone(), "down"));
                    hooks.push(n.name.clone());
                    status["state"] = "running".into();
                }
                _ => {}
            }
            set_status(n, status);
        }
        if n.boot_at.is_some_and(|b| b <= now) && n.fault != Fault::NeverBack {
            n.boot_at = None;
            n.boot_id = format!("{}-boot-{}", n.name, n.reboots);
            n.ready = true;
            events.push((t, n.name.clone(), "up"));
            let r: Value = serde_json::from_str(n.last_request.as_deref().unwrap()).unwrap();
            let target = r["version"].as_str().unwrap().to_string();
            let mut status = json!({"rollout": r["rollout"], "action": "boot", "state": "done",
                                    "target": target, "message": "health gate passed"});
            if n.fault == Fault::GateFails {
                status["state"] = "rolled-back".into();
                status["message"] =
                    "health gate failed: k3s not active; booted the old slot".into();
            } else {
                n.version = target;
            }
            status["version"] = n.version.clone().into();
            set_status(n, status);
        }
    }
    st.events.extend(events);
    for name in hooks {
        if st.on_reboot.as_ref().is_some_and(|(w, _)| *w == name) {
            let (_, f) = st.on_reboot.take().unwrap();
            f();
        }
    }
    // Evicted pods go; ReplicaSet pods come back elsewhere.
    let gone: Vec<usize> = (0..st.pods.len())
        .filter(|&i| st.pods[i].gone_at.is_some_and(|g| g <= now))
        .collect();
    for &i in gone.iter().rev() {
        let mut p = st.pods.remove(i);
        if p.owner == Some("ReplicaSet") {
            let to = st
                .nodes
                .values()
                .find(|n| n.ready && !n.unschedulable && n.name != p.node)
                .map(|n| n.name.clone());
            if let Some(to) = to {
                st.next_uid += 1;
                p.uid = format!("uid-{}", st.next_uid);
                p.name = format!("{}-r{}", p.name.split("-r").next().unwrap(), st.next_uid);
                p.node = to;
                p.gone_at = None;
                st.pods.push(p);
            }
        }
    }
}
