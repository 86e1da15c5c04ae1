//! Seeding Rook's `rook-ceph-mon` Secret from the run after k3s, against the HTTPS STAND-IN for
//! k3s's API (tests/agent_support/standin.rs, not Kubernetes): the Secret is created before any
//! Rook manifest exists, a second run finds it and changes nothing, a Secret with another fsid
//! stops the deploy with both fsids named, and no Ceph key reaches status, journal or logs.

mod agent_support;

use agent_support::standin::{self, StandIn};
use agent_support::{Cluster, Node};
use base64::Engine;
use serde_json::{json, Value};

const ROOK_FILES: [&str; 2] = [
    "var/lib/rancher/k3s/server/manifests/rook-ceph-operator.yaml",
    "var/lib/rancher/k3s/server/manifests/rook-ceph-cluster.yaml",
];

struct Setup {
    _cluster: Cluster,
    cfg: Value,
    node: Node,
    api: StandIn,
}

fn b64(x: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(x)
}

/// Server s1 of examples/rack (it carries the Ceph layout) with its admin kubeconfig pointing
/// at a fresh stand-in.
fn setup() -> Setup {
    setup_node("s1")
}

/// Server `name` of examples/rack, as [`setup`].
fn setup_node(name: &str) -> Setup {
    let cluster = Cluster::new("rack");
    let cfg = cluster.render(name);
    let node = Node::new();
    node.image_defaults(&cfg);
    let (api, ca) = standin::for_cluster(cluster.dir.path());
    node.write(
        "etc/rancher/k3s/k3s.yaml",
        standin::server_kubeconfig(&api, &ca),
    );
    Setup {
        _cluster: cluster,
        cfg,
        node,
        api,
    }
}

impl Setup {
    fn run(&self, verify: bool, args: &[&str]) -> std::process::Output {
        // No peer answers s1's re-provisioning probe (a closed local port), so it stays the
        // first server.
        let verify = if verify {
            format!(
                "kateskit.k3s.server_urls[]=https://127.0.0.1:1 kateskit.agent.supervisor_url={}",
                self.api.url()
            )
        } else {
            "kateskit.agent.verify_join=false".into()
        };
        self.node.set_cmdline(&format!(
            "console=ttyS0 {verify} kateskit.agent.join_timeout_s=5 kateskit.agent.ready_timeout_s=5 kateskit.agent.http_timeout_s=2"
        ));
        let out = self.node.run_with_args(args, &[]);
        self.assert_no_keys(&out);
        out
    }

    fn secret(&self, k: &str) -> String {
        self.cfg["secrets"][k].as_str().unwrap().to_string()
    }

