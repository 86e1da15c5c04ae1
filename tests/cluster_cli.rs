//! `kateskit cluster` and `kateskit kubeconfig` end to end: init, check, render, token, merge,
//! golden NodeConfigs and schema drift.

mod cluster_common;

use std::os::unix::fs::PermissionsExt;

use cluster_common::*;
use serde_json::Value;

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn init_writes_private_secrets_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("c");
    kateskit()
        .args(["cluster", "init"])
        .arg(&c)
        .args(["--name", "lab"])
        .assert()
        .success();
    assert_eq!(mode(&c.join("secrets")), 0o700);
    let mut files = 0;
    for e in walk(&c.join("secrets")) {
        if e.is_dir() {
            assert_eq!(mode(&e), 0o700, "{}", e.display());
        } else {
            assert_eq!(mode(&e), 0o600, "{}", e.display());
            files += 1;
        }
    }
    assert_eq!(
        files, 18,
        "10 CA files, service.key, two tokens, ceph-fsid, ceph-mon-secret, ceph-admin-secret, ingress-ca.crt, ingress-ca.key"
    );
    for k in ["ceph-mon-secret", "ceph-admin-secret"] {
        let key = std::fs::read_to_string(c.join("secrets").join(k)).unwrap();
        kateskit::pki::cephx::validate(&key).unwrap_or_else(|e| panic!("{k}: {e}"));
    }
    let template = std::fs::read_to_string(c.join("cluster.toml")).unwrap();
    assert!(template.contains("name = \"lab\""));
    kateskit()
        .args(["cluster", "check"])
        .arg(&c)
        .assert()
        .success();
    let before = std::fs::read(c.join("secrets/token")).unwrap();
    let out = kateskit()
        .args(["cluster", "init"])
        .arg(&c)
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("refusing to overwrite cluster secrets"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(c.join("secrets/token")).unwrap(),
        before,
        "secrets untouched"
    );
    assert!(
        std::fs::read_dir(&c).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".secrets")),
        "no temp dir left"
    );
}

fn walk(p: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

#[test]
fn check_exit_codes_and_warnings() {
    let dir = example_cluster("homelab");
    kateskit()
        .args(["cluster", "check"])
        .arg(dir.path())
        .assert()
        .success();
    let toml = dir.path().join("cluster.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(
        &toml,
        text.replace(
            "role = \"server\"",
            "role = \"server\"\nosd_disks = [{ by_id = \"/dev/sdb\" }]",
        ),
    )
    .unwrap();
    let out = kateskit()
        .args(["cluster", "check"])
        .arg(dir.path())
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains(
            "cluster.toml:20:24: error: OSD disk `/dev/sdb` is not a /dev/disk/by-id/ path"
        ),
        "{err}"
    );
    assert!(
        err.contains("fix: kernel names like /dev/sdX can change"),
        "{err}"
    );
    // A valid file with only warnings exits 0 and prints them on stderr.
    std::fs::write(
        &toml,
        text.replace(
            "role = \"server\"",
            "role = \"server\"\nosd_disks = [{ by_id = \"/dev/disk/by-id/ata-X\" }]",
        ),
    )
    .unwrap();
    let out = kateskit()
        .args(["cluster", "check"])
        .arg(dir.path())
        .assert()
        .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("warning: node `box` declares OSD disks but storage is longhorn"),
        "{err}"
    );
}

