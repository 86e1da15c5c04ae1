//! The private keys of a cluster directory in the form k3s writes and kube-apiserver reads:
//! SEC1 (`EC PRIVATE KEY`), checked with client-go's acceptance rules (tests/go_keyutil) and
//! with openssl; older PKCS#8 directories are re-encoded in place, keeping every key.

mod cluster_common;
mod go_keyutil;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use cluster_common::*;
use go_keyutil::{parse_private_key_pem, parse_public_keys_pem};

const KEYS: [&str; 6] = [
    "service.key",
    "server-ca.key",
    "client-ca.key",
    "request-header-ca.key",
    "etcd/server-ca.key",
    "etcd/peer-ca.key",
];

fn openssl(args: &[&str]) -> String {
    run(Command::new("openssl").args(args))
}

fn key_paths(dir: &Path) -> Vec<PathBuf> {
    KEYS.iter()
        .map(|k| dir.join("secrets/tls").join(k))
        .collect()
}

fn pubkey(key: &Path) -> String {
    openssl(&["pkey", "-pubout", "-in", key.to_str().unwrap()])
}

/// What kube-apiserver (service.key), k3s (CA keys) and openssl must all accept.
fn assert_k3s_form(key: &Path) {
    let text = std::fs::read(key).unwrap();
    let name = key.display();
    assert!(
        text.starts_with(b"-----BEGIN EC PRIVATE KEY-----\n"),
        "{name} is not SEC1:\n{}",
        String::from_utf8_lossy(&text)
    );
    assert_eq!(
        parse_public_keys_pem(&text),
        Ok(1),
        "{name}: ParsePublicKeysPEM"
    );
    assert_eq!(
        parse_private_key_pem(&text).as_deref(),
        Ok("EC PRIVATE KEY"),
        "{name}: ParsePrivateKeyPEM"
    );
    let path = key.to_str().unwrap();
    openssl(&["ec", "-in", path, "-noout", "-check"]);
    openssl(&["pkey", "-in", path, "-noout"]);
    let mode = std::fs::metadata(key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{name}");
}

/// The Go rules themselves, against keys openssl writes in each format: they must tell the
/// formats apart exactly as client-go does, or the checks below prove nothing.
#[test]
fn go_key_rules_sort_openssl_formats_like_client_go() {
    let d = tempfile::tempdir().unwrap();
    let gen = |name: &str, args: &[&str]| -> Vec<u8> {
        let out = d.path().join(name);
        let mut a = vec![args[0], "-out", out.to_str().unwrap()];
        a.extend(&args[1..]);
        openssl(&a);
        std::fs::read(out).unwrap()
    };
    let sec1 = gen("sec1.pem", &["ecparam", "-name", "prime256v1", "-genkey"]);
    assert!(String::from_utf8_lossy(&sec1).contains("BEGIN EC PARAMETERS"));
    assert_eq!(parse_public_keys_pem(&sec1), Ok(1));
    assert_eq!(
        parse_private_key_pem(&sec1).as_deref(),
        Ok("EC PRIVATE KEY")
    );

    let ec8 = gen(
        "ec8.pem",
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ],
    );
    assert!(ec8.starts_with(b"-----BEGIN PRIVATE KEY-----"));
    assert!(
        parse_public_keys_pem(&ec8).is_err(),
        "PKCS#8 EC is not a public key source for kube-apiserver"
    );
    assert_eq!(parse_private_key_pem(&ec8).as_deref(), Ok("PRIVATE KEY"));

    let rsa8 = gen(
        "rsa8.pem",
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:1024",
        ],
    );
    assert_eq!(
        parse_public_keys_pem(&rsa8),
        Ok(1),
        "PKCS#8 RSA is accepted"
    );
    assert_eq!(parse_private_key_pem(&rsa8).as_deref(), Ok("PRIVATE KEY"));

    let rsa1 = gen("rsa1.pem", &["genrsa", "-traditional", "1024"]);
    assert!(rsa1.starts_with(b"-----BEGIN RSA PRIVATE KEY-----"));
    assert_eq!(parse_public_keys_pem(&rsa1), Ok(1));
    assert_eq!(
        parse_private_key_pem(&rsa1).as_deref(),
        Ok("RSA PRIVATE KEY")
    );

    let sec1_path = d.path().join("sec1.pem");
    let ecpub = openssl(&["ec", "-in", sec1_path.to_str().unwrap(), "-pubout"]);
    assert_eq!(parse_public_keys_pem(ecpub.as_bytes()), Ok(1));
    assert!(parse_private_key_pem(ecpub.as_bytes()).is_err());
    // A SEC1 body under the PKCS#8 label is not a private key to Go.
    let relabelled = String::from_utf8(sec1)
        .unwrap()
        .replace("EC PRIVATE KEY", "PRIVATE KEY")
        .replace("EC PARAMETERS", "X");
    assert!(parse_private_key_pem(relabelled.as_bytes()).is_err());
}

