//! Nix evaluation tier: `nix/render.nix` (builtins only) must produce, node by node, exactly the
//! public NodeConfig that Rust's `kateskit::nodecfg::render_public` produces for the same
//! cluster.toml. Both sides run in this one test, so the two renderers cannot drift apart.

mod nixtool;

use std::path::Path;

use kateskit::{nodecfg, spec};
use nixtool::{eval_json, eval_raw, nix_str, repo};
use serde_json::Value;

/// Compares every node of `toml` (a cluster.toml path) between Rust and Nix; returns the count.
fn compare(state: &Path, toml: &Path) -> Option<usize> {
    let loaded = spec::load(toml).unwrap_or_else(|e| panic!("{}: {e}", toml.display()));
    let nix = eval_json(state, &format!("import ./nix/render.nix {}", nix_str(toml)))?;
    let nix = nix
        .as_object()
        .expect("render.nix returns an attrset of nodes");
    let names: Vec<&str> = loaded.spec.nodes.iter().map(|n| n.name.as_str()).collect();
    let mut nix_names: Vec<&str> = nix.keys().map(String::as_str).collect();
    nix_names.sort();
    let mut want = names.clone();
    want.sort();
    assert_eq!(
        nix_names,
        want,
        "{}: node names differ between Nix and Rust",
        toml.display()
    );
    for name in &names {
        let rust =
            serde_json::to_value(nodecfg::render_public(&loaded.spec, name).unwrap()).unwrap();
        let from_nix = &nix[*name];
        assert_eq!(
            from_nix,
            &rust,
            "{} node {name}: Nix and Rust disagree\nnix:  {}\nrust: {}",
            toml.display(),
            serde_json::to_string_pretty(from_nix).unwrap(),
            serde_json::to_string_pretty(&rust).unwrap()
        );
    }
    Some(names.len())
}

#[test]
fn render_nix_equals_rust_for_examples() {
    let state = tempfile::tempdir().unwrap();
    let Some(homelab) = compare(state.path(), &repo().join("examples/homelab/cluster.toml")) else {
        return;
    };
    assert_eq!(homelab, 1);
    let rack = compare(state.path(), &repo().join("examples/rack/cluster.toml")).unwrap();
    assert_eq!(rack, 7);
}

/// The VM fixtures, among them three servers without a VIP: joining nodes list every other
/// server and the SANs name all three.
#[test]
fn render_nix_equals_rust_for_the_vm_fixtures() {
    let state = tempfile::tempdir().unwrap();
    let fixtures = repo().join("nix/tests/fixtures");
    let Some(trio) = compare(state.path(), &fixtures.join("trio/cluster.toml")) else {
        return;
    };
    assert_eq!(trio, 3);
    // Every other fixture, the bundle tests' among them (kube-vip's VIP and interface).
    let mut rest: Vec<_> = std::fs::read_dir(&fixtures)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "trio")
        .collect();
    rest.sort();
    assert!(rest.len() >= 6, "{rest:?}");
    for f in rest {
        compare(state.path(), &f.join("cluster.toml")).unwrap();
    }
    let s2 = eval_json(
        state.path(),
        &format!(
            "(import ./nix/render.nix {}).s2.k3s",
            nix_str(&fixtures.join("trio/cluster.toml"))
        ),
    )
    .unwrap();
    assert_eq!(
        s2["server_urls"],
        serde_json::json!(["https://192.168.1.1:6443", "https://192.168.1.3:6443"])
    );
}

/// Serde defaults that are easy to get wrong: a component table without `enable` is off, an
/// absent one takes its default, empty `values` are omitted, MACs are lower-cased, optional keys
/// stay absent, a DHCP first server is listed by name, and tls_sans repeats collapse.
const EDGE: &str = r#"
[cluster]
name = "edge"

[network]
flannel_backend = "host-gw"
api_vip = "192.0.2.50"
tls_sans = ["192.0.2.50", "api.edge.example", "api.edge.example"]

[bundle]
storage = "longhorn"
traefik = {}
coredns = { enable = false, values = {} }
metrics_server = { enable = true, values = { replicas = 2, args = ["--kubelet-insecure-tls"], nested = { a = 1.5, b = true } } }
dashboard = { enable = true }

[[nodes]]
name = "dhcp-server"
role = "server"
macs = ["52:54:00:AB:CD:EF"]

[[nodes]]
name = "second"
role = "server"
install_disk = { max_size_gib = 64, serial = "S3R1AL" }
network = { interface = "eno1", addresses = ["192.0.2.61/24", "198.51.100.7/24"] }

[[nodes]]
name = "worker"
role = "agent"
osd_disks = [{ by_id = "/dev/disk/by-id/ata-X", wipe = "if-foreign" }]
labels = { "a" = "b" }
taints = ["k=v:NoSchedule"]
"#;

