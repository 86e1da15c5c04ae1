//! `kateskit agent health`, the boot's health gate, against STAND-INS (not k3s, not etcd): the
//! k3s supervisor/API stand-in with this Node registered, an embedded-etcd stand-in that
//! verifies the client certificate, and a stand-in systemctl. Every wait is bounded by the
//! gate's own --timeout, kept short here.

mod agent_support;

use std::time::{Duration, Instant};

use agent_support::etcd::{self, EtcdPki};
use agent_support::gate::{check, GateNode};

fn text(o: &std::process::Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// An etcd server (cluster-init) with its etcd member answering.
fn etcd_server() -> (GateNode, etcd::Etcd, EtcdPki) {
    let mut n = GateNode::new("server", "s1", "cluster-init: true\n");
    let pki = EtcdPki::new();
    let e = etcd::start(&pki);
    n.etcd_pki(&pki);
    n.setenv("KATESKIT_ETCD_URL", &e.url());
    (n, e, pki)
}

#[test]
fn a_healthy_server_passes_every_check_and_records_the_boot() {
    let (n, e, _) = etcd_server();
    let (out, report) = n.health("20s");
    assert!(out.status.success(), "{}", text(&out));
    let r = report.expect("health.json written");
    assert_eq!(r["passed"], true);
    for name in ["k3s-active", "node-ready", "etcd-healthy", "api-readyz"] {
        assert_eq!(check(&r, name).0, "passed", "{name}: {r}");
    }
    assert_eq!(r["node"], "s1");
    assert_eq!(r["role"], "server");
    assert_eq!(
        r["version"], "2",
        "the booted slot's version, from the loader's variables"
    );
    assert_eq!(r["boot_id"], "boot-1");
    assert!(r["at"].as_str().unwrap().contains('T'));
    assert!(e.answered() >= 1, "the etcd stand-in answered the gate");
    assert!(n
        .systemctl_calls()
        .contains(&"is-active k3s.service".to_string()));
    // stdout is the same verdict; no key material in it.
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, r);
    assert!(!text(&out).contains("PRIVATE KEY"));
}

#[test]
fn a_node_not_ready_fails_at_the_timeout_and_says_what_and_how_long() {
    let n = GateNode::new("agent", "a1", "server: https://192.0.2.10:6443\n");
    n.api.nodes.lock().unwrap().set_ready("a1", "False");
    let t0 = Instant::now();
    let out = n
        .command(&["agent", "health", "--timeout", "3s"])
        .output()
        .unwrap();
    let took = t0.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(took >= Duration::from_secs(3), "gave up early: {took:?}");
    assert!(took < Duration::from_secs(15), "not bounded: {took:?}");
    let shown = text(&out);
    assert!(
        shown.contains("FAILED")
            && shown.contains("node-ready")
            && shown.contains("Ready condition is False"),
        "{shown}"
    );
    assert!(
        shown.contains("after waiting 3s") && shown.contains("timeout 3s"),
        "{shown}"
    );
    let r: serde_json::Value = serde_json::from_slice(
        &std::fs::read(n.path("var/lib/kateskit/upgrade/health.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(r["passed"], false);
    assert_eq!(check(&r, "k3s-active").0, "passed");
    assert_eq!(check(&r, "node-ready").0, "failed");
}

#[test]
fn a_node_that_becomes_ready_during_the_wait_passes() {
    let n = GateNode::new("agent", "a1", "server: https://192.0.2.10:6443\n");
    n.api.nodes.lock().unwrap().set_ready("a1", "Unknown");
    let nodes = n.api.nodes.clone();
    let flip = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(2500));
        nodes.lock().unwrap().set_ready("a1", "True");
    });
    let (out, r) = n.health("30s");
    flip.join().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let r = r.unwrap();
    assert_eq!(check(&r, "node-ready").0, "passed");
    assert!(r["waited_s"].as_u64().unwrap() >= 2, "{r}");
}