fn render(dir: &std::path::Path, node: &str) -> Value {
    let out = kateskit()
        .args(["cluster", "render"])
        .arg(dir)
        .args(["--node", node])
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

#[test]
fn agents_never_receive_key_material() {
    let dir = example_cluster("rack");
    for node in ["a1", "a2", "a3", "a4"] {
        let out = kateskit()
            .args(["cluster", "render"])
            .arg(dir.path())
            .args(["--node", node])
            .assert()
            .success();
        let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
        assert!(!text.contains("PRIVATE KEY"), "{node} got a private key");
        assert!(!text.contains("-----BEGIN"), "{node} got PEM material");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert!(
            v["secrets"]["token"].as_str().unwrap().contains("::node:"),
            "{node} joins with the agent token"
        );
        assert!(v["secrets"].get("agent_token").is_none());
        for k in [
            "ceph_mon_secret",
            "ceph_admin_secret",
            "ingress_ca_crt",
            "ingress_ca_key",
        ] {
            assert!(v["secrets"].get(k).is_none(), "{node} got {k}");
        }
        let s = kateskit::pki::load(dir.path()).unwrap();
        for key in [&s.ceph.mon_secret, &s.ceph.admin_secret] {
            assert!(!text.contains(key.expose()), "{node} got a Ceph key");
        }
    }
    let s1 = render(dir.path(), "s1");
    assert!(
        s1["secrets"]["ca_files"]["server-ca.key"]
            .as_str()
            .unwrap()
            .contains("PRIVATE KEY"),
        "servers pre-seed the CA"
    );
    assert!(s1["secrets"]["token"]
        .as_str()
        .unwrap()
        .contains("::server:"));
    let s = kateskit::pki::load(dir.path()).unwrap();
    assert_eq!(s1["secrets"]["ceph_mon_secret"], s.ceph.mon_secret.expose());
    assert_eq!(
        s1["secrets"]["ceph_admin_secret"],
        s.ceph.admin_secret.expose()
    );
}

/// Only the first server carries the key material it seeds (k3s CA files, Ceph mon/admin
/// keys, Ingress CA); the other servers carry the server and agent tokens and no private key.
#[test]
fn only_the_first_server_carries_seed_keys() {
    let dir = example_cluster("rack");
    // Without an ACME address the Ingresses use the cluster CA issuer, whose key s1 seeds.
    let toml = dir.path().join("cluster.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let no_acme = text.replace(r#", values = { acme_email = "ops@rack.example.com" }"#, "");
    assert_ne!(no_acme, text);
    std::fs::write(&toml, no_acme).unwrap();
    let s1 = render(dir.path(), "s1");
    for k in [
        "ca_files",
        "ceph_mon_secret",
        "ceph_admin_secret",
        "ingress_ca_key",
    ] {
        assert!(s1["secrets"].get(k).is_some(), "s1 lacks {k}");
    }
    let s = kateskit::pki::load(dir.path()).unwrap();
    for node in ["s2", "s3"] {
        let v = render(dir.path(), node);
        let text = v.to_string();
        assert!(!text.contains("PRIVATE KEY"), "{node} got a private key");
        assert!(!text.contains("-----BEGIN"), "{node} got PEM material");
        for key in [&s.ceph.mon_secret, &s.ceph.admin_secret] {
            assert!(!text.contains(key.expose()), "{node} got a Ceph key");
        }
        for k in [
            "ca_files",
            "ceph_mon_secret",
            "ceph_admin_secret",
            "ingress_ca_crt",
            "ingress_ca_key",
        ] {
            assert!(v["secrets"].get(k).is_none(), "{node} got {k}");
        }
        assert!(v["secrets"]["token"]
            .as_str()
            .unwrap()
            .contains("::server:"));
        assert!(v["secrets"]["agent_token"].is_string(), "{node}");
        assert!(v["k3s"]["server_url"].is_string(), "{node} joins");
    }
}

/// A cluster directory made before the Ceph keys existed: the first render writes them
/// (0600), later renders reuse them, and an existing key file is never replaced.
#[test]
fn older_cluster_dirs_get_missing_ceph_keys_once() {
    let dir = example_cluster("rack");
    let secrets = dir.path().join("secrets");
    let kept = std::fs::read_to_string(secrets.join("ceph-admin-secret")).unwrap();
    std::fs::remove_file(secrets.join("ceph-mon-secret")).unwrap();
    let out = kateskit()
        .args(["cluster", "render"])
        .arg(dir.path())
        .args(["--node", "s1"])
        .assert()
        .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("generated") && err.contains("ceph-mon-secret"),
        "{err}"
    );
    assert!(!err.contains("ceph-admin-secret"), "{err}");
    let mon = std::fs::read_to_string(secrets.join("ceph-mon-secret")).unwrap();
    assert_eq!(mode(&secrets.join("ceph-mon-secret")), 0o600);
    kateskit::pki::cephx::validate(&mon).unwrap();
    assert_eq!(
        std::fs::read_to_string(secrets.join("ceph-admin-secret")).unwrap(),
        kept
    );
    let v = render(dir.path(), "s1");
    assert_eq!(v["secrets"]["ceph_mon_secret"], mon.trim());
    assert_eq!(v["secrets"]["ceph_admin_secret"], kept.trim());
    assert_eq!(
        std::fs::read_to_string(secrets.join("ceph-mon-secret")).unwrap(),
        mon,
        "a second render keeps the generated key"
    );
    // A malformed key is refused with the file named, not replaced.
    std::fs::write(secrets.join("ceph-admin-secret"), "AQAAAA==\n").unwrap();
    let out = kateskit()
        .args(["cluster", "render"])
        .arg(dir.path())
        .args(["--node", "s1"])
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("ceph-admin-secret") && err.contains("not a cephx key"),
        "{err}"
    );
}

