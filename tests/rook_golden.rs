//! Rook manifests for examples/rack against golden files, plus structural checks that do not
//! depend on the golden bytes.
//!
//! Regenerate after an intended change: `KATESKIT_BLESS=1 cargo test --test rook_golden`,
//! then review the diff under tests/golden/rook/.

use std::path::{Path, PathBuf};

use kateskit::bundle::rook::{self, RookError};
use kateskit::spec::{self, ClusterSpec, StorageDriver};

fn rack() -> ClusterSpec {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    spec::load(&root.join("examples/rack/cluster.toml"))
        .expect("examples/rack is valid")
        .spec
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/rook")
}

#[test]
fn rack_manifests_match_golden_files() {
    let manifests = rook::render(&rack()).expect("rack renders");
    let names: Vec<&str> = manifests.iter().map(|m| m.file_name.as_str()).collect();
    assert_eq!(names, ["rook-ceph-operator.yaml", "rook-ceph-cluster.yaml"]);
    let bless = std::env::var_os("KATESKIT_BLESS").is_some();
    for m in &manifests {
        let path = golden_dir().join(&m.file_name);
        if bless {
            std::fs::write(&path, &m.yaml)
                .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "reading {}: {e}; run KATESKIT_BLESS=1 cargo test --test rook_golden",
                path.display()
            )
        });
        assert_eq!(
            m.yaml, want,
            "{} differs from the golden file; if intended, re-bless",
            m.file_name
        );
    }
}

fn docs(yaml: &str) -> Vec<serde_yaml_ng::Value> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect()
}

#[test]
fn cluster_lists_exactly_the_declared_disks() {
    let spec = rack();
    let m = rook::render(&spec).unwrap();
    let d = docs(&m[1].yaml);
    assert_eq!(d[0]["kind"].as_str(), Some("Namespace"));
    let cluster = &d[1]["spec"];
    assert_eq!(d[1]["kind"].as_str(), Some("CephCluster"));
    assert_eq!(cluster["storage"]["useAllNodes"].as_bool(), Some(false));
    assert_eq!(cluster["storage"]["useAllDevices"].as_bool(), Some(false));
    assert_eq!(cluster["mon"]["count"].as_u64(), Some(3));
    assert_eq!(cluster["dataDirHostPath"].as_str(), Some("/var/lib/rook"));
    let rendered: Vec<(String, Vec<String>)> = cluster["storage"]["nodes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|n| {
            let devs = n["devices"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|d| d["name"].as_str().unwrap().to_string());
            (n["name"].as_str().unwrap().to_string(), devs.collect())
        })
        .collect();
    let declared: Vec<(String, Vec<String>)> = spec
        .nodes
        .iter()
        .filter(|n| !n.osd_disks.is_empty())
        .map(|n| {
            (
                n.name.clone(),
                n.osd_disks.iter().map(|d| d.by_id.clone()).collect(),
            )
        })
        .collect();
    assert_eq!(rendered, declared);
    assert!(rendered
        .iter()
        .all(|(_, devs)| devs.iter().all(|d| d.starts_with("/dev/disk/by-id/"))));

    let tol = &cluster["placement"]["osd"]["tolerations"][0];
    assert_eq!(
        (tol["key"].as_str(), tol["effect"].as_str()),
        (Some("dedicated"), Some("PreferNoSchedule"))
    );
    assert_eq!(
        cluster["placement"]["prepareosd"],
        cluster["placement"]["osd"]
    );

    let op = &docs(&m[0].yaml)[0];
    assert_eq!(op["apiVersion"].as_str(), Some("helm.cattle.io/v1"));
    assert_eq!(
        op["spec"]["repo"].as_str(),
        Some("https://charts.rook.io/release")
    );
    assert_eq!(op["spec"]["targetNamespace"].as_str(), Some("rook-ceph"));
    assert_eq!(op["spec"]["failurePolicy"].as_str(), Some("abort"));
}