#[test]
fn render_nix_equals_rust_on_defaults_and_optional_keys() {
    let state = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("cluster.toml");
    std::fs::write(&toml, EDGE).unwrap();
    let Some(n) = compare(state.path(), &toml) else {
        return;
    };
    assert_eq!(n, 3);
    // The directory form of the argument reads DIR/cluster.toml.
    let by_dir = eval_json(
        state.path(),
        &format!(
            "(import ./nix/render.nix {}).second.k3s",
            nix_str(dir.path())
        ),
    )
    .unwrap();
    assert_eq!(
        by_dir["server_url"],
        Value::from("https://192.0.2.50:6443"),
        "joining nodes use the VIP"
    );
    assert_eq!(
        by_dir["server_urls"],
        serde_json::json!(["https://dhcp-server:6443"])
    );
    assert_eq!(by_dir["cluster_init"], Value::from(false));
    let first = eval_json(
        state.path(),
        &format!(
            "(import ./nix/render.nix {}).dhcp-server.k3s",
            nix_str(&toml)
        ),
    )
    .unwrap();
    assert_eq!(first["cluster_init"], Value::from(true));
    assert!(first.get("server_url").is_none() && first.get("node_ip").is_none());
}

#[test]
fn render_nix_rejects_unknown_keys_and_serverless_clusters() {
    let state = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            EDGE.replace(
                "flannel_backend = \"host-gw\"",
                "flannel_backend = \"host-gw\"\nflanel = 1",
            ),
            "unknown key `flanel` in [network]",
        ),
        (
            EDGE.replace(
                "flannel_backend = \"host-gw\"",
                "flannel_backend = \"ipsec\"",
            ),
            "network.flannel_backend = \"ipsec\" is not one of",
        ),
        (
            EDGE.replace("role = \"server\"", "role = \"agent\""),
            "no node has role = \"server\"",
        ),
        (
            EDGE.replace("name = \"edge\"", "name = \"edge\"\ndatastore = \"sqlite\""),
            "datastore = \"sqlite\" serves one k3s server",
        ),
        (
            EDGE.replace(
                "name = \"edge\"",
                "name = \"edge\"\ndatastore = \"postgres\"",
            ),
            "cluster.datastore = \"postgres\" is not one of",
        ),
        (
            EDGE.replace("name = \"second\"", "name = \"worker\""),
            "node name `worker` is used twice",
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let toml = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&toml, text).unwrap();
        let Some(out) = eval_raw(
            state.path(),
            &format!("import ./nix/render.nix {}", nix_str(&toml)),
        ) else {
            return;
        };
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "case {i} evaluated but should fail");
        assert!(err.contains(want), "case {i}: expected `{want}` in:\n{err}");
        // Rust agrees that these specs are unusable (parse error or validation error).
        assert!(
            spec::load(&toml).is_err(),
            "case {i}: Rust accepted a spec Nix rejects"
        );
    }
}

/// Rook's layout carries the servers' taints (for the mons' tolerations) and the owner's
/// pool replica count; both renderers agree with and without `[bundle.rook]`.
#[test]
fn render_nix_equals_rust_for_rook_settings() {
    let state = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("cluster.toml");
    let rook = r#"
[cluster]
name = "ceph"

[bundle]
storage = "rook-ceph"

[bundle.rook]
replicas = 1

[[nodes]]
name = "s1"
role = "server"
taints = ["CriticalAddonsOnly=true:NoExecute"]
osd_disks = [{ by_id = "/dev/disk/by-id/ata-S1" }]

[[nodes]]
name = "s2"
role = "server"
taints = ["dedicated=ceph:NoSchedule", "CriticalAddonsOnly=true:NoExecute"]
osd_disks = [{ by_id = "/dev/disk/by-id/ata-S2" }]

[[nodes]]
name = "s3"
role = "server"
"#;
    for (text, replicas) in [
        (rook.to_string(), Some(1)),
        (rook.replace("replicas = 1\n", ""), None),
    ] {
        std::fs::write(&toml, &text).unwrap();
        let Some(n) = compare(state.path(), &toml) else {
            return;
        };
        assert_eq!(n, 3);
        let layout = eval_json(
            state.path(),
            &format!(
                "(import ./nix/render.nix {}).s1.storage.ceph_cluster",
                nix_str(&toml)
            ),
        )
        .unwrap();
        assert_eq!(layout["server_taints"].as_array().unwrap().len(), 3);
        assert_eq!(layout.get("replicas").and_then(Value::as_u64), replicas);
    }
}

/// Both datastores on one server: embedded etcd (`cluster_init`) by default, none with SQLite;
/// Nix and Rust agree node by node.
#[test]
fn render_nix_equals_rust_for_each_datastore_on_one_server() {
    let state = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let one = "[cluster]\nname = \"one\"\n@DS@\n[[nodes]]\nname = \"box\"\nrole = \"server\"\n";
    for (ds, init) in [
        ("", true),
        ("datastore = \"etcd\"", true),
        ("datastore = \"sqlite\"", false),
    ] {
        let toml = dir.path().join("one.toml");
        std::fs::write(&toml, one.replace("@DS@", ds)).unwrap();
        if compare(state.path(), &toml).is_none() {
            return;
        }
        let k3s = eval_json(
            state.path(),
            &format!("(import ./nix/render.nix {}).box.k3s", nix_str(&toml)),
        )
        .unwrap();
        assert_eq!(k3s["cluster_init"], Value::from(init), "{ds:?}");
    }
}
