//! Crash safety: the agent is aborted right after every phase (KATESKIT_FAULT_AFTER), then
//! re-run; the end state must be byte-identical to an uninterrupted run, and a further run
//! must change nothing. Join runs against the local HTTPS STAND-IN for the k3s supervisor.

mod agent_support;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use agent_support::standin::{self, Opts};
use agent_support::{Cluster, Node};
use base64::Engine;
use kateskit::agent::phases::Phase;
use kateskit::pki::Token;

/// Prepares a node root for `name`: image defaults, OSD disks, the kubeconfig k3s would write.
fn prepare(n: &Node, cfg: &serde_json::Value, kubeconfig: &str) {
    n.image_defaults(cfg);
    n.attach_osd_disks(cfg);
    let rel = if cfg["node"]["role"] == "server" {
        "etc/rancher/k3s/k3s.yaml"
    } else {
        "var/lib/rancher/k3s/agent/kubelet.kubeconfig"
    };
    n.write(rel, kubeconfig);
}

/// The tree with the join line of the reports (journal, status, banner) in its settled form:
/// the run that creates the `rook-ceph-mon` Secret says "created", every later run (or a re-run
/// after a crash that came after the create) "already present with the same fsid".
fn settled(mut snap: BTreeMap<PathBuf, String>) -> BTreeMap<PathBuf, String> {
    for v in snap.values_mut() {
        if v.contains("rook-ceph-mon") {
            *v = v
                .replace(
                    "rook-ceph-mon created",
                    "rook-ceph-mon already present with the same fsid",
                )
                .replace("Rook manifests written", "Rook manifests unchanged");
        }
    }
    snap
}

fn scenario(name: &str) {
    let cluster = Cluster::new("rack");
    let cfg = cluster.render(name);
    let tls = cluster.dir.path().join("secrets/tls");
    let ca = std::fs::read_to_string(tls.join("server-ca.crt")).unwrap();
    let ca_key = std::fs::read_to_string(tls.join("server-ca.key")).unwrap();
    let t = Token::parse(cfg["secrets"]["token"].as_str().unwrap()).unwrap();
    let s = standin::start(Opts::new(
        &ca,
        &ca_key,
        t.password.expose(),
        t.password.expose(),
    ));
    let (cert, key) = standin::client_identity();
    let b64 = |x: &str| base64::engine::general_purpose::STANDARD.encode(x);
    let kubeconfig = format!(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {}\n  name: default\nusers:\n- name: default\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
        b64(&ca),
        s.url(),
        b64(&cert),
        b64(&key)
    );

    let mut reference = Node::new();
    let log = reference.aux().join("systemctl.log");
    let script = reference.aux().join("systemctl");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$@\" >> {}\n", log.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    reference.setenv("KATESKIT_SYSTEMCTL", script.to_str().unwrap());
    // The first server's peers are replaced by a closed local port: none answers its
    // re-provisioning probe, so it initialises the cluster.
    let target = if cfg["node"]["role"] == "server" {
        "kateskit.k3s.server_urls[]=https://127.0.0.1:1 kateskit.agent.supervisor_url"
    } else {
        "kateskit.server"
    };
    reference.set_cmdline(&format!("console=ttyS0 {target}={} kateskit.agent.join_timeout_s=5 kateskit.agent.ready_timeout_s=5", s.url()));
    prepare(&reference, &cfg, &kubeconfig);
    let out = reference.run(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let want = settled(reference.snapshot());
    assert!(want.keys().any(|p| p.ends_with("10-kateskit.yaml")));

    // A second full run changes nothing: same bytes, and no file rewritten (the journal is
    // rewritten phase by phase, so only its content is compared).
    std::fs::write(&log, "").unwrap();
    let before = reference.mtimes();
    assert!(reference.run(&[]).status.success());
    assert_eq!(
        settled(reference.snapshot()),
        want,
        "second run changed the tree"
    );
    let mut after = reference.mtimes();
    let mut before = before;
    // Reports name what this run did with the Secret, so they are rewritten when it changes.
    let reports: Vec<PathBuf> = want
        .iter()
        .filter(|(_, v)| v.contains("rook-ceph-mon"))
        .map(|(p, _)| p.clone())
        .collect();
    before.retain(|p, _| !p.ends_with("journal.json") && !reports.contains(p));
    after.retain(|p, _| !p.ends_with("journal.json") && !reports.contains(p));
    assert_eq!(after, before, "second run rewrote files");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "--no-block start k3s.service\n",
        "unchanged config: plain start, no restart"
    );

    for phase in Phase::ALL.map(Phase::name) {
        let n = Node::sharing_cmdline(&reference);
        prepare(&n, &cfg, &kubeconfig);
        let crashed = n.run(&[("KATESKIT_FAULT_AFTER", phase)]);
        assert!(
            !crashed.status.success(),
            "{phase}: the fault hook must abort"
        );
        assert!(String::from_utf8_lossy(&crashed.stderr)
            .contains(&format!("KATESKIT_FAULT_AFTER={phase}")));
        let j = n.journal();
        let rec = j["phases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == phase)
            .unwrap()
            .clone();
        assert_eq!(
            rec["outcome"], "done",
            "{phase}: the journal records the phase before the abort"
        );
        let out = n.run(&[]);
        assert!(
            out.status.success(),
            "{phase}: re-run failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let got = settled(n.snapshot());
        if got != want {
            let diff: Vec<_> = want
                .keys()
                .chain(got.keys())
                .filter(|k| want.get(*k) != got.get(*k))
                .collect();
            let k = diff[0];
            panic!("{name}: crash after {phase} then re-run differs from an uninterrupted run at {diff:?}\nwant: {:?}\ngot:  {:?}", want.get(k), got.get(k));
        }
    }
}

#[test]
fn agent_node_converges_after_a_crash_at_every_phase() {
    scenario("a1");
}

#[test]
fn server_node_converges_after_a_crash_at_every_phase() {
    scenario("s1");
}
