//! Chart archives are verified before k3s sees them, against a STAND-IN chart repository
//! (tests/agent_support/charts.rs: plain HTTP on 127.0.0.1 serving fake archives, not Helm):
//! a good archive is written into the static charts directory, a corrupted or unpinned one fails
//! naming the chart and URL and leaves no archive and no repo-mode HelmChart behind.

mod agent_support;

use std::time::{Duration, Instant};

use agent_support::charts::{archive, digest, lock_text, serve};
use agent_support::{Cluster, Node};
use kateskit::agent::phases::k3s_config::charts_fetch::{
    ensure, Action, ChartFetchError, Http, STATIC_CHARTS,
};
use kateskit::bundle::charts::ChartLock;

const HTTP: Http = Http {
    timeout: Duration::from_secs(2),
    retries: 1,
};

fn lock(entry: impl Fn(&str) -> (String, Option<String>)) -> ChartLock {
    ChartLock::parse(&lock_text(entry), "test-lock.toml").unwrap()
}

#[test]
fn good_archive_is_written_then_kept() {
    let base = serve(vec![("/dex.tgz".into(), archive("dex"))]);
    let l = lock(|c| (format!("{base}/{c}.tgz"), Some(digest(&archive(c)))));
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("charts");
    let got = ensure(&dir, &l, &["dex"], HTTP).unwrap();
    assert_eq!(
        got,
        vec![("dex".to_string(), Action::Fetched { replaced: false })]
    );
    assert_eq!(std::fs::read(dir.join("dex.tgz")).unwrap(), archive("dex"));
    assert_eq!(
        ensure(&dir, &l, &["dex"], HTTP).unwrap(),
        vec![("dex".to_string(), Action::Kept)]
    );
}

#[test]
fn stale_archive_is_replaced() {
    let base = serve(vec![("/dex.tgz".into(), archive("dex"))]);
    let l = lock(|c| (format!("{base}/{c}.tgz"), Some(digest(&archive(c)))));
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("dex.tgz"), "an older version").unwrap();
    let got = ensure(d.path(), &l, &["dex"], HTTP).unwrap();
    assert_eq!(got[0].1, Action::Fetched { replaced: true });
    assert_eq!(
        std::fs::read(d.path().join("dex.tgz")).unwrap(),
        archive("dex")
    );
}

