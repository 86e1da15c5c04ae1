//! `kateskit upgrade` against the STAND-IN Kubernetes API with simulated nodes
//! (tests/upgrade_support/kubeapi: it is not Kubernetes): ordering and concurrency, cordon and
//! uncordon, PDB-blocked drains, failed fetch and health gate, resume after the orchestrator is
//! killed, the single-control-plane rule, dry run, the no-op and a damaged release.

mod upgrade_support;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::Digest;
use upgrade_support::kubeapi::{self, Fault, KubeApi, Scenario};

fn kateskit() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("kateskit"))
}

struct Lab {
    cluster: tempfile::TempDir,
    _tmp: tempfile::TempDir,
    release: PathBuf,
    api: KubeApi,
}

/// A release directory for `version` (SHA256SUMS over a UKI and a store image).
fn release(dir: &std::path::Path, version: &str) -> PathBuf {
    let d = dir.join(format!("release-{version}"));
    std::fs::create_dir(&d).unwrap();
    let mut sums = String::new();
    for ext in ["efi", "store"] {
        let name = format!("kateskit_{version}.{ext}");
        let body = format!("{ext} of {version}");
        std::fs::write(d.join(&name), &body).unwrap();
        let h = hex::encode(sha2::Sha256::digest(body.as_bytes()));
        sums.push_str(&format!("{h}  {name}\n"));
    }
    std::fs::write(d.join("SHA256SUMS"), sums).unwrap();
    d
}

/// Servers s1.., agents a1.., all on 1.0; the release is 2.0.
fn nodes(servers: usize, agents: usize) -> Scenario {
    let mut s = Scenario::new();
    for i in 1..=servers {
        s = s.server(&format!("s{i}"), "1.0");
    }
    for i in 1..=agents {
        s = s.agent(&format!("a{i}"), "1.0");
    }
    s
}

fn lab(scenario: Scenario) -> Lab {
    let cluster = kubeapi::cluster_dir();
    let tmp = tempfile::tempdir().unwrap();
    let release = release(tmp.path(), "2.0");
    let api = KubeApi::start(cluster.path(), scenario);
    Lab {
        cluster,
        _tmp: tmp,
        release,
        api,
    }
}

impl Lab {
    fn cmd(&self, extra: &[&str]) -> Command {
        let mut c = kateskit();
        c.arg("upgrade")
            .arg("--cluster")
            .arg(self.cluster.path())
            .arg("--to")
            .arg(&self.release)
            .args(["--server", &self.api.url()])
            .args(extra);
        if !extra.contains(&"--reboot-timeout") {
            c.args(["--reboot-timeout", "30s"]);
        }
        c
    }

    fn upgrade(&self, extra: &[&str]) -> Output {
        self.cmd(extra).output().unwrap()
    }

    fn journal(&self) -> Value {
        let p = self.cluster.path().join("upgrade/journal.json");
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    }

    /// Requests other than GET.
    fn writes(&self) -> Vec<String> {
        self.api
            .requests()
            .into_iter()
            .filter(|r| r.method != "GET")
            .map(|r| format!("{} {} {}", r.method, r.path, r.body))
            .collect()
    }

    /// The time of the first PATCH of `node` whose body holds `want`.
    fn patched(&self, node: &str, want: &str) -> Duration {
        let path = format!("/api/v1/nodes/{node}");
        self.api
            .requests()
            .iter()
            .find(|r| r.method == "PATCH" && r.path == path && r.body.contains(want))
            .unwrap_or_else(|| panic!("{node}: no PATCH with {want}"))
            .at
    }