    /// A key from the first server's node config (the only one that carries the Ceph keys).
    fn first_server_secret(&self, k: &str) -> String {
        self._cluster.render("s1")["secrets"][k]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Neither Ceph key, raw or base64, is in status.json, journal.json or the output.
    fn assert_no_keys(&self, out: &std::process::Output) {
        let mut texts = vec![
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        ];
        for f in ["run/kateskit/status.json", "var/lib/kateskit/journal.json"] {
            if let Ok(t) = std::fs::read_to_string(self.node.path(f)) {
                texts.push(t);
            }
        }
        for k in ["ceph_mon_secret", "ceph_admin_secret"] {
            let key = self.first_server_secret(k);
            for t in &texts {
                assert!(!t.contains(&key) && !t.contains(&b64(&key)), "{k} leaked");
            }
        }
    }

    fn join(&self) -> (String, String) {
        let j = self.node.journal();
        let p = j["phases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "join")
            .unwrap()
            .clone();
        (
            p["outcome"].as_str().unwrap().into(),
            p["detail"].as_str().unwrap_or("").into(),
        )
    }
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The run before k3s writes the charts but no Rook file; the run after k3s creates the
/// Secret (namespace first), with agent.verify_join off too, and only then writes Rook's files.
#[test]
fn secret_is_created_before_any_rook_manifest() {
    let s = setup();
    let out = s.run(false, &["--before-k3s"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(s.join().0, "skipped");
    for f in ROOK_FILES {
        assert!(!s.node.path(f).exists(), "k3s-config wrote {f}");
    }
    assert!(s
        .node
        .path("var/lib/rancher/k3s/server/manifests/kateskit-dex.yaml")
        .exists());
    assert!(
        s.api.api.lock().unwrap().log.is_empty(),
        "no API call before k3s"
    );

    s.api.api.lock().unwrap().watch = ROOK_FILES.iter().map(|f| s.node.path(f)).collect();
    let out = s.run(false, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let (outcome, detail) = s.join();
    assert_eq!(outcome, "done", "{detail}");
    let fsid = s.secret("ceph_fsid");
    assert!(
        detail.contains("Secret rook-ceph/rook-ceph-mon created")
            && detail.contains(&fsid)
            && detail.contains("agent.verify_join is false"),
        "{detail}"
    );
    let api = s.api.api.lock().unwrap();
    assert_eq!(
        api.seen_at_create,
        vec![("rook-ceph-mon".to_string(), vec![false, false])],
        "the Secret exists before either Rook file"
    );
    assert_eq!(
        api.log[..2],
        [
            "POST /api/v1/namespaces -> 201",
            "POST /api/v1/namespaces/rook-ceph/secrets -> 201"
        ]
    );
    let stored = &api.secrets[&("rook-ceph".into(), "rook-ceph-mon".into())];
    assert_eq!(stored["data"]["fsid"], b64(&fsid));
    assert_eq!(
        stored["data"]["mon-secret"],
        b64(&s.secret("ceph_mon_secret"))
    );
    assert_eq!(stored["data"]["ceph-username"], b64("client.admin"));
    assert_eq!(
        stored["data"]["ceph-secret"],
        b64(&s.secret("ceph_admin_secret"))
    );
    for f in ROOK_FILES {
        assert!(s.node.path(f).exists(), "{f} written after the Secret");
    }
}

/// A second full run (join verified this time) finds the Secret (409, same fsid), keeps it
/// and rewrites no file.
#[test]
fn second_run_finds_the_secret_and_changes_nothing() {
    let s = setup();
    let out = s.run(true, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let (_, detail) = s.join();
    assert!(
        detail.contains("node Ready") && detail.contains("created"),
        "{detail}"
    );
    let stored = s.api.api.lock().unwrap().secrets.clone();
    let before = s.node.snapshot();
    let mut mtimes = s.node.mtimes();
    s.api.api.lock().unwrap().log.clear();

    let out = s.run(true, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let (outcome, detail) = s.join();
    assert_eq!(outcome, "done");
    assert!(
        detail.contains("already present with the same fsid")
            && detail.contains("Rook manifests unchanged"),
        "{detail}"
    );
    let api = s.api.api.lock().unwrap();
    assert!(
        api.log
            .contains(&"POST /api/v1/namespaces/rook-ceph/secrets -> 409".to_string())
            && api.log.contains(
                &"GET /api/v1/namespaces/rook-ceph/secrets/rook-ceph-mon -> 200".to_string()
            ),
        "{:?}",
        api.log
    );
    assert_eq!(api.secrets, stored, "the Secret is never replaced");
    let mut after_snap = s.node.snapshot();
    let mut before = before;
    for m in [&mut before, &mut after_snap] {
        m.retain(|p, _| !p.ends_with("journal.json") && !p.ends_with("status.json"));
    }
    assert_eq!(after_snap, before, "second run changed the tree");
    let mut after = s.node.mtimes();
    for m in [&mut mtimes, &mut after] {
        m.retain(|p, _| !p.ends_with("journal.json") && !p.starts_with("run"));
    }
    assert_eq!(after, mtimes, "second run rewrote files");
}

/// A Secret that holds another fsid (a Rook cluster this cluster directory does not describe)
/// fails the phase with both fsids and the way to adopt it; no Rook file is written.
#[test]
fn secret_with_another_fsid_stops_the_rook_deploy() {
    let s = setup();
    let theirs = "0b7a2f4e-1c3d-4e5f-8a9b-0c1d2e3f4a5b";
    s.api.api.lock().unwrap().insert_secret(
        "rook-ceph",
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "rook-ceph-mon", "namespace": "rook-ceph"},
               "data": {"fsid": b64(theirs), "mon-secret": b64("AQx"),
                        "ceph-username": b64("client.admin"), "ceph-secret": b64("AQy")}}),
    );
    let out = s.run(false, &[]);
    assert!(!out.status.success());
    let (outcome, detail) = s.join();
    assert_eq!(outcome, "failed");
    let ours = s.secret("ceph_fsid");
    assert!(
        detail.contains(theirs) && detail.contains(&ours) && detail.contains("secrets/ceph-fsid"),
        "{detail}"
    );
    for f in ROOK_FILES {
        assert!(!s.node.path(f).exists(), "{f} written despite the conflict");
    }
    let st = s.node.status();
    assert_eq!(
        (st["ok"].clone(), st["phase"].clone()),
        (json!(false), json!("join"))
    );
    assert_eq!(
        s.api.api.lock().unwrap().secrets[&("rook-ceph".into(), "rook-ceph-mon".into())]["data"]
            ["fsid"],
        b64(theirs),
        "the existing Secret is left alone"
    );
}

/// A node config rendered before the Ceph keys existed deploys its charts, but not Rook (Rook
/// would choose its own fsid); the error says to re-render.
#[test]
fn node_config_without_ceph_keys_refuses_to_deploy_rook() {
    let s = setup();
    let mut cfg = s.cfg.clone();
    let secrets = cfg["secrets"].as_object_mut().unwrap();
    secrets.remove("ceph_mon_secret");
    secrets.remove("ceph_admin_secret");
    s.node.image_defaults(&cfg);
    let out = s.run(false, &[]);
    assert!(!out.status.success());
    let (outcome, detail) = s.join();
    assert_eq!(outcome, "failed");
    assert!(
        detail.contains("no secrets.ceph_mon_secret") && detail.contains("re-render"),
        "{detail}"
    );
    assert!(s.api.api.lock().unwrap().secrets.is_empty());
    for f in ROOK_FILES {
        assert!(!s.node.path(f).exists());
    }
    assert!(s
        .node
        .path("var/lib/rancher/k3s/server/manifests/kateskit-dex.yaml")
        .exists());
}

/// A server that does not seed (s2 carries no Ceph keys and no CA files) never creates the
/// Secret: without it, the phase fails at the bound naming the first server, no Rook file is
/// written; once the first server's Secret exists, s2 checks its fsid and writes Rook's files.
/// It writes no CA file either (k3s's bootstrap hands a joining server the CAs).
#[test]
fn a_joining_server_waits_for_the_first_servers_secret() {
    let s = setup_node("s2");
    assert!(s.cfg["secrets"].get("ceph_mon_secret").is_none());
    let out = s.run(false, &[]);
    assert!(!out.status.success());
    let (outcome, detail) = s.join();
    assert_eq!(outcome, "failed");
    assert!(
        detail.contains("waiting for Secret rook-ceph/rook-ceph-mon")
            && detail.contains("the first server of cluster.toml creates it"),
        "{detail}"
    );
    for f in ROOK_FILES {
        assert!(!s.node.path(f).exists(), "{f} written before the Secret");
    }
    assert!(!s.node.path("var/lib/rancher/k3s/server/tls").exists());
    {
        let api = s.api.api.lock().unwrap();
        assert!(api.secrets.is_empty());
        assert!(
            api.log.iter().all(|l| !l.starts_with("POST")),
            "{:?}",
            api.log
        );
    }

    let fsid = s.secret("ceph_fsid");
    s.api.api.lock().unwrap().insert_secret(
        "rook-ceph",
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "rook-ceph-mon", "namespace": "rook-ceph"},
               "data": {"fsid": b64(&fsid), "mon-secret": b64(&s.first_server_secret("ceph_mon_secret")),
                        "ceph-username": b64("client.admin"),
                        "ceph-secret": b64(&s.first_server_secret("ceph_admin_secret"))}}),
    );
    let out = s.run(false, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let (outcome, detail) = s.join();
    assert_eq!(outcome, "done", "{detail}");
    assert!(
        detail.contains("seeded by the first server, same fsid") && detail.contains(&fsid),
        "{detail}"
    );
    for f in ROOK_FILES {
        assert!(s.node.path(f).exists(), "{f} written after the Secret");
    }
    assert!(s
        .api
        .api
        .lock()
        .unwrap()
        .log
        .iter()
        .all(|l| !l.starts_with("POST")));
}

/// Every chart, Rook's included, comes from k3s's static directory: archives the image ships
/// (matching the lock) are kept, the others are fetched from the stand-in chart repository and
/// verified; no HelmChart names a repository.
#[test]
fn every_chart_is_served_from_the_static_directory() {
    let s = setup();
    let bundle: kateskit::spec::BundleSpec =
        serde_json::from_value(s.cfg["bundle"].clone()).unwrap();
    let archives = kateskit::bundle::charts::archives(&bundle);
    assert!(
        archives.contains(&"rook_ceph") && archives.contains(&"rook_csi_drivers"),
        "{archives:?}"
    );
    let dir = "var/lib/rancher/k3s/server/static/charts";
    s.node.write(
        &format!("{dir}/dex.tgz"),
        agent_support::charts::archive("dex"),
    );
    use std::os::unix::fs::MetadataExt;
    let inode = |c: &str| {
        std::fs::metadata(s.node.path(&format!("{dir}/{c}.tgz")))
            .unwrap()
            .ino()
    };
    let shipped = inode("dex");
    let out = s.run(false, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(inode("dex"), shipped, "a matching shipped archive is kept");
    for c in &archives {
        assert_eq!(
            std::fs::read(s.node.path(&format!("{dir}/{c}.tgz"))).unwrap(),
            agent_support::charts::archive(c),
            "{c}"
        );
    }
    let dex = s
        .node
        .read("var/lib/rancher/k3s/server/manifests/kateskit-dex.yaml");
    assert!(dex.contains("chart: https://%{KUBERNETES_API}%/static/charts/dex.tgz"));
    let op = s.node.read(ROOK_FILES[0]);
    assert!(
        op.contains("chart: https://%{KUBERNETES_API}%/static/charts/rook_ceph.tgz")
            && op.contains("chart: https://%{KUBERNETES_API}%/static/charts/rook_csi_drivers.tgz")
            && !op.contains("repo:"),
        "{op}"
    );
}