#[test]
fn corrupted_archive_fails_naming_chart_and_url_and_writes_nothing() {
    let mut bad = archive("dex");
    bad[0] ^= 1;
    let base = serve(vec![("/dex.tgz".into(), bad.clone())]);
    let l = lock(|c| (format!("{base}/{c}.tgz"), Some(digest(&archive(c)))));
    let d = tempfile::tempdir().unwrap();
    let e = ensure(d.path(), &l, &["dex"], HTTP).unwrap_err();
    assert!(matches!(e, ChartFetchError::Mismatch { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("chart `dex`"), "{msg}");
    assert!(msg.contains(&format!("{base}/dex.tgz")), "{msg}");
    assert!(msg.contains(&digest(&bad)) && msg.contains(&digest(&archive("dex"))));
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
}

#[test]
fn missing_digest_fails_unless_the_image_ships_the_archive() {
    let base = serve(vec![("/rook_ceph.tgz".into(), archive("rook_ceph"))]);
    let l = lock(|c| (format!("{base}/{c}.tgz"), None));
    let d = tempfile::tempdir().unwrap();
    let e = ensure(d.path(), &l, &["rook_ceph"], HTTP).unwrap_err();
    assert!(matches!(e, ChartFetchError::NoDigest { .. }), "{e:?}");
    assert!(e.to_string().contains("chart `rook_ceph`") && e.to_string().contains("digest"));
    assert!(!d.path().join("rook_ceph.tgz").exists());
    // An archive the image put there (Nix's fetchurl checked it) is used as it is.
    std::fs::write(d.path().join("rook_ceph.tgz"), "shipped").unwrap();
    assert_eq!(
        ensure(d.path(), &l, &["rook_ceph"], HTTP).unwrap()[0].1,
        Action::Kept
    );
}

#[test]
fn not_found_fails_at_once_and_a_silent_server_within_the_bound() {
    let base = serve(vec![]);
    let d = tempfile::tempdir().unwrap();
    let l = lock(|c| (format!("{base}/{c}.tgz"), Some(digest(&archive(c)))));
    let e = ensure(d.path(), &l, &["dex"], HTTP).unwrap_err();
    assert!(e.to_string().contains("HTTP 404"), "{e}");
    let l = lock(|_| (format!("{base}/slow"), Some(digest(b"x"))));
    let t = Instant::now();
    let e = ensure(d.path(), &l, &["dex"], HTTP).unwrap_err();
    assert!(e.to_string().contains("2 attempts"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}

const RACK_CHARTS: [&str; 9] = [
    "kube_vip",
    "kube_vip_cloud_provider",
    "dex",
    "auth_proxy",
    "dashboard",
    "cert_manager",
    "internal_dns",
    "rook_ceph",
    "rook_csi_drivers",
];

/// Server s1 of examples/rack whose chart lock points at a stand-in serving `body(c)`, with
/// `digest(c)` in the lock; the agent runs once with the join not verified.
fn run_rack_server(
    body: impl Fn(&str) -> Vec<u8>,
    pin: impl Fn(&str) -> Option<String>,
) -> (Node, String, serde_json::Value) {
    let cluster = Cluster::new("rack");
    let cfg = cluster.render("s1");
    let mut node = Node::new();
    node.image_defaults(&cfg);
    node.set_cmdline("console=ttyS0 kateskit.agent.verify_join=false kateskit.agent.http_timeout_s=2 kateskit.agent.fetch_retries=0");
    let base = serve(
        RACK_CHARTS
            .iter()
            .map(|c| (format!("/{c}.tgz"), body(c)))
            .collect(),
    );
    let lockfile = node.aux().join("charts.toml");
    std::fs::write(
        &lockfile,
        lock_text(|c| (format!("{base}/{c}.tgz"), pin(c))),
    )
    .unwrap();
    node.setenv("KATESKIT_CHART_LOCK", lockfile.to_str().unwrap());
    node.run(&[]);
    let j = node.journal();
    (node, base, j)
}

fn phase<'a>(j: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    j["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap()
}

/// The manifests directory holds no HelmChart naming a repository, nor one for `chart`.
fn assert_no_helmchart_for(node: &Node, chart: &str) {
    let manifests = node.path("var/lib/rancher/k3s/server/manifests");
    for f in std::fs::read_dir(&manifests)
        .into_iter()
        .flatten()
        .flatten()
    {
        let t = std::fs::read_to_string(f.path()).unwrap();
        assert!(!t.contains("repo: "), "{}: {t}", f.path().display());
        assert!(
            !t.contains(&format!("chart: {chart}")) && !t.contains(&format!("name: {chart}\n")),
            "{}: {t}",
            f.path().display()
        );
    }
}

/// On a server, a corrupted archive fails k3s-config naming the chart: k3s is not started and
/// no HelmChart for the chart (repo mode or static) is written.
#[test]
fn agent_refuses_a_corrupted_chart_and_never_writes_a_repo_helmchart() {
    let (node, base, j) = run_rack_server(
        |c| {
            let mut b = archive(c);
            if c == "dex" {
                b.push(b'!');
            }
            b
        },
        |c| Some(digest(&archive(c))),
    );
    let p = phase(&j, "k3s-config");
    assert_eq!(p["outcome"], "failed", "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("chart `dex`") && detail.contains(&format!("{base}/dex.tgz")),
        "{detail}"
    );
    assert!(!node.path(&format!("{STATIC_CHARTS}/dex.tgz")).exists());
    assert_no_helmchart_for(&node, "dex");
    assert_eq!(phase(&j, "start")["outcome"], "not-run");
}

/// Rook's CSI drivers chart is verified with Rook's operator chart in the join phase: a
/// served archive that does not match its digest stops only Rook, named, with no Rook file.
#[test]
fn a_corrupt_csi_drivers_archive_stops_only_rook() {
    let (node, base, j) = run_rack_server(
        |c| {
            if c == "rook_csi_drivers" {
                b"not the pinned chart".to_vec()
            } else {
                archive(c)
            }
        },
        |c| Some(digest(&archive(c))),
    );
    assert_eq!(phase(&j, "k3s-config")["outcome"], "done", "{j}");
    assert_eq!(phase(&j, "start")["outcome"], "done");
    let p = phase(&j, "join");
    assert_eq!(p["outcome"], "failed", "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("chart `rook_csi_drivers`")
            && detail.contains(&format!("{base}/rook_csi_drivers.tgz")),
        "{detail}"
    );
    assert!(!node
        .path(&format!("{STATIC_CHARTS}/rook_csi_drivers.tgz"))
        .exists());
    assert!(!node
        .path("var/lib/rancher/k3s/server/manifests/rook-ceph-operator.yaml")
        .exists());
    assert_no_helmchart_for(&node, "ceph-csi-drivers");
}

/// A Rook chart without digest in the lock stops only Rook: k3s starts with the other charts,
/// the join phase fails naming rook_ceph, and no Rook file is written.
#[test]
fn rook_without_digest_stops_only_rook() {
    let (node, base, j) =
        run_rack_server(archive, |c| (c != "rook_ceph").then(|| digest(&archive(c))));
    assert_eq!(phase(&j, "k3s-config")["outcome"], "done", "{j}");
    assert_eq!(phase(&j, "start")["outcome"], "done");
    assert!(node
        .read("var/lib/rancher/k3s/server/manifests/kateskit-dex.yaml")
        .contains("static/charts/dex.tgz"));
    let p = phase(&j, "join");
    assert_eq!(p["outcome"], "failed", "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("chart `rook_ceph`")
            && detail.contains(&format!("{base}/rook_ceph.tgz"))
            && detail.contains("no digest"),
        "{detail}"
    );
    assert!(!node
        .path(&format!("{STATIC_CHARTS}/rook_ceph.tgz"))
        .exists());
    assert!(!node
        .path("var/lib/rancher/k3s/server/manifests/rook-ceph-operator.yaml")
        .exists());
    assert_no_helmchart_for(&node, "rook-ceph");
}