    /// (reboot request, uncordon) times of `node` from the request log: the span it is down
    /// or not yet back in service.
    fn out_of_service(&self, node: &str) -> (Duration, Duration) {
        (
            self.patched(node, r#"\"action\":\"reboot\""#),
            self.patched(node, r#""unschedulable":false"#),
        )
    }

    /// (cordon, uncordon) times of `node`: the span the rollout holds it.
    fn cordoned(&self, node: &str) -> (Duration, Duration) {
        (
            self.patched(node, r#""unschedulable":true"#),
            self.patched(node, r#""unschedulable":false"#),
        )
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn overlap(a: (Duration, Duration), b: (Duration, Duration)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

#[test]
fn servers_one_at_a_time_then_agents_two_at_a_time() {
    let lab = lab(nodes(3, 2)
        .replica_set("default", "web", 2, &[("app", "web")])
        .daemon_set("kube-system", "proxy", &[("app", "proxy")]));
    let out = lab.upgrade(&["--concurrency", "2", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["outcome"], "done", "{v}");
    assert_eq!(
        v["batches"],
        serde_json::json!([["s1"], ["s2"], ["s3"], ["a1", "a2"]])
    );
    for n in ["s1", "s2", "s3", "a1", "a2"] {
        let node = lab.api.node(n);
        assert_eq!(node.version, "2.0", "{n}");
        assert_eq!(node.boots, 1, "{n} booted once");
        assert!(!node.unschedulable, "{n} uncordoned");
        assert!(!node.annotations.contains_key(kubeapi::CORDONED_BY), "{n}");
    }
    let s: Vec<_> = ["s1", "s2", "s3"].map(|n| lab.out_of_service(n)).to_vec();
    assert!(
        s[0].1 <= s[1].0 && s[1].1 <= s[2].0,
        "servers one at a time, in order: {s:?}"
    );
    // Both agents are held at once (their drains may wait on each other's evictions, so their
    // reboots need not overlap); with --concurrency 1 the second is cordoned only after the
    // first is back.
    let (a1, a2) = (lab.cordoned("a1"), lab.cordoned("a2"));
    assert!(
        overlap(a1, a2),
        "agents together with --concurrency 2: {a1:?} {a2:?}"
    );
    assert!(a1.0 >= s[2].1 && a2.0 >= s[2].1, "agents after the servers");
    assert!(
        lab.api.forbidden_evictions().is_empty(),
        "{:?}",
        lab.api.forbidden_evictions()
    );
    assert!(lab
        .api
        .disruptions()
        .iter()
        .any(|d| d.verb == "evict" && d.status == 201 && d.owner.as_deref() == Some("ReplicaSet")));
    // Every node fetched before the first cordon.
    let w = lab.writes();
    let first_cordon = w
        .iter()
        .position(|l| l.contains(r#""unschedulable":true"#))
        .unwrap();
    let fetches = w[..first_cordon]
        .iter()
        .filter(|l| l.contains(r#"\"action\":\"fetch\""#))
        .count();
    assert_eq!(fetches, 5, "{w:#?}");
    let j = lab.journal();
    assert_eq!(j["outcome"], "done");
    assert_eq!(j["version"], "2.0");
    assert!(j["records"].as_array().unwrap().len() >= 5 * 7, "{j}");
}

#[test]
fn a_pdb_that_never_frees_stops_the_rollout_and_uncordons() {
    let lab = lab(nodes(3, 1)
        .pod("shop", "db-0", "s1", &[("app", "db")])
        .pdb_min_available("shop", "db", &[("app", "db")], 1));
    let t0 = Instant::now();
    let out = lab.upgrade(&["--drain-timeout", "3s"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        t0.elapsed() >= Duration::from_secs(3),
        "waited for the drain timeout"
    );
    assert!(
        all.contains("shop/db") && all.contains("shop/db-0"),
        "{all}"
    );
    assert!(all.contains("s1 was uncordoned"), "{all}");
    let refused = lab
        .api
        .disruptions()
        .iter()
        .filter(|d| d.status == 429)
        .count();
    assert!(refused >= 2, "evictions retried: {refused}");
    assert!(!lab.api.node("s1").unschedulable);
    for n in ["s2", "s3", "a1"] {
        let node = lab.api.node(n);
        assert_eq!(
            (node.boots, node.unschedulable),
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
    let lab = lab(nodes(3, 1));
    lab.api.inject("s2", Fault::GateFails);
    let out = lab.upgrade(&[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("s2 rolled back to 1.0 after its health gate failed"),
        "{all}"
    );
    assert_eq!(lab.api.node("s1").version, "2.0");
    let s2 = lab.api.node("s2");
    assert_eq!((s2.version.as_str(), s2.unschedulable), ("1.0", false));
    for n in ["s3", "a1"] {
        assert_eq!(lab.api.node(n).boots, 0, "{n} not started");
    }
}

#[test]
fn a_node_that_never_returns_stays_cordoned_and_says_why() {
    let lab = lab(nodes(3, 0));
    lab.api.inject("s1", Fault::NeverReturns);
    let out = lab.upgrade(&["--reboot-timeout", "2s"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("s1 stays cordoned"), "{all}");
    assert!(lab.api.node("s1").unschedulable);
    assert_eq!(lab.api.node("s2").boots, 0);
}

#[test]
fn a_failed_pre_stage_cordons_nothing() {
    let lab = lab(nodes(3, 2));
    lab.api.inject("a2", Fault::FetchHashMismatch);
    let out = lab.upgrade(&[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("pre-stage fetch on a2 failed"), "{all}");
    assert!(lab
        .api
        .nodes()
        .iter()
        .all(|n| !n.unschedulable && n.boots == 0));
}

/// Starts the orchestrator, SIGKILLs it when `cond` first holds, reruns it: every node ends
/// on the release, booted once, uncordoned.
fn kill_and_resume(cond: impl Fn(&kubeapi::World) -> bool + Send + 'static) {
    let lab = lab(nodes(3, 2));
    let child = Arc::new(Mutex::new(
        lab.cmd(&[])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    ));
    let c2 = child.clone();
    let hook = lab.api.when("kill", cond, move || {
        let _ = c2.lock().unwrap().kill();
    });
    let t0 = Instant::now();
    while child.lock().unwrap().try_wait().unwrap().is_none() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "orchestrator was not killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(hook.fired());
    assert_eq!(lab.api.node("s1").version, "2.0");
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
            (node.version.as_str(), node.boots, node.unschedulable),
            ("2.0", 1, false),
            "{n}"
        );
    }
}

#[test]
fn a_killed_orchestrator_resumes_without_rebooting_twice() {
    kill_and_resume(kubeapi::cordoned("s2"));
}

#[test]
fn killed_mid_reboot_the_rerun_waits_instead_of_rebooting_again() {
    kill_and_resume(|w| {
        let n = w.node("s2");
        n.unschedulable && !n.ready
    });
}

#[test]
fn a_single_control_plane_is_refused_unless_forced() {
    let lab = lab(nodes(1, 1));
    let out = lab.upgrade(&[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("only control-plane node") && all.contains("--force"),
        "{all}"
    );
    assert!(lab.writes().is_empty(), "refused before any write");
    let out = lab.upgrade(&["--force"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(lab.api.node("s1").version, "2.0");
    assert_eq!(lab.api.node("a1").version, "2.0");
}

#[test]
fn a_dry_run_prints_the_plan_and_writes_nothing() {
    let lab = lab(Scenario::new()
        .server("s1", "1.0")
        .server("s2", "1.0")
        .server("s3", "1.0")
        .agent("a1", "2.0")
        .agent("a2", "1.0")
        .pod("shop", "db-0", "a2", &[("app", "db")])
        .pdb_min_available("shop", "db", &[("app", "db")], 1));
    let out = lab.upgrade(&["--dry-run", "--concurrency", "2"]);
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains("batch 1: s1") && all.contains("batch 4: a2"),
        "{all}"
    );
    assert!(all.contains("skip a1: already running 2.0"), "{all}");
    assert!(all.contains("PodDisruptionBudget shop/db"), "{all}");
    assert!(lab.writes().is_empty(), "{:?}", lab.writes());
    assert!(!lab.cluster.path().join("upgrade").exists());
}

#[test]
fn the_running_version_is_a_no_op() {
    let lab = lab(Scenario::new()
        .server("s1", "2.0")
        .server("s2", "2.0")
        .server("s3", "2.0"));
    let out = lab.upgrade(&[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("already running 2.0"), "{}", text(&out));
    assert!(lab.writes().is_empty());
}

#[test]
fn a_mis_hashed_release_is_refused_before_the_api_is_asked() {
    let lab = lab(nodes(3, 0));
    std::fs::write(lab.release.join("kateskit_2.0.store"), "store of 2.").unwrap();
    let out = lab.upgrade(&[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("kateskit_2.0.store") && all.contains("SHA-256"),
        "{all}"
    );
    assert!(lab.api.requests().is_empty());
}

#[test]
fn another_release_while_one_is_unfinished_needs_abandon() {
    let lab = lab(nodes(3, 0));
    lab.api.inject("s1", Fault::GateFails);
    assert_eq!(lab.upgrade(&[]).status.code(), Some(1));
    let other = release(lab._tmp.path(), "3.0");
    let run = |extra: &[&str]| {
        kateskit()
            .arg("upgrade")
            .arg("--cluster")
            .arg(lab.cluster.path())
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
}

#[test]
fn a_node_cordoned_by_an_operator_stays_cordoned() {
    let lab = lab(nodes(3, 1));
    let r = lab
        .api
        .admin_client()
        .patch(format!("{}/api/v1/nodes/a1", lab.api.url()))
        .header("Content-Type", "application/merge-patch+json")
        .body(r#"{"spec":{"unschedulable":true}}"#)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let out = lab.upgrade(&[]);
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains("a1 is already cordoned by someone else"),
        "{all}"
    );
    assert!(all.contains("a1: left cordoned"), "{all}");
    let a1 = lab.api.node("a1");
    assert_eq!((a1.version.as_str(), a1.unschedulable), ("2.0", true));
    assert!(!a1.annotations.contains_key(kubeapi::CORDONED_BY));
    assert!(!lab.api.node("s1").unschedulable);
}

#[test]
fn a_rerun_after_a_failure_retries_under_a_new_rollout_id() {
    let lab = lab(nodes(3, 1));
    lab.api.inject("s2", Fault::GateFails);
    assert_eq!(lab.upgrade(&[]).status.code(), Some(1));
    let first = lab.journal()["rollout"].clone();
    lab.api.inject("s2", Fault::None);
    let out = lab.upgrade(&[]);
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("after its failure, as"), "{all}");
    let j = lab.journal();
    assert_ne!(
        j["rollout"], first,
        "the node watcher runs each step once per rollout id"
    );
    assert_eq!(j["earlier"], serde_json::json!([first]));
    for n in ["s1", "s2", "s3", "a1"] {
        let node = lab.api.node(n);
        assert_eq!(
            (node.version.as_str(), node.unschedulable),
            ("2.0", false),
            "{n}"
        );
    }
    assert_eq!(
        lab.api.node("s1").boots,
        1,
        "s1 was done: not rebooted again"
    );
}

#[test]
fn help_explains_the_steps_and_the_safety_rules() {
    let out = kateskit().args(["upgrade", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for want in [
        "Steps:",
        "Safety rules:",
        "quorum",
        "--force",
        "journal.json",
        "--abandon",
        "uncordon",
    ] {
        assert!(help.contains(want), "{want} missing from:\n{help}");
    }
}