#[test]
fn an_unhealthy_etcd_member_fails_a_server() {
    let (n, e, _) = etcd_server();
    e.set_health(503, r#"{"health":"false","reason":"RAFT NO LEADER"}"#);
    let (out, r) = n.health("2s");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let (state, detail) = check(&r.unwrap(), "etcd-healthy");
    assert_eq!(state, "failed");
    assert!(
        detail.contains("not healthy") && detail.contains("RAFT NO LEADER"),
        "{detail}"
    );
}

#[test]
fn the_etcd_stand_in_refuses_a_client_certificate_of_another_ca() {
    let (n, e, pki) = etcd_server();
    let (cert, key) = EtcdPki::foreign_client();
    n.etcd_client(&pki.ca_pem, &cert, &key);
    let (out, r) = n.health("2s");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let (state, detail) = check(&r.unwrap(), "etcd-healthy");
    assert_eq!(state, "failed", "{detail}");
    assert_eq!(
        e.answered(),
        0,
        "a request got through without the etcd client certificate"
    );
}

#[test]
fn agents_skip_etcd_and_the_api_and_never_dial_etcd() {
    let mut n = GateNode::new("agent", "a1", "server: https://192.0.2.10:6443\n");
    let untouched = agent_support::https::Untouched::new();
    n.setenv(
        "KATESKIT_ETCD_URL",
        &format!("https://127.0.0.1:{}", untouched.port),
    );
    let (out, r) = n.health("10s");
    assert!(out.status.success(), "{}", text(&out));
    let r = r.unwrap();
    let (state, detail) = check(&r, "etcd-healthy");
    assert_eq!(
        (state.as_str(), detail.as_str()),
        ("skipped", "agents run no etcd member")
    );
    assert_eq!(check(&r, "api-readyz").0, "skipped");
    assert_eq!(check(&r, "node-ready").0, "passed");
    assert!(!untouched.was_connected());
}

#[test]
fn a_lone_sqlite_server_skips_etcd_and_says_so() {
    let mut n = GateNode::new("server", "s1", "flannel-backend: vxlan\n");
    let untouched = agent_support::https::Untouched::new();
    n.setenv(
        "KATESKIT_ETCD_URL",
        &format!("https://127.0.0.1:{}", untouched.port),
    );
    let (out, r) = n.health("10s");
    assert!(out.status.success(), "{}", text(&out));
    let r = r.unwrap();
    let (state, detail) = check(&r, "etcd-healthy");
    assert_eq!(state, "skipped");
    assert!(
        detail.contains("sqlite") && detail.contains("cluster-init"),
        "{detail}"
    );
    assert_eq!(check(&r, "api-readyz").0, "passed");
    assert!(!untouched.was_connected());
}

#[test]
fn an_api_that_is_not_ready_fails_a_server() {
    let (n, _e, _) = etcd_server();
    n.api.nodes.lock().unwrap().readyz = (
        500,
        "[-]etcd failed: reason withheld\nreadyz check failed".into(),
    );
    let (out, r) = n.health("2s");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let (state, detail) = check(&r.unwrap(), "api-readyz");
    assert_eq!(state, "failed");
    assert!(detail.contains("/readyz: HTTP 500"), "{detail}");
}

#[test]
fn k3s_inactive_fails_the_gate() {
    let n = GateNode::new("agent", "a1", "server: https://192.0.2.10:6443\n");
    n.set_k3s("inactive");
    let (out, r) = n.health("2s");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let (state, detail) = check(&r.unwrap(), "k3s-active");
    assert_eq!(state, "failed");
    assert!(detail.contains("k3s.service is inactive"), "{detail}");
    assert!(text(&out).contains("k3s-active"), "{}", text(&out));
}

#[test]
fn without_the_agents_k3s_config_the_gate_fails_naming_the_file() {
    let n = GateNode::new("agent", "a1", "");
    std::fs::remove_file(n.path("etc/kateskit/k3s.env")).unwrap();
    let (out, r) = n.health("2s");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let (state, detail) = check(&r.unwrap(), "node-config");
    assert_eq!(state, "failed");
    assert!(
        detail.contains("etc/kateskit/k3s.env") && detail.contains("kateskit-agent"),
        "{detail}"
    );
}

#[test]
fn a_bad_timeout_is_refused_with_examples() {
    let n = GateNode::new("agent", "a1", "");
    let out = n
        .command(&["agent", "health", "--timeout", "soon"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("examples: 90s, 5m, 1h30m"),
        "{}",
        text(&out)
    );
}