#[test]
fn refuses_specs_rook_cannot_serve() {
    let mut spec = rack();
    spec.bundle.storage = StorageDriver::LocalPath;
    assert_eq!(rook::render(&spec), Err(RookError::NotRook("local-path")));
    let mut spec = rack();
    spec.nodes.iter_mut().for_each(|n| n.osd_disks.clear());
    assert_eq!(rook::render(&spec), Err(RookError::NoOsdDisks));
    let mut spec = rack();
    spec.nodes.retain(|n| n.role != spec::Role::Server);
    assert_eq!(rook::render(&spec), Err(RookError::NoServers));
    // Two servers: one mon (odd), two mgrs.
    let mut spec = rack();
    let third = spec.nodes.iter().position(|n| n.name == "s3").unwrap();
    spec.nodes.remove(third);
    let d = docs(&rook::render(&spec).unwrap()[1].yaml);
    assert_eq!(d[1]["spec"]["mon"]["count"].as_u64(), Some(1));
}

/// Rook's chart pins (the operator and, since v1.20, the CSI drivers) live in
/// bundle/charts.toml like the others, and an air-gapped image (every archive shipped, Rook's
/// included) gets both charts from k3s's static directory, the operator's first.
#[test]
fn rook_charts_come_from_the_lock_and_the_static_directory() {
    use kateskit::bundle::charts::{self, ChartLock, ChartSource};
    let lock = ChartLock::bundled().unwrap();
    let pin = |c: &str| {
        let p = &lock.charts[c];
        (p.chart.clone(), p.version.clone(), p.namespace.clone())
    };
    let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(pin(charts::ROOK), s("rook-ceph", "v1.20.6", "rook-ceph"));
    assert_eq!(
        pin(charts::ROOK_CSI),
        s("ceph-csi-drivers", "1.0.4", "rook-ceph")
    );
    for c in charts::ROOK_CHARTS {
        let p = &lock.charts[c];
        assert!(!p.verified || p.digest.starts_with("sha256:"), "{c}");
    }
    let spec = rack();
    let archives = charts::archives(&spec.bundle);
    assert!(charts::ROOK_CHARTS.iter().all(|c| archives.contains(c)));
    let layout = kateskit::nodecfg::ceph_layout(&spec);
    let m = rook::render_layout(&layout, &lock, ChartSource::Static).unwrap();
    let ops = docs(&m[0].yaml);
    let urls: Vec<_> = ops.iter().map(|d| d["spec"]["chart"].as_str()).collect();
    assert_eq!(
        urls,
        [
            Some("https://%{KUBERNETES_API}%/static/charts/rook_ceph.tgz"),
            Some("https://%{KUBERNETES_API}%/static/charts/rook_csi_drivers.tgz")
        ]
    );
    assert!(ops.iter().all(|d| d["spec"]["repo"].is_null()));
    let repo = rook::render_layout(&layout, &lock, ChartSource::Repo).unwrap();
    let versions: Vec<_> = docs(&repo[0].yaml)
        .iter()
        .map(|d| d["spec"]["version"].as_str().map(String::from))
        .collect();
    assert_eq!(versions, [Some("v1.20.6".into()), Some("1.0.4".into())]);
    // A lock without one of Rook's tables is named as the cause, with the table.
    let cut = |table: &str| {
        let start = charts::LOCK.find(&format!("\n[{table}]\n")).unwrap();
        let rest = &charts::LOCK[start + 1..];
        let end = rest
            .find("\n[")
            .map_or(charts::LOCK.len(), |e| start + 1 + e);
        let text = format!("{}{}", &charts::LOCK[..start], &charts::LOCK[end..]);
        let short = ChartLock::parse(&text, "short.toml").unwrap();
        rook::render_layout(&layout, &short, ChartSource::Repo)
    };
    for table in charts::ROOK_CHARTS {
        let e = cut(table).unwrap_err();
        assert_eq!(e, RookError::NoLock("short.toml".into(), table.into()));
        assert!(
            e.to_string().contains(&format!("no [{table}] table")),
            "{e}"
        );
    }
}