#[test]
fn every_key_of_a_fresh_cluster_is_in_the_form_k3s_writes() {
    let d = tempfile::tempdir().unwrap();
    kateskit()
        .args(["cluster", "init"])
        .arg(d.path())
        .assert()
        .success();
    for key in key_paths(d.path()) {
        assert_k3s_form(&key);
    }
}

#[test]
fn pkcs8_keys_of_an_older_cluster_are_re_encoded_keeping_each_key() {
    let dir = example_cluster("rack");
    let keys = key_paths(dir.path());
    for k in &keys {
        let tmp = dir.path().join("pkcs8.pem");
        let t = tmp.to_str().unwrap();
        openssl(&[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            k.to_str().unwrap(),
            "-out",
            t,
        ]);
        std::fs::rename(&tmp, k).unwrap();
        std::fs::set_permissions(k, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(std::fs::read(k)
            .unwrap()
            .starts_with(b"-----BEGIN PRIVATE KEY-----"));
    }
    let before: Vec<String> = keys.iter().map(|k| pubkey(k)).collect();
    let unchanged = [
        "secrets/token",
        "secrets/agent-token",
        "secrets/tls/server-ca.crt",
    ];
    let bytes = |rel: &str| std::fs::read(dir.path().join(rel)).unwrap();
    let kept: Vec<Vec<u8>> = unchanged.iter().map(|r| bytes(r)).collect();

    let out = kateskit()
        .args(["cluster", "render"])
        .arg(dir.path())
        .args(["--node", "s1"])
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    for (k, pub_before) in keys.iter().zip(&before) {
        assert!(
            stderr.contains(&format!("re-encoded {} as SEC1", k.display())),
            "{stderr}"
        );
        assert_k3s_form(k);
        assert_eq!(&pubkey(k), pub_before, "{}: the key changed", k.display());
    }
    for (rel, b) in unchanged.iter().zip(&kept) {
        assert_eq!(&bytes(rel), b, "{rel} changed");
    }
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let seeded = v["secrets"]["ca_files"]["service.key"].as_str().unwrap();
    assert_eq!(
        seeded.as_bytes(),
        std::fs::read(&keys[0]).unwrap(),
        "the node config carries the re-encoded key"
    );
    // Once migrated, nothing is rewritten again.
    let out = kateskit()
        .args(["cluster", "render"])
        .arg(dir.path())
        .args(["--node", "s1"])
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(!stderr.contains("re-encoded"), "{stderr}");
}

#[test]
fn a_key_file_that_is_not_a_p256_key_is_refused_naming_it() {
    let dir = example_cluster("homelab");
    let key = dir.path().join("secrets/tls/client-ca.key");
    let p = key.to_str().unwrap();
    openssl(&["genpkey", "-algorithm", "ED25519", "-out", p]);
    let before = std::fs::read(&key).unwrap();
    let out = kateskit()
        .args(["cluster", "render"])
        .arg(dir.path())
        .args(["--node", "box"])
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(
        stderr.contains(p) && stderr.contains("not an ECDSA P-256 key"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&key).unwrap(), before, "left as it is");
}
