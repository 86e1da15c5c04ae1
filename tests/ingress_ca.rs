//! The Ingress CA: made by `cluster init`, printed by `cluster ingress-ca` (certificate only),
//! carried by servers whose Ingresses use the CA issuer, and rendered as cert-manager's CA
//! Secret only where the node config holds secrets. Checked with the real openssl CLI.

mod cluster_common;
mod go_keyutil;

use std::path::Path;
use std::process::Command;

use cluster_common::*;
use kateskit::bundle::charts::{self, ChartLock, ChartSource};
use kateskit::nodecfg;

/// A rack cluster whose Ingress names are internal, so they use the CA issuer.
fn private_rack() -> tempfile::TempDir {
    let dir = example_cluster("rack");
    let p = dir.path().join("cluster.toml");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace(".rack.example.com", ".rack.internal");
    std::fs::write(&p, text).unwrap();
    dir
}

fn print_ca(dir: &Path) -> String {
    let out = kateskit()
        .args(["cluster", "ingress-ca"])
        .arg(dir)
        .assert()
        .success();
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

#[test]
fn ingress_ca_prints_the_certificate_that_signs_a_verifiable_leaf() {
    let dir = example_cluster("homelab");
    let secrets = dir.path().join("secrets");
    let printed = print_ca(dir.path());
    assert_eq!(
        printed,
        std::fs::read_to_string(secrets.join("ingress-ca.crt")).unwrap()
    );
    assert!(!printed.contains("PRIVATE KEY"), "{printed}");
    let key = std::fs::read_to_string(secrets.join("ingress-ca.key")).unwrap();
    assert!(key.starts_with("-----BEGIN EC PRIVATE KEY-----\n"), "SEC1");
    // `-o` writes the same bytes; openssl parses them as the CA named after the cluster.
    let t = tempfile::tempdir().unwrap();
    let ca = t.path().join("ca.crt");
    kateskit()
        .args(["cluster", "ingress-ca"])
        .arg(dir.path())
        .arg("-o")
        .arg(&ca)
        .assert()
        .success();
    assert_eq!(std::fs::read_to_string(&ca).unwrap(), printed);
    let text = run(Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&ca));
    assert!(
        text.contains("CN=homelab ingress CA") || text.contains("CN = homelab ingress CA"),
        "{text}"
    );
    assert!(text.contains("CA:TRUE, pathlen:0"), "{text}");
    assert!(text.contains("prime256v1"), "{text}");
    // A leaf signed with the CA key (as cert-manager's CA issuer does) verifies against it.
    let leaf_key = t.path().join("leaf.key");
    let csr = t.path().join("leaf.csr");
    let leaf = t.path().join("leaf.crt");
    run(Command::new("openssl")
        .args([
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
        ])
        .arg(&leaf_key));
    run(Command::new("openssl")
        .args(["req", "-new", "-subj", "/CN=auth.homelab.internal", "-key"])
        .arg(&leaf_key)
        .arg("-out")
        .arg(&csr));
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "1", "-in"])
        .arg(&csr)
        .arg("-CA")
        .arg(&ca)
        .arg("-CAkey")
        .arg(secrets.join("ingress-ca.key"))
        .arg("-CAcreateserial")
        .arg("-out")
        .arg(&leaf));
    let out = run(Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(&ca)
        .arg(&leaf));
    assert!(out.trim().ends_with(": OK"), "{out}");
    // A leaf from another CA does not.
    let other = example_cluster("homelab");
    let out = Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(other.path().join("secrets/ingress-ca.crt"))
        .arg(&leaf)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// A cluster directory made before the Ingress CA existed gets one on first use, kept after.
#[test]
fn older_cluster_dirs_get_an_ingress_ca_once() {
    let dir = example_cluster("homelab");
    let secrets = dir.path().join("secrets");
    for f in ["ingress-ca.crt", "ingress-ca.key"] {
        std::fs::remove_file(secrets.join(f)).unwrap();
    }
    let out = kateskit()
        .args(["cluster", "ingress-ca"])
        .arg(dir.path())
        .assert()
        .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("generated") && err.contains("ingress-ca.key"),
        "{err}"
    );
    let first = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert_eq!(print_ca(dir.path()), first, "never replaced");
    let text = run(Command::new("openssl")
        .args(["x509", "-noout", "-subject", "-in"])
        .arg(secrets.join("ingress-ca.crt")));
    assert!(
        text.contains("homelab ingress CA"),
        "named from cluster.toml: {text}"
    );
}