/// The CSI drivers are named as Rook's StorageClass expects (the RBD one is its provisioner),
/// RBD and CephFS on, and both node plugins get the NixOS module tree: `lib-modules` re-pointed
/// (its built-in mount kept) and `/nix` mounted read-only for the tree's links.
#[test]
fn csi_drivers_carry_rooks_names_and_the_nixos_module_mounts() {
    let m = rook::render(&rack()).unwrap();
    let ops = docs(&m[0].yaml);
    assert_eq!(ops.len(), 2);
    assert_eq!(ops[1]["metadata"]["name"], "ceph-csi-drivers");
    assert_eq!(ops[1]["spec"]["targetNamespace"], "rook-ceph");
    let values: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(ops[1]["spec"]["valuesContent"].as_str().unwrap()).unwrap();
    let drivers = &values["drivers"];
    assert_eq!(
        drivers["rbd"]["name"].as_str(),
        Some(kateskit::bundle::rook_storage::RBD_PROVISIONER)
    );
    assert_eq!(
        drivers["cephfs"]["name"].as_str(),
        Some("rook-ceph.cephfs.csi.ceph.com")
    );
    assert_eq!(values["operatorConfig"]["namespace"], "rook-ceph");
    for (d, on) in [
        ("rbd", true),
        ("cephfs", true),
        ("nfs", false),
        ("nvmeof", false),
    ] {
        assert_eq!(drivers[d]["enabled"].as_bool(), Some(on), "{d}");
        let vols = &drivers[d]["nodePlugin"]["volumes"];
        if !on {
            assert!(vols.is_null(), "{d}");
            continue;
        }
        assert_eq!(
            vols[0]["volume"]["hostPath"]["path"].as_str(),
            Some(rook::NIXOS_MODULES),
            "{d}"
        );
        assert_eq!(vols[0]["volume"]["name"], "lib-modules");
        assert!(vols[0]["mount"].is_null(), "{d}: the built-in mount stays");
        assert_eq!(vols[1]["mount"]["mountPath"], "/nix");
        assert_eq!(vols[1]["mount"]["readOnly"].as_bool(), Some(true));
    }
    // The operator chart has no CSI settings left: v1.20 reads none.
    let op: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(ops[0]["spec"]["valuesContent"].as_str().unwrap()).unwrap();
    assert!(op["csi"].is_null(), "{op:?}");
}

/// The `rook-ceph-mon` Secret carries the four keys Rook v1.20.6 reads, base64 in `data`,
/// and refuses node configs without (or with malformed) Ceph keys.
#[test]
fn mon_secret_holds_the_declared_identity() {
    use base64::Engine;
    let mon = kateskit::pki::cephx::generate();
    let admin = kateskit::pki::cephx::generate();
    let mut s = kateskit::nodecfg::NodeSecrets {
        token: "t".into(),
        ca_hash: "h".into(),
        agent_token: None,
        ca_files: Default::default(),
        ceph_fsid: "6f1c3b52-8d5e-4c1a-9f0b-2d7e4a1c9b33".into(),
        ceph_mon_secret: Some(mon.clone().into()),
        ceph_admin_secret: Some(admin.clone().into()),
        node_password: None,
        ingress_ca_crt: None,
        ingress_ca_key: None,
    };
    let v = rook::mon_secret(&s).unwrap();
    assert_eq!(v["kind"], "Secret");
    assert_eq!(v["metadata"]["name"], "rook-ceph-mon");
    assert_eq!(v["metadata"]["namespace"], "rook-ceph");
    let get = |k: &str| {
        let b = base64::engine::general_purpose::STANDARD
            .decode(v["data"][k].as_str().unwrap())
            .unwrap();
        String::from_utf8(b).unwrap()
    };
    assert_eq!(get("fsid"), s.ceph_fsid);
    assert_eq!(get("mon-secret"), mon);
    assert_eq!(get("ceph-username"), "client.admin");
    assert_eq!(get("ceph-secret"), admin);
    assert_eq!(v["data"].as_object().unwrap().len(), 4);
    assert_eq!(rook::secret_fsid(&v).as_deref(), Some(s.ceph_fsid.as_str()));
    s.ceph_admin_secret = Some("AQAAAA==".into());
    assert!(matches!(
        rook::mon_secret(&s),
        Err(RookError::BadCephKey("ceph_admin_secret", _))
    ));
    s.ceph_mon_secret = None;
    let e = rook::mon_secret(&s).unwrap_err();
    assert_eq!(e, RookError::NoCephKey("ceph_mon_secret"));
    assert!(e.to_string().contains("re-render"), "{e}");
}
