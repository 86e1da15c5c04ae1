//! Join verification against a local HTTPS STAND-IN for the k3s supervisor (not k3s): the
//! right CA is accepted, a different CA is refused as a man-in-the-middle, a wrong token and
//! a rejected node password are reported, and every wait is bounded.

mod agent_support;

use std::time::{Duration, Instant};

use agent_support::joining::{join_phase, setup, LONG_BOUNDS};
use agent_support::standin::{self, Opts};
use base64::Engine;

#[test]
fn right_ca_is_accepted_and_node_ready() {
    let s = setup("a1");
    let stand_in = standin::start(s.opts());
    s.kubelet_kubeconfig(&stand_in);
    let (out, j) = s.run_agent(&stand_in.url(), "");
    let (outcome, detail) = join_phase(&j);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(outcome, "done");
    let hash = kateskit::pki::hash_ca(s.ca_cert.as_bytes()).unwrap();
    assert!(
        detail.contains(&hash) && detail.contains("node Ready"),
        "{detail}"
    );
    assert_eq!(s.node.status()["ok"], true);
}

#[test]
fn first_server_joins_with_embedded_kubeconfig() {
    let s = setup("s1");
    let stand_in = standin::start(Opts {
        server_password: "unused".into(),
        ..s.opts()
    });
    let (cert, key) = standin::client_identity();
    let b64 = |x: &str| base64::engine::general_purpose::STANDARD.encode(x);
    let kc = format!(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {}\n  name: default\nusers:\n- name: default\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
        b64(&s.ca_cert),
        stand_in.url(),
        b64(&cert),
        b64(&key)
    );
    s.node.write("etc/rancher/k3s/k3s.yaml", kc);
    // No peer answers the re-provisioning probe (a closed local port): s1 initialises.
    s.node.set_cmdline(&format!("kateskit.k3s.server_urls[]=https://127.0.0.1:1 kateskit.agent.supervisor_url={} kateskit.agent.join_timeout_s=3 kateskit.agent.ready_timeout_s=3", stand_in.url()));
    let out = s.node.run(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(join_phase(&s.node.journal()).0, "done");
    // The first server has no server URL, so the drop-in has no `server:` and no credential check ran.
    assert!(!s
        .node
        .read("etc/rancher/k3s/config.yaml.d/10-kateskit.yaml")
        .contains("server:"));
}

#[test]
fn different_ca_is_refused_as_man_in_the_middle() {
    let s = setup("a1");
    let (evil_cert, evil_key) = standin::other_ca();
    let stand_in = standin::start(Opts {
        tls_ca_cert: evil_cert.clone(),
        tls_ca_key: evil_key,
        cacerts: evil_cert,
        ..s.opts()
    });
    s.kubelet_kubeconfig(&stand_in);
    let (out, j) = s.run_agent(&stand_in.url(), "");
    assert!(!out.status.success());
    let (outcome, detail) = join_phase(&j);
    assert_eq!(outcome, "failed");
    assert!(
        detail.contains("wrong token for this cluster or a man-in-the-middle; refusing to join"),
        "{detail}"
    );
    let st = s.node.status();
    assert_eq!(st["ok"], false);
    assert_eq!(st["phase"], "join");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("man-in-the-middle"),
        "banner shows the error"
    );
}

#[test]
fn tls_certificate_not_issued_by_served_ca_is_refused() {
    let s = setup("a1");
    let (evil_cert, evil_key) = standin::other_ca();
    // Serves the genuine CA bytes but presents a certificate from another CA.
    let stand_in = standin::start(Opts {
        tls_ca_cert: evil_cert,
        tls_ca_key: evil_key,
        ..s.opts()
    });
    let (_, j) = s.run_agent(&stand_in.url(), "");
    let (outcome, detail) = join_phase(&j);
    assert_eq!(outcome, "failed");
    assert!(
        detail.contains("does not verify against the CA it served"),
        "{detail}"
    );
}

