//! The STAND-IN Kubernetes API's node simulator (each Node plays `kateskit node watch`, its
//! kubelet and its boot loader) and its test hooks.

mod upgrade_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use upgrade_support::kubeapi::{self, Fault, Timings, REQUEST};
use upgrade_support::probe::{cluster, ready, start, MERGE};

/// A reboot long enough to be seen by polling on a loaded machine.
fn slow_reboot() -> Timings {
    Timings {
        down: Duration::from_millis(1200),
        ..Timings::default()
    }
}

#[test]
fn a_node_fetches_stages_and_reboots_into_the_new_version() {
    let t = start(cluster().timings(slow_reboot()));
    let (_, n0) = t.get("/api/v1/nodes/a1");
    let boot0 = n0["status"]["nodeInfo"]["bootID"]
        .as_str()
        .unwrap()
        .to_string();
    t.request("a1", "fetch", "2.0");
    let st = t.status_until("a1", |s| s["action"] == "fetch" && s["state"] != "running");
    assert_eq!(
        (
            st["state"].as_str(),
            st["rollout"].as_str(),
            st["target"].as_str()
        ),
        (Some("done"), Some("r1"), Some("2.0")),
        "{st}"
    );
    t.request("a1", "stage", "2.0");
    let st = t.status_until("a1", |s| s["action"] == "stage" && s["state"] != "running");
    assert_eq!(
        (st["state"].as_str(), st["version"].as_str()),
        (Some("done"), Some("1.0")),
        "{st}"
    );
    assert_eq!(t.api.node("a1").staged.as_deref(), Some("2.0"));
    t.request("a1", "reboot", "2.0");
    // Down: Ready goes Unknown (the node monitor), then the node is back with a new bootID.
    let t0 = Instant::now();
    let mut seen = Vec::new();
    let back = loop {
        let (_, n) = t.get("/api/v1/nodes/a1");
        if n["status"]["nodeInfo"]["bootID"] != boot0.as_str() {
            break n;
        }
        let r = ready(&n);
        if seen.last() != Some(&r) {
            seen.push(r);
        }
        assert!(t0.elapsed() < Duration::from_secs(5), "never rebooted: {n}");
        std::thread::sleep(Duration::from_millis(15));
    };
    assert_eq!(seen, ["True", "Unknown"], "Ready before the new boot");
    assert_eq!(ready(&back), "True");
    let st = t.status_until("a1", |s| s["action"] == "boot" && s["state"] != "running");
    assert_eq!(
        (
            st["state"].as_str(),
            st["version"].as_str(),
            st["rollout"].as_str()
        ),
        (Some("done"), Some("2.0"), Some("r1")),
        "{st}"
    );
    let v = t.api.node("a1");
    assert_eq!((v.version.as_str(), v.boots, v.staged), ("2.0", 1, None));
    // The same request stays on the node: taken up once, so no second reboot starts (it
    // would report `reboot` running within a poll).
    // Written again with another key order (a resumed orchestrator), it is the same request.
    let req = json!({"action": "reboot", "version": "2.0", "rollout": "r1",
        "sums_sha256": upgrade_support::probe::SUMS, "source": "https://127.0.0.1:1/rel/"});
    let again = json!({"metadata": {"annotations": {REQUEST: req.to_string()}}});
    assert_eq!(t.patch("a1", MERGE, &again).0, 200);
    std::thread::sleep(Duration::from_millis(300));
    let v = t.api.node("a1");
    let st = kubeapi::status_of(&v).unwrap();
    assert_eq!(
        (st["action"].as_str(), v.boots, v.ready),
        (Some("boot"), 1, true),
        "{st}"
    );
    // Staging the running version is a no-op.
    t.request("a1", "stage", "2.0");
    let st = t.status_until("a1", |s| s["action"] == "stage");
    assert_eq!(
        (st["state"].as_str(), st["message"].as_str()),
        (Some("done"), Some("already running 2.0"))
    );
    assert_eq!(t.api.node("a1").staged, None);
}