/// Replaces per-run secrets with stable placeholders so the golden files can be compared.
fn redact(mut v: Value) -> Value {
    if let Some(s) = v.get_mut("secrets") {
        let hash = s["ca_hash"].as_str().unwrap().to_string();
        for k in ["token", "agent_token"] {
            if let Some(t) = s.get_mut(k) {
                let user = t
                    .as_str()
                    .unwrap()
                    .split("::")
                    .nth(1)
                    .unwrap()
                    .split(':')
                    .next()
                    .unwrap()
                    .to_string();
                assert!(t.as_str().unwrap().starts_with(&format!("K10{hash}::")));
                *t = Value::String(format!("K10<ca-hash>::{user}:<secret>"));
            }
        }
        s["ca_hash"] = Value::String("<ca-hash>".into());
        s["ceph_fsid"] = Value::String("<ceph-fsid>".into());
        let pw = s["node_password"].as_str().unwrap();
        assert!(pw.len() == 32 && pw.bytes().all(|b| b.is_ascii_hexdigit()));
        s["node_password"] = Value::String("<node-password>".into());
        for k in ["ceph_mon_secret", "ceph_admin_secret"] {
            if let Some(key) = s.get_mut(k) {
                let text = key.as_str().unwrap();
                assert!(text.len() == 40 && text.starts_with("AQ"), "{k}: {text}");
                *key = Value::String("<cephx-key>".into());
            }
        }
        for (k, kind) in [
            ("ingress_ca_crt", "CERTIFICATE"),
            ("ingress_ca_key", "EC PRIVATE KEY"),
        ] {
            if let Some(pem) = s.get_mut(k) {
                let begin = format!("-----BEGIN {kind}-----");
                assert!(pem.as_str().unwrap().starts_with(&begin), "{k}");
                *pem = Value::String(format!("<{kind}>"));
            }
        }
        if let Some(Value::Object(files)) = s.get_mut("ca_files") {
            for (name, pem) in files.iter_mut() {
                // Keys are SEC1, as k3s writes them and kube-apiserver reads service.key.
                let kind = if name.ends_with(".key") {
                    "EC PRIVATE KEY"
                } else {
                    "CERTIFICATE"
                };
                assert!(
                    pem.as_str()
                        .unwrap()
                        .starts_with(&format!("-----BEGIN {kind}-----")),
                    "{name}"
                );
                *pem = Value::String(format!("<{kind}>"));
            }
        }
    }
    v
}

#[test]
fn golden_nodeconfigs_for_both_examples() {
    for example in ["homelab", "rack"] {
        let dir = example_cluster(example);
        let spec = kateskit::spec::load(&dir.path().join("cluster.toml"))
            .unwrap()
            .spec;
        for node in &spec.nodes {
            let v = redact(render(dir.path(), &node.name));
            let text = serde_json::to_string_pretty(&v).unwrap() + "\n";
            golden(
                &repo().join(format!(
                    "tests/golden/nodeconfig/{example}/{}.json",
                    node.name
                )),
                &text,
            );
            // The golden document is a valid NodeConfig.
            kateskit::nodecfg::NodeConfig::from_json(&text).unwrap();
        }
    } // A server whose Ingresses use the CA issuer (internal names) carries the Ingress CA.
    let dir = example_cluster("rack");
    let toml = dir.path().join("cluster.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, text.replace(".rack.example.com", ".rack.internal")).unwrap();
    let v = redact(render(dir.path(), "s1"));
    assert_eq!(v["secrets"]["ingress_ca_key"], "<EC PRIVATE KEY>");
    let text = serde_json::to_string_pretty(&v).unwrap() + "\n";
    golden(
        &repo().join("tests/golden/nodeconfig/rack-internal/s1.json"),
        &text,
    );
}

#[test]
fn json_schemas_match_the_rust_types() {
    for (name, text) in kateskit::schema::all() {
        golden(&repo().join("docs/schema").join(name), &text);
    }
}

#[test]
fn token_command_prints_server_or_agent_token() {
    let dir = example_cluster("homelab");
    let s = kateskit::pki::load(dir.path()).unwrap();
    let out = kateskit()
        .args(["cluster", "token"])
        .arg(dir.path())
        .assert()
        .success();
    assert_eq!(
        String::from_utf8_lossy(&out.get_output().stdout).trim(),
        s.server_token.secret().expose()
    );
    let out = kateskit()
        .args(["cluster", "token", "--agent"])
        .arg(dir.path())
        .assert()
        .success();
    assert_eq!(
        String::from_utf8_lossy(&out.get_output().stdout).trim(),
        s.agent_token.secret().expose()
    );
}

#[test]
fn render_unknown_node_names_the_known_ones() {
    let dir = example_cluster("homelab");
    let out = kateskit()
        .args(["cluster", "render"])
        .arg(dir.path())
        .args(["--node", "nope"])
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("no node named `nope` in the cluster spec (known: box)"),
        "{err}"
    );
}

