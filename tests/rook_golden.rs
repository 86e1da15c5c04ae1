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

fn docs(yaml: &str) -> Vec<serde_yaml::Value> {
    serde_yaml::Deserializer::from_str(yaml)
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
    let values: serde_yaml::Value =
        serde_yaml::from_str(op["spec"]["valuesContent"].as_str().unwrap()).unwrap();
    let vol = &values["csi"]["csiRBDPluginVolume"][0]["hostPath"]["path"];
    assert_eq!(vol.as_str(), Some(rook::NIXOS_MODULES));
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
