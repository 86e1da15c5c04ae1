//! Chart archives are verified before k3s sees them, against a STAND-IN chart repository
//! (tests/agent_support/charts.rs: plain HTTP on 127.0.0.1 serving fake archives, not Helm):
//! a good archive is written into the static charts directory, a corrupted or unpinned one fails
//! naming the chart and URL and leaves no archive and no repo-mode HelmChart behind.

mod agent_support;

use std::time::{Duration, Instant};

use agent_support::charts::{archive, digest, lock_text, serve};
use agent_support::{Cluster, Node};
use kateskit::agent::charts_fetch::{ensure, Action, ChartFetchError, Http, STATIC_CHARTS};
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

/// On a server, a corrupted archive fails k3s-config naming the chart: k3s is not started and
/// no HelmChart for the chart (repo mode or static) is written.
#[test]
fn agent_refuses_a_corrupted_chart_and_never_writes_a_repo_helmchart() {
    let cluster = Cluster::new("rack");
    let cfg = cluster.render("s1");
    let mut node = Node::new();
    node.image_defaults(&cfg);
    node.set_cmdline("console=ttyS0 kateskit.agent.verify_join=false kateskit.agent.http_timeout_s=2 kateskit.agent.fetch_retries=0");
    let base = serve(
        [
            "dex",
            "auth_proxy",
            "dashboard",
            "cert_manager",
            "internal_dns",
            "rook_ceph",
        ]
        .iter()
        .map(|c| {
            let mut b = archive(c);
            if *c == "dex" {
                b.push(b'!');
            }
            (format!("/{c}.tgz"), b)
        })
        .collect(),
    );
    let lockfile = node.aux().join("charts.toml");
    std::fs::write(
        &lockfile,
        lock_text(|c| (format!("{base}/{c}.tgz"), Some(digest(&archive(c))))),
    )
    .unwrap();
    node.setenv("KATESKIT_CHART_LOCK", lockfile.to_str().unwrap());
    let out = node.run(&[]);
    assert!(!out.status.success());
    let j = node.journal();
    let phase = j["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "k3s-config")
        .unwrap();
    assert_eq!(phase["outcome"], "failed", "{phase}");
    let detail = phase["detail"].as_str().unwrap();
    assert!(
        detail.contains("chart `dex`") && detail.contains(&format!("{base}/dex.tgz")),
        "{detail}"
    );
    assert!(!node.path(&format!("{STATIC_CHARTS}/dex.tgz")).exists());
    let manifests = node.path("var/lib/rancher/k3s/server/manifests");
    for f in std::fs::read_dir(&manifests)
        .into_iter()
        .flatten()
        .flatten()
    {
        let t = std::fs::read_to_string(f.path()).unwrap();
        assert!(!t.contains("repo: "), "{}: {t}", f.path().display());
        assert!(!t.contains("chart: dex"), "{}: {t}", f.path().display());
    }
    let start = j["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "start")
        .unwrap();
    assert_eq!(start["outcome"], "not-run");
}
