//! Choosing the supervisor before k3s starts, against local HTTPS STAND-INs for k3s's
//! supervisor (not k3s): a joining node takes the first server serving the token's CA and
//! falls back to the first listed; a reinstalled first server rejoins a server that answers
//! instead of running `cluster-init` again, initialises when none answers, and keeps its config
//! when its datastore exists. Every probe is bounded.

mod agent_support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use agent_support::peers::{closed_port, cluster_init, counting, hole, phase, server_of, setup};
use agent_support::standin::{self, Opts};
use kateskit::agent::phases::k3s_config::reprovision;

#[test]
fn joining_node_takes_the_first_server_serving_the_tokens_ca() {
    let s = setup("a1");
    let (evil_cert, evil_key) = standin::other_ca();
    let foreign = standin::start(Opts {
        tls_ca_cert: evil_cert.clone(),
        tls_ca_key: evil_key,
        cacerts: evil_cert,
        ..s.opts()
    });
    let good = s.member();
    s.kubelet_kubeconfig(&good);
    let down = closed_port();
    let urls = [down.clone(), foreign.url(), good.url()];
    let (_, detail) = s.run(Some(&down), &urls);
    assert_eq!(server_of(&s.dropin()), Some(good.url()), "{detail}");
    let join = phase(&s.node.journal(), "join");
    assert!(
        join.contains(&format!("joined via {}", good.url())),
        "the join check follows the choice: {join}"
    );
    assert!(
        detail.contains(&format!("joins through {}", good.url()))
            && detail.contains(&format!("{down}: no answer"))
            && detail.contains(&format!("{}: serves CA", foreign.url()))
            && detail.contains("another cluster"),
        "{detail}"
    );
}

#[test]
fn joining_node_falls_back_to_the_first_listed_when_none_answers_within_the_bound() {
    let s = setup("s2");
    let urls = [hole(), hole(), closed_port()];
    let (_, detail) = s.run(Some(&urls[0]), &urls);
    let d = s.dropin();
    assert_eq!(server_of(&d), Some(urls[0].clone()), "{detail}");
    assert!(!cluster_init(&d));
    assert!(
        detail.contains(&format!(
            "no server answered; joins through {} and lets k3s retry",
            urls[0]
        )),
        "{detail}"
    );
}

#[test]
fn a_vip_or_a_server_url_outside_the_list_is_used_without_probing() {
    let s = setup("a1");
    let (probed, n) = counting();
    let vip = closed_port();
    let (_, detail) = s.run(Some(&vip), &[probed]);
    assert_eq!(server_of(&s.dropin()), Some(vip.clone()));
    assert_eq!(n.load(Ordering::SeqCst), 0, "no probe: {detail}");
    assert!(
        detail.contains(&format!("joins through {vip} as given"))
            && detail.contains("kernel argument kateskit.server")
            && detail.contains("not probed"),
        "{detail}"
    );
}

#[test]
fn fresh_first_server_rejoins_a_server_that_answers_instead_of_cluster_init() {
    let s = setup("s1");
    let good = s.member();
    let down = closed_port();
    let (_, detail) = s.run(None, &[down.clone(), good.url()]);
    let d = s.dropin();
    assert_eq!(server_of(&d), Some(good.url()), "{detail}");
    assert!(
        !cluster_init(&d),
        "a rejoining server must not cluster-init"
    );
    assert!(
        !s.node.path("var/lib/rancher/k3s/server/tls").exists(),
        "a rejoining server takes the CAs from k3s's bootstrap, seeds none"
    );
    assert!(
        detail.contains("server/db is empty")
            && detail.contains(&format!("{} serves the token's CA", good.url()))
            && detail.contains("instead of cluster-init")
            && detail.contains(&format!("{down}: no answer")),
        "{detail}"
    );
}

#[test]
fn fresh_first_server_initialises_when_no_server_answers() {
    let s = setup("s1");
    let (_, detail) = s.run(None, &[closed_port(), hole()]);
    let d = s.dropin();
    assert_eq!(server_of(&d), None, "{detail}");
    assert!(cluster_init(&d), "{detail}");
    assert!(s
        .node
        .path("var/lib/rancher/k3s/server/tls/server-ca.key")
        .exists());
    assert!(
        detail.contains("no other server answered: initialises the cluster"),
        "{detail}"
    );
}