fn manifests(cfg: &nodecfg::NodeConfig) -> Vec<kateskit::bundle::Manifest> {
    charts::render(cfg, &ChartLock::bundled().unwrap(), ChartSource::Static).unwrap()
}

#[test]
fn ca_issuer_servers_carry_the_ca_and_render_its_secret_agents_never() {
    let dir = private_rack();
    let spec = kateskit::spec::load(&dir.path().join("cluster.toml"))
        .unwrap()
        .spec;
    let s = kateskit::pki::load(dir.path()).unwrap();
    let s1 = nodecfg::render(&spec, &s, "s1").unwrap();
    let ns = s1.secrets.as_ref().unwrap();
    assert_eq!(
        ns.ingress_ca_crt.as_deref(),
        Some(s.ingress_ca.cert.as_str())
    );
    assert_eq!(
        ns.ingress_ca_key.as_ref().map(|k| k.expose()),
        Some(s.ingress_ca.key.expose())
    );
    let out = manifests(&s1);
    let m = out
        .iter()
        .find(|m| m.file_name == "kateskit-ingress-ca-secret.yaml")
        .expect("CA secret manifest");
    let docs: Vec<serde_yaml_ng::Value> = serde_yaml_ng::Deserializer::from_str(&m.yaml)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let secret = docs.iter().find(|d| d["kind"] == "Secret").unwrap();
    assert_eq!(secret["type"], "kubernetes.io/tls");
    assert_eq!(secret["metadata"]["name"], "kateskit-ingress-ca");
    assert_eq!(secret["metadata"]["namespace"], "cert-manager");
    assert_eq!(secret["stringData"]["tls.crt"], s.ingress_ca.cert.as_str());
    assert_eq!(secret["stringData"]["tls.key"], s.ingress_ca.key.expose());
    let issuer = out
        .iter()
        .find(|m| m.file_name == "kateskit-cert-manager-issuer.yaml")
        .unwrap();
    assert!(
        issuer.yaml.contains("secretName: kateskit-ingress-ca"),
        "{}",
        issuer.yaml
    );
    // The key stays out of every other manifest and of the public (Nix) render.
    for m in out
        .iter()
        .filter(|m| m.file_name != "kateskit-ingress-ca-secret.yaml")
    {
        assert!(!m.yaml.contains("EC PRIVATE KEY"), "{}", m.file_name);
    }
    let public = nodecfg::render_public(&spec, "s1").unwrap();
    assert!(manifests(&public)
        .iter()
        .all(|m| !m.yaml.contains("PRIVATE KEY")));
    for node in ["a1", "a2"] {
        let a = nodecfg::render(&spec, &s, node).unwrap();
        let sec = a.secrets.unwrap();
        assert!(
            sec.ingress_ca_crt.is_none() && sec.ingress_ca_key.is_none(),
            "{node}"
        );
    }
}

/// With ACME for every name (the rack example as shipped) no node carries the Ingress CA.
#[test]
fn acme_clusters_carry_no_ingress_ca() {
    let dir = example_cluster("rack");
    let spec = kateskit::spec::load(&dir.path().join("cluster.toml"))
        .unwrap()
        .spec;
    let s = kateskit::pki::load(dir.path()).unwrap();
    let s1 = nodecfg::render(&spec, &s, "s1").unwrap();
    assert!(s1.secrets.as_ref().unwrap().ingress_ca_key.is_none());
    assert!(manifests(&s1)
        .iter()
        .all(|m| m.file_name != "kateskit-ingress-ca-secret.yaml"));
}

/// cert-manager's CA issuer decodes the key with Go's `x509.ParseECPrivateKey` for
/// `EC PRIVATE KEY`: the key is SEC1, accepted by client-go's rules and by openssl.
#[test]
fn the_ingress_ca_key_is_sec1_as_go_and_openssl_read_it() {
    let dir = example_cluster("homelab");
    let key = dir.path().join("secrets/ingress-ca.key");
    let text = std::fs::read(&key).unwrap();
    assert_eq!(
        go_keyutil::parse_private_key_pem(&text).as_deref(),
        Ok("EC PRIVATE KEY")
    );
    run(Command::new("openssl")
        .args(["ec", "-noout", "-check", "-in"])
        .arg(&key));
    let a = run(Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key));
    let b = run(Command::new("openssl")
        .args(["x509", "-noout", "-pubkey", "-in"])
        .arg(dir.path().join("secrets/ingress-ca.crt")));
    assert_eq!(a, b, "the key belongs to the certificate");
}