#[test]
fn wrong_token_is_reported_not_retried() {
    let s = setup("a1");
    let stand_in = standin::start(Opts {
        agent_password: "someone-elses-password".into(),
        ..s.opts()
    });
    s.kubelet_kubeconfig(&stand_in);
    let t0 = Instant::now();
    // Join and ready bounds of 60 s (the later arguments win): a retried 401 would take that.
    let (_, j) = s.run_agent(&stand_in.url(), LONG_BOUNDS);
    let (outcome, detail) = join_phase(&j);
    assert_eq!(outcome, "failed");
    assert!(
        detail.contains("rejected the join token (HTTP 401") && detail.contains("agent token"),
        "{detail}"
    );
    assert!(
        detail.contains(r#""message":"not authorized""#),
        "the body is shown: {detail}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "a 401 must fail at once, not wait for the 60 s bounds: {:?}",
        t0.elapsed()
    );
}

#[test]
fn node_password_rejection_is_recognised_after_bounded_wait() {
    let s = setup("a1");
    let stand_in = standin::start(Opts {
        node_ready: false,
        ..s.opts()
    });
    s.kubelet_kubeconfig(&stand_in);
    let t0 = Instant::now();
    let (out, j) = {
        let log = "echo level=error msg=\"Node password rejected, duplicate hostname or contents of '/etc/rancher/node/password' may not match server node-passwd entry\"";
        s.node.set_cmdline(&format!("kateskit.server={} kateskit.agent.join_timeout_s=3 kateskit.agent.ready_timeout_s=2 kateskit.agent.http_timeout_s=1", stand_in.url()));
        let out = s.node.run(&[("KATESKIT_K3S_LOG_CMD", log)]);
        (out, s.node.journal())
    };
    assert!(!out.status.success());
    let (outcome, detail) = join_phase(&j);
    assert_eq!(outcome, "failed");
    assert!(detail.contains("Ready condition is False"), "{detail}");
    assert!(detail.contains("a1.node-password.k3s"), "{detail}");
    assert!(detail.contains("kubectl delete node a1"), "{detail}");
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "ready wait is bounded: {:?}",
        t0.elapsed()
    );
}

#[test]
fn unreachable_supervisor_times_out_within_bound() {
    let s = setup("a1");
    let port = standin::black_hole();
    let t0 = Instant::now();
    let (_, j) = s.run_agent(&format!("https://127.0.0.1:{port}"), "");
    let (outcome, detail) = join_phase(&j);
    assert_eq!(outcome, "failed");
    assert!(
        detail.contains("/ping: gave up at the deadline"),
        "{detail}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "bounded: {:?}",
        t0.elapsed()
    );
    let _ = &s.cluster;
}

#[test]
fn additional_server_with_wrong_token_is_named_as_such() {
    let s = setup("s2");
    let stand_in = standin::start(Opts {
        server_password: "the-clusters-real-password".into(),
        ..s.opts()
    });
    let (out, j) = s.run_agent(&stand_in.url(), "");
    assert!(!out.status.success());
    let (outcome, detail) = join_phase(&j);
    assert_eq!(outcome, "failed");
    assert!(
        detail.contains("HTTP 401 on /v1-k3s/encrypt/status")
            && detail.contains("not the cluster's server token"),
        "{detail}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(&s.server_password),
        "the token is not echoed"
    );
}

/// The boot unit runs before k3s and cannot wait for it: `--before-k3s` defers the join, and
/// the run after k3s (kateskit-join.service) verifies it with nothing else left to change.
#[test]
fn join_is_deferred_before_k3s_and_verified_by_the_next_run() {
    let s = setup("a1");
    let stand_in = standin::start(s.opts());
    s.kubelet_kubeconfig(&stand_in);
    s.node.set_cmdline(&format!("console=ttyS0 kateskit.server={} kateskit.agent.join_timeout_s=3 kateskit.agent.ready_timeout_s=3 kateskit.agent.http_timeout_s=1", stand_in.url()));
    let out = s.node.run_with_args(&["--before-k3s"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let (outcome, detail) = join_phase(&s.node.journal());
    assert_eq!(outcome, "skipped");
    assert!(detail.contains("deferred until k3s runs"), "{detail}");
    let config = s
        .node
        .path("etc/rancher/k3s/config.yaml.d/10-kateskit.yaml");
    let before = std::fs::metadata(&config).unwrap().modified().unwrap();
    let out = s.node.run(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let (outcome, detail) = join_phase(&s.node.journal());
    assert_eq!(outcome, "done");
    assert!(detail.contains("node Ready"), "{detail}");
    assert_eq!(
        std::fs::metadata(&config).unwrap().modified().unwrap(),
        before
    );
}