#[test]
fn kubeconfig_merge_keeps_other_contexts() {
    let dir = example_cluster("homelab");
    let kc = dir.path().join("config");
    let existing = "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster:\n    server: https://198.51.100.5:6443\nusers:\n- name: prod-admin\n  user:\n    token: abc\ncontexts:\n- name: prod\n  context:\n    cluster: prod\n    user: prod-admin\ncurrent-context: prod\n";
    std::fs::write(&kc, existing).unwrap();
    kateskit()
        .arg("kubeconfig")
        .arg(dir.path())
        .arg("--merge")
        .arg(&kc)
        .assert()
        .success();
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(&kc).unwrap()).unwrap();
    let names = |k: &str| {
        doc[k]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(names("contexts"), ["prod", "homelab"]);
    assert_eq!(names("clusters"), ["prod", "homelab"]);
    assert_eq!(names("users"), ["prod-admin", "homelab-admin"]);
    assert_eq!(
        doc["current-context"].as_str(),
        Some("prod"),
        "current context kept without --switch-context"
    );
    assert_eq!(doc["users"][0]["user"]["token"].as_str(), Some("abc"));
    // Merging again replaces our entries instead of duplicating them, and can switch.
    kateskit()
        .arg("kubeconfig")
        .arg(dir.path())
        .arg("--merge")
        .arg(&kc)
        .arg("--switch-context")
        .assert()
        .success();
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(&kc).unwrap()).unwrap();
    assert_eq!(doc["contexts"].as_sequence().unwrap().len(), 2);
    assert_eq!(doc["current-context"].as_str(), Some("homelab"));
    assert_eq!(
        doc["clusters"][1]["cluster"]["server"].as_str(),
        Some("https://box:6443"),
        "no static address: the server's name"
    );
}

#[test]
fn template_from_init_is_valid() {
    let text = kateskit::spec::TEMPLATE.replace("@NAME@", "x");
    kateskit::spec::parse_str(&text, "template").unwrap();
}

/// The template's one server starts embedded etcd and uses Longhorn, so machines join later
/// without a rebuild; local-path is its one commented line away.
#[test]
fn template_is_cluster_ready() {
    let text = kateskit::spec::TEMPLATE.replace("@NAME@", "x");
    let (spec, _) = kateskit::spec::parse_str(&text, "template").unwrap();
    assert_eq!(spec.servers().count(), 1);
    let cfg = kateskit::nodecfg::render_public(&spec, "node-1").unwrap();
    assert!(cfg.k3s.cluster_init, "embedded etcd on the only server");
    assert_eq!(cfg.storage.driver, kateskit::spec::StorageDriver::Longhorn);
    assert!(cfg.k3s.disable.iter().any(|d| d == "local-storage"));

    let lines: Vec<&str> = text.lines().collect();
    let longhorn = lines
        .iter()
        .position(|l| l.starts_with("storage = \"longhorn\""))
        .unwrap();
    let local = lines
        .iter()
        .position(|l| l.starts_with("# storage = \"local-path\""))
        .unwrap();
    let mut edited: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    edited[local] = edited[local].trim_start_matches("# ").to_string();
    edited.remove(longhorn);
    let (spec, _) = kateskit::spec::parse_str(&edited.join("\n"), "template").unwrap();
    let cfg = kateskit::nodecfg::render_public(&spec, "node-1").unwrap();
    assert_eq!(cfg.storage.driver, kateskit::spec::StorageDriver::LocalPath);
}

#[test]
fn quiet_leaves_out_status_lines_but_not_errors() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("c");
    let out = kateskit()
        .args(["-q", "cluster", "init"])
        .arg(&c)
        .assert()
        .success();
    assert!(
        out.get_output().stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.get_output().stderr)
    );
    let out = kateskit()
        .args(["-q", "cluster", "init"])
        .arg(&c)
        .assert()
        .failure();
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("refusing to overwrite"));
}

/// `cluster init` into a directory that exists keeps that directory's mode: a private 0700
/// directory must not become world-readable; a new one is created 0755.
#[test]
fn init_keeps_the_mode_of_an_existing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    kateskit()
        .args(["cluster", "init"])
        .arg(&private)
        .assert()
        .success();
    assert_eq!(mode(&private), 0o700);
    let fresh = dir.path().join("fresh");
    kateskit()
        .args(["cluster", "init"])
        .arg(&fresh)
        .assert()
        .success();
    assert_eq!(mode(&fresh), 0o755);
}