#[test]
fn first_server_with_a_datastore_keeps_its_config_and_probes_nothing() {
    let s = setup("s1");
    s.node
        .write("var/lib/rancher/k3s/server/db/etcd/member/snap/db", "etcd");
    let good = s.member();
    let (probed, n) = counting();
    let (_, detail) = s.run(None, &[probed, good.url()]);
    let d = s.dropin();
    assert!(cluster_init(&d) && server_of(&d).is_none(), "{detail}");
    assert_eq!(n.load(Ordering::SeqCst), 0, "no probe: {detail}");
    assert!(
        detail.contains("holds a datastore; config unchanged"),
        "{detail}"
    );
}

#[test]
fn rejoined_first_server_keeps_its_choice_once_the_datastore_exists() {
    let s = setup("s1");
    let good = s.member();
    s.run(None, &[good.url()]);
    assert_eq!(server_of(&s.dropin()), Some(good.url()));
    // k3s joined and wrote its datastore; the next boot neither probes nor flips back.
    s.node
        .write("var/lib/rancher/k3s/server/db/etcd/member/snap/db", "etcd");
    let (probed, n) = counting();
    let (_, detail) = s.run(None, &[probed]);
    let d = s.dropin();
    assert_eq!(server_of(&d), Some(good.url()), "{detail}");
    assert!(!cluster_init(&d));
    assert_eq!(n.load(Ordering::SeqCst), 0, "no probe: {detail}");
}

#[test]
fn a_probe_is_bounded_by_its_timeout() {
    let s = setup("a1");
    let pinned = kateskit::pki::hash_ca(s.ca_cert.as_bytes()).unwrap();
    let t0 = Instant::now();
    let e = reprovision::probe(&hole(), &pinned, Duration::from_secs(1)).unwrap_err();
    assert!(
        t0.elapsed() < Duration::from_secs(8),
        "{:?}: {e}",
        t0.elapsed()
    );
    assert!(e.contains("no answer"), "{e}");
    // And an answering member passes the same probe.
    reprovision::probe(&s.member().url(), &pinned, Duration::from_secs(1)).unwrap();
}

#[test]
fn a_server_showing_the_cas_bytes_without_its_certificate_is_not_a_member() {
    let s = setup("a1");
    let pinned = kateskit::pki::hash_ca(s.ca_cert.as_bytes()).unwrap();
    let (evil_cert, evil_key) = standin::other_ca();
    let impostor = standin::start(Opts {
        tls_ca_cert: evil_cert,
        tls_ca_key: evil_key,
        ..s.opts()
    });
    let e = reprovision::probe(&impostor.url(), &pinned, Duration::from_secs(1)).unwrap_err();
    assert!(
        e.contains("does not verify against the CA it serves"),
        "{e}"
    );
}

#[test]
fn probing_every_server_is_bounded_by_the_per_server_timeout() {
    let s = setup("s1");
    let urls: Vec<String> = (0..3).map(|_| hole()).collect();
    let t0 = Instant::now();
    s.run(None, &urls);
    let whole = t0.elapsed();
    let detail = phase(&s.node.journal(), "k3s-config");
    assert!(detail.contains("initialises the cluster"), "{detail}");
    // 3 silent servers at 1 s each, then the join wait (2 s) and the ready wait (2 s).
    assert!(whole < Duration::from_secs(15), "{whole:?}");
}

#[test]
fn a_listed_server_that_is_not_https_is_refused_before_anything_is_written() {
    let s = setup("s1");
    s.node
        .set_cmdline("console=ttyS0 kateskit.agent.join_timeout_s=2 kateskit.agent.ready_timeout_s=2 kateskit.k3s.server_urls[]=http://127.0.0.1:1");
    let out = s.node.run(&[]);
    assert!(!out.status.success());
    let j = s.node.journal();
    assert_eq!(j["phases"][1]["outcome"], "failed", "{j}");
    let d = j["phases"][1]["detail"].as_str().unwrap();
    assert!(
        d.contains("kernel argument kateskit.k3s.server_urls[]=http://127.0.0.1:1 (from")
            && d.contains("k3s.server_urls[0]")
            && d.contains("must start with https://"),
        "{d}"
    );
    assert!(!s.node.path(agent_support::peers::DROPIN).exists());
}
