//! `kateskit upgrade` against a STAND-IN Kubernetes API with simulated nodes
//! (tests/upgrade_orch_support: it is not Kubernetes): ordering and concurrency, cordon and
//! uncordon, PDB-blocked drains, a failed health gate, resume after the orchestrator is killed,
//! the single-control-plane rule, dry run, the no-op and a damaged release.

mod upgrade_orch_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::Digest;
use upgrade_orch_support::{Fault, StandIn};

fn kateskit() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("kateskit"))
}

struct Lab {
    _tmp: tempfile::TempDir,
    cluster: PathBuf,
    release: PathBuf,
    api: StandIn,
}

/// A cluster directory, release `2` in a directory, and the stand-in API with nodes on `1`.
fn lab(servers: usize, agents: usize) -> Lab {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = tmp.path().join("c");
    let out = kateskit()
        .args(["-q", "cluster", "init"])
        .arg(&cluster)
        .args(["--name", "lab"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let release = tmp.path().join("release");
    std::fs::create_dir(&release).unwrap();
    let mut sums = String::new();
    for (name, body) in [
        ("kateskit_2.efi", &b"uki two"[..]),
        ("kateskit_2.store", b"store two"),
    ] {
        std::fs::write(release.join(name), body).unwrap();
        sums.push_str(&format!(
            "{}  {name}\n",
            hex::encode(sha2::Sha256::digest(body))
        ));
    }
    std::fs::write(release.join("SHA256SUMS"), sums).unwrap();
    let api = StandIn::start(&cluster, servers, agents, "1");
    Lab {
        _tmp: tmp,
        cluster,
        release,
        api,
    }
}

impl Lab {
    fn cmd(&self, extra: &[&str]) -> Command {
        let mut c = kateskit();
        c.arg("upgrade")
            .arg("--cluster")
            .arg(&self.cluster)
            .arg("--to")
            .arg(&self.release)
            .args(["--server", &self.api.url()])
            .args(extra);
        if !extra.contains(&"--reboot-timeout") {
            c.args(["--reboot-timeout", "20s"]);
        }
        c
    }

    fn upgrade(&self, extra: &[&str]) -> Output {
        self.cmd(extra).output().unwrap()
    }

    fn journal(&self) -> serde_json::Value {
        let p = self.cluster.join("upgrade/journal.json");
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// (start, end) of each node's downtime from the stand-in's events.
fn downtimes(api: &StandIn, node: &str) -> Vec<(f64, f64)> {
    let st = api.state.lock().unwrap();
    let mut out = Vec::new();
    let mut down = None;
    for (t, n, what) in &st.events {
        if n == node {
            match *what {
                "down" => down = Some(*t),
                _ => out.push((down.take().unwrap(), *t)),
            }
        }
    }
    out
}

fn overlap(a: (f64, f64), b: (f64, f64)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

#[test]
fn servers_one_at_a_time_then_agents_two_at_a_time() {
    let lab = lab(3, 2);
    lab.api.add_pod(
        "default",
        "web-1",
        "a1",
        &[("app", "web")],
        Some("ReplicaSet"),
    );
    lab.api
        .add_pod("kube-system", "proxy-a1", "a1", &[], Some("DaemonSet"));
    let out = lab.upgrade(&["--concurrency", "2", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["outcome"], "done", "{v}");
    assert_eq!(
        v["batches"],
        serde_json::json!([["s1"], ["s2"], ["s3"], ["a1", "a2"]])
    );
    for n in ["s1", "s2", "s3", "a1", "a2"] {
        let node = lab.api.node(n);
        assert_eq!(node.version, "2", "{n}");
        assert_eq!(node.reboots, 1, "{n}");
        assert!(!node.unschedulable, "{n} uncordoned");
        assert!(!node
            .annotations
            .contains_key("upgrade.kateskit.io/cordoned-by"));
    }
    let s: Vec<_> = ["s1", "s2", "s3"]
        .iter()
        .map(|n| downtimes(&lab.api, n)[0])
        .collect();
    assert!(
        !overlap(s[0], s[1]) && !overlap(s[1], s[2]) && !overlap(s[0], s[2]),
        "{s:?}"
    );
    assert!(
        s[0].1 <= s[1].0 && s[1].1 <= s[2].0,
        "servers in name order: {s:?}"
    );
    let (a1, a2) = (downtimes(&lab.api, "a1")[0], downtimes(&lab.api, "a2")[0]);
    assert!(
        overlap(a1, a2),
        "agents overlap with --concurrency 2: {a1:?} {a2:?}"
    );
    assert!(a1.0 >= s[2].1 && a2.0 >= s[2].1, "agents after servers");
    let st = lab.api.state.lock().unwrap();
    assert!(st.bad_evictions.is_empty(), "{:?}", st.bad_evictions);
    assert!(st
        .log
        .iter()
        .any(|l| l.path == "/api/v1/namespaces/default/pods/web-1/eviction"));
    // Every node fetched before the first cordon.
    let first_cordon = st
        .log
        .iter()
        .position(|l| l.body.contains("\"unschedulable\":true"))
        .unwrap();
    let fetches = st
        .log
        .iter()
        .take(first_cordon)
        .filter(|l| l.body.contains("fetch"))
        .count();
    assert_eq!(fetches, 5);
    drop(st);
    let j = lab.journal();
    assert_eq!(j["outcome"], "done");
    assert_eq!(j["version"], "2");
    assert!(j["records"].as_array().unwrap().len() >= 5 * 6);
}

#[test]
fn a_pdb_that_never_frees_stops_the_rollout_and_uncordons() {
    let lab = lab(3, 1);
    lab.api
        .add_pod("shop", "db-0", "s1", &[("app", "db")], Some("ReplicaSet"));
    lab.api.add_pdb("shop", "db-pdb", &[("app", "db")], 1);
    let t0 = Instant::now();
    let out = lab.upgrade(&["--drain-timeout", "3s"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        t0.elapsed() >= Duration::from_secs(3),
        "waited for the drain timeout"
    );
    assert!(
        all.contains("shop/db-pdb") && all.contains("shop/db-0"),
        "{all}"
    );
    assert!(all.contains("uncordoned"), "{all}");
    let st = lab.api.state.lock().unwrap();
    let refused = st
        .log
        .iter()
        .filter(|l| l.path.ends_with("/eviction") && l.status == 429)
        .count();
    assert!(refused >= 2, "evictions retried: {refused}");
    drop(st);
    assert!(!lab.api.node("s1").unschedulable);
    for n in ["s2", "s3", "a1"] {
        let node = lab.api.node(n);
        assert_eq!(
            (node.reboots, node.unschedulable),
            (0, false),
            "{n} untouched"
        );
    }
    let j = lab.journal();
    assert_eq!(j["outcome"], "failed");
    assert_eq!(j["nodes"]["s1"]["step"], "failed");
    assert_eq!(j["nodes"]["s2"]["step"], "fetched");
}

#[test]
fn a_failed_health_gate_stops_the_rollout() {
    let lab = lab(3, 1);
    lab.api.fault("s2", Fault::GateFails);
    let out = lab.upgrade(&[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("s2 rolled back to 1"), "{all}");
    assert_eq!(lab.api.node("s1").version, "2");
    let s2 = lab.api.node("s2");
    assert_eq!((s2.version.as_str(), s2.unschedulable), ("1", false));
    for n in ["s3", "a1"] {
        assert_eq!(lab.api.node(n).reboots, 0, "{n} not started");
    }
}

#[test]
fn a_node_that_never_returns_stays_cordoned_and_says_why() {
    let lab = lab(3, 0);
    lab.api.fault("s1", Fault::NeverBack);
    let out = lab.upgrade(&["--reboot-timeout", "2s"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("stays cordoned"), "{all}");
    assert!(lab.api.node("s1").unschedulable);
    assert_eq!(lab.api.node("s2").reboots, 0);
}

/// Starts the orchestrator, SIGKILLs it when `hook` fires (installed by `arm`), reruns it.
fn kill_and_resume(arm: impl FnOnce(&Lab, Box<dyn FnOnce() + Send>)) -> Lab {
    let lab = lab(3, 2);
    let child = Arc::new(Mutex::new(
        lab.cmd(&[])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    ));
    let c2 = child.clone();
    arm(
        &lab,
        Box::new(move || {
            let _ = c2.lock().unwrap().kill();
        }),
    );
    let t0 = Instant::now();
    while child.lock().unwrap().try_wait().unwrap().is_none() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "orchestrator was not killed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(lab.api.node("s1").version, "2");
    assert!(
        lab.api.node("s2").unschedulable,
        "killed while s2 was cordoned"
    );
    assert_eq!(lab.journal()["outcome"], "running");
    let rollout = lab.journal()["rollout"].clone();
    let out = lab.upgrade(&["--concurrency", "2"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("resuming rollout"), "{}", text(&out));
    assert_eq!(lab.journal()["rollout"], rollout);
    for n in ["s1", "s2", "s3", "a1", "a2"] {
        let node = lab.api.node(n);
        assert_eq!(
            (node.version.as_str(), node.reboots, node.unschedulable),
            ("2", 1, false),
            "{n}"
        );
    }
    lab
}

#[test]
fn a_killed_orchestrator_resumes_without_rebooting_twice() {
    kill_and_resume(|lab, kill| {
        lab.api.state.lock().unwrap().on_cordon = Some(("s2".into(), kill));
    });
}

#[test]
fn killed_mid_reboot_the_rerun_waits_instead_of_rebooting_again() {
    kill_and_resume(|lab, kill| {
        lab.api.state.lock().unwrap().on_reboot = Some(("s2".into(), kill));
    });
}

#[test]
fn a_single_control_plane_is_refused_unless_forced() {
    let lab = lab(1, 1);
    let out = lab.upgrade(&[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("only control-plane node") && all.contains("--force"),
        "{all}"
    );
    assert!(lab.api.writes().is_empty(), "refused before any write");
    let out = lab.upgrade(&["--force"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(lab.api.node("s1").version, "2");
    assert_eq!(lab.api.node("a1").version, "2");
}

#[test]
fn a_dry_run_prints_the_plan_and_writes_nothing() {
    let lab = lab(3, 2);
    lab.api
        .add_pod("shop", "db-0", "a2", &[("app", "db")], Some("ReplicaSet"));
    lab.api.add_pdb("shop", "db-pdb", &[("app", "db")], 1);
    lab.api
        .state
        .lock()
        .unwrap()
        .nodes
        .get_mut("a1")
        .unwrap()
        .annotations
        .insert(
            "upgrade.kateskit.io/status".into(),
            serde_json::Value::String(r#"{"action":"boot","state":"done","version":"2"}"#.into()),
        );
    let out = lab.upgrade(&["--dry-run", "--concurrency", "2"]);
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains("batch 1: s1") && all.contains("batch 4: a2"),
        "{all}"
    );
    assert!(all.contains("skip a1: already running 2"), "{all}");
    assert!(all.contains("shop/db-pdb"), "{all}");
    assert!(lab.api.writes().is_empty(), "{:?}", lab.api.writes());
    assert!(!lab.cluster.join("upgrade").exists());
}

#[test]
fn the_running_version_is_a_no_op() {
    let lab = lab(3, 0);
    for n in lab.api.state.lock().unwrap().nodes.values_mut() {
        n.annotations.insert(
            "upgrade.kateskit.io/status".into(),
            serde_json::Value::String(r#"{"action":"boot","state":"done","version":"2"}"#.into()),
        );
    }
    let out = lab.upgrade(&[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("already running 2"), "{}", text(&out));
    assert!(lab.api.writes().is_empty());
}

#[test]
fn a_mis_hashed_release_is_refused_before_the_api_is_asked() {
    let lab = lab(3, 0);
    std::fs::write(lab.release.join("kateskit_2.store"), b"store tw").unwrap();
    let out = lab.upgrade(&[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("kateskit_2.store") && all.contains("SHA-256"),
        "{all}"
    );
    assert!(lab.api.state.lock().unwrap().log.is_empty());
}

#[test]
fn another_release_while_one_is_unfinished_needs_abandon() {
    let lab = lab(3, 0);
    lab.api.fault("s1", Fault::GateFails);
    assert_eq!(lab.upgrade(&[]).status.code(), Some(1));
    let other = lab.release.with_file_name("release3");
    std::fs::create_dir(&other).unwrap();
    let mut sums = String::new();
    for (name, body) in [
        ("kateskit_3.efi", &b"uki"[..]),
        ("kateskit_3.store", b"store"),
    ] {
        std::fs::write(other.join(name), body).unwrap();
        sums.push_str(&format!(
            "{}  {name}\n",
            hex::encode(sha2::Sha256::digest(body))
        ));
    }
    std::fs::write(other.join("SHA256SUMS"), sums).unwrap();
    let run = |extra: &[&str]| {
        kateskit()
            .arg("upgrade")
            .arg("--cluster")
            .arg(&lab.cluster)
            .arg("--to")
            .arg(&other)
            .args(["--server", &lab.api.url(), "--dry-run"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("--abandon"), "{}", text(&out));
    assert!(run(&["--abandon"]).status.success());
    let _: &Path = &lab.cluster;
}

#[test]
fn a_node_cordoned_by_an_operator_stays_cordoned() {
    let lab = lab(3, 1);
    lab.api
        .state
        .lock()
        .unwrap()
        .nodes
        .get_mut("a1")
        .unwrap()
        .unschedulable = true;
    let out = lab.upgrade(&[]);
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains("a1 is already cordoned by someone else"),
        "{all}"
    );
    assert!(all.contains("a1: left cordoned"), "{all}");
    let a1 = lab.api.node("a1");
    assert_eq!((a1.version.as_str(), a1.unschedulable), ("2", true));
    assert!(!a1
        .annotations
        .contains_key("upgrade.kateskit.io/cordoned-by"));
    assert!(!lab.api.node("s1").unschedulable);
}