#[test]
fn injected_faults_fail_the_step_or_roll_the_node_back() {
    let t = start(
        cluster()
            .agent("a2", "1.0")
            .agent("a3", "1.0")
            .agent("a4", "1.0")
            .agent("a5", "1.0"),
    );
    t.api.inject("a1", Fault::FetchHashMismatch);
    t.api.inject("a2", Fault::GateFails);
    t.api.inject("a3", Fault::NeverReturns);
    t.api.inject("a4", Fault::StageFails);
    t.api.inject("a5", Fault::BootPanics);
    t.request("a1", "fetch", "2.0");
    let st = t.status_until("a1", |s| s["action"] == "fetch" && s["state"] != "running");
    assert_eq!(st["state"], "failed");
    assert!(
        st["message"].as_str().unwrap().contains("sha256 mismatch"),
        "{st}"
    );
    t.request("a4", "stage", "2.0");
    assert_eq!(
        t.status_until("a4", |s| s["action"] == "stage" && s["state"] != "running")["state"],
        "failed"
    );
    assert_eq!(t.api.node("a4").staged, None);
    for n in ["a2", "a3", "a5"] {
        t.request(n, "stage", "2.0");
        t.status_until(n, |s| s["action"] == "stage" && s["state"] == "done");
        t.request(n, "reboot", "2.0");
    }
    // Gate fails: one failed boot of 2.0, then back on 1.0 reporting the rollback.
    let failed = t.status_until("a2", |s| s["action"] == "boot" && s["state"] == "failed");
    assert_eq!(failed["version"], "2.0");
    let st = t.status_until("a2", |s| s["state"] == "rolled-back");
    assert_eq!(
        (st["version"].as_str(), st["target"].as_str()),
        (Some("1.0"), Some("2.0")),
        "{st}"
    );
    let v = t.api.node("a2");
    assert_eq!((v.version.as_str(), v.boots, v.ready), ("1.0", 2, true));
    // A kernel panic: no report from 2.0, back on 1.0 after one visible boot.
    let st = t.status_until("a5", |s| s["state"] == "rolled-back");
    assert_eq!(st["version"], "1.0");
    assert_eq!(t.api.node("a5").boots, 1);
    // Never comes back: Ready stays Unknown, the bootID stays the old one.
    let a3 = t.api.node("a3");
    assert!(!a3.ready && a3.boots == 0, "{a3:?}");
    // A request the watcher cannot read is reported, not acted on.
    let bad = json!({"metadata": {"annotations": {REQUEST: "{\"action\":\"reboot\"}"}}});
    t.patch("s1", MERGE, &bad);
    let st = t.status_until("s1", |s| s["state"] == "failed");
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid upgrade.kateskit.io/request"),
        "{st}"
    );
    assert_eq!(t.api.node("s1").boots, 0);
}

#[test]
fn a_hook_runs_before_the_request_that_set_it_off_is_answered() {
    let t = start(cluster());
    let fired_at = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let f = fired_at.clone();
    let h = t.api.when("s2 cordoned", kubeapi::cordoned("s2"), move || {
        std::thread::sleep(Duration::from_millis(200));
        *f.lock().unwrap() = Some(Instant::now());
    });
    assert!(!h.fired());
    t.patch("s1", MERGE, &json!({"spec": {"unschedulable": true}}));
    assert!(!h.fired(), "another node's cordon");
    t.patch("s2", MERGE, &json!({"spec": {"unschedulable": true}}));
    let answered = Instant::now();
    assert!(h.fired());
    assert!(
        fired_at.lock().unwrap().unwrap() <= answered,
        "the hook ran before the answer"
    );
    // Hooks on the simulator's steps fire too.
    let rebooted = Arc::new(AtomicBool::new(false));
    let r = rebooted.clone();
    t.api.when(
        "s3 back",
        |w| w.node("s3").boots == 1,
        move || r.store(true, Ordering::SeqCst),
    );
    t.request("s3", "reboot", "1.0");
    assert!(t
        .api
        .wait_for(Duration::from_secs(5), |_| rebooted.load(Ordering::SeqCst)));
    assert_eq!(
        t.api.node("s3").version,
        "1.0",
        "a reboot with nothing staged keeps the version"
    );
}

#[test]
fn the_api_is_unreachable_while_the_server_it_goes_through_reboots() {
    let t = start(cluster().api_through("s1").timings(slow_reboot()));
    let boot0 = t.api.node("s1").boot_id;
    t.request("s1", "reboot", "1.0");
    let url = format!("{}/api/v1/nodes/s1", t.api.url());
    let t0 = Instant::now();
    let mut refused = 0;
    while t.api.node("s1").boot_id == boot0 {
        if t.http.get(&url).send().is_err() {
            refused += 1;
        }
        assert!(t0.elapsed() < Duration::from_secs(5), "s1 never came back");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(refused > 3, "requests failed while s1 was off: {refused}");
    assert_eq!(t.get("/api/v1/nodes/s1").0, 200);
    t.api.set_reachable(false);
    assert!(t.http.get(&url).send().is_err());
    t.api.set_reachable(true);
    assert_eq!(t.get("/readyz").0, 200);
}
