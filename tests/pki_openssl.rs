//! The CA set, tokens and kubeconfig checked with the real openssl CLI.

mod cluster_common;

use std::process::Command;

use cluster_common::*;
use kateskit::pki;

fn openssl_sha256_der(cert: &std::path::Path) -> String {
    let der = Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(cert)
        .output()
        .expect("openssl");
    assert!(der.status.success());
    let mut sum = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    sum.stdin.take().unwrap().write_all(&der.stdout).unwrap();
    let out = sum.wait_with_output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn token_hash_is_sha256sum_of_the_single_cert_file() {
    let dir = example_cluster("homelab");
    let s = pki::load(dir.path()).unwrap();
    let ca = dir.path().join("secrets/tls/server-ca.crt");
    let sum = run(Command::new("sha256sum").arg(&ca));
    let want = sum.split_whitespace().next().unwrap();
    assert_eq!(s.server_token.ca_hash, want);
    assert_eq!(s.agent_token.ca_hash, want);
    assert!(s
        .server_token
        .secret()
        .expose()
        .starts_with(&format!("K10{want}::server:")));
    assert!(s
        .agent_token
        .secret()
        .expose()
        .starts_with(&format!("K10{want}::node:")));
    assert_ne!(s.server_token.password, s.agent_token.password);
}

#[test]
fn every_ca_verifies_with_openssl_and_is_a_ca() {
    let dir = example_cluster("homelab");
    for stem in [
        "server-ca",
        "client-ca",
        "request-header-ca",
        "etcd/server-ca",
        "etcd/peer-ca",
    ] {
        let crt = dir.path().join(format!("secrets/tls/{stem}.crt"));
        let out = run(Command::new("openssl")
            .arg("verify")
            .arg("-CAfile")
            .arg(&crt)
            .arg(&crt));
        assert!(out.trim().ends_with(": OK"), "{stem}: {out}");
        let text = run(Command::new("openssl")
            .args(["x509", "-noout", "-text", "-in"])
            .arg(&crt));
        assert!(text.contains("CA:TRUE"), "{stem} lacks CA:TRUE");
        assert!(text.contains("prime256v1"), "{stem} is not ECDSA P-256");
        // The key on disk belongs to the certificate.
        let key = dir.path().join(format!("secrets/tls/{stem}.key"));
        let a = run(Command::new("openssl")
            .args(["x509", "-noout", "-pubkey", "-in"])
            .arg(&crt));
        let b = run(Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&key));
        assert_eq!(a, b, "{stem}: key does not match certificate");
    }
    let sa = dir.path().join("secrets/tls/service.key");
    run(Command::new("openssl")
        .args(["pkey", "-noout", "-in"])
        .arg(&sa));
}

#[test]
fn chain_bundle_hashes_the_root_der_like_k3s() {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let mk = |cn: &str| {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // As openssl and cfssl do: signed certificates name their issuer's key.
        p.use_authority_key_identifier_extension = cn != "root" && cn != "stray";
        p
    };
    let root_key = KeyPair::generate().unwrap();
    let root = mk("root").self_signed(&root_key).unwrap();
    let int_key = KeyPair::generate().unwrap();
    let int = mk("intermediate")
        .signed_by(&int_key, &root, &root_key)
        .unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = mk("k3s-server-ca")
        .signed_by(&leaf_key, &int, &int_key)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root_path = dir.path().join("root.pem");
    std::fs::write(&root_path, root.pem()).unwrap();
    let bundle = format!("{}{}{}", leaf.pem(), int.pem(), root.pem());
    assert_eq!(
        pki::hash_ca(bundle.as_bytes()).unwrap(),
        openssl_sha256_der(&root_path)
    );
    // A bundle whose chain does not verify falls back to the raw bytes.
    let other_key = KeyPair::generate().unwrap();
    let stray = mk("stray").self_signed(&other_key).unwrap();
    let broken = format!("{}{}", leaf.pem(), stray.pem());
    let raw = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(broken.as_bytes()))
    };
    assert_eq!(pki::hash_ca(broken.as_bytes()).unwrap(), raw);
}

#[test]
fn kubeconfig_client_cert_verifies_against_client_ca_only() {
    let dir = example_cluster("rack");
    let kc = dir.path().join("admin.kubeconfig");
    kateskit()
        .arg("kubeconfig")
        .arg(dir.path())
        .arg("-o")
        .arg(&kc)
        .assert()
        .success();
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(&kc).unwrap()).unwrap();
    use base64::Engine;
    let b64 = |v: &serde_yaml_ng::Value| {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap()
    };
    let user = &doc["users"][0]["user"];
    let cert = dir.path().join("admin.crt");
    std::fs::write(&cert, b64(&user["client-certificate-data"])).unwrap();
    let client_ca = dir.path().join("secrets/tls/client-ca.crt");
    let ok = run(Command::new("openssl")
        .args(["verify", "-purpose", "sslclient", "-CAfile"])
        .arg(&client_ca)
        .arg(&cert));
    assert!(ok.trim().ends_with(": OK"), "{ok}");
    let bad = Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(dir.path().join("secrets/tls/server-ca.crt"))
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        !bad.status.success(),
        "admin cert must not verify against the server CA"
    );
    // The client key is SEC1 like k3s's own kubeconfigs, and belongs to the certificate.
    let key = dir.path().join("admin.key");
    std::fs::write(&key, b64(&user["client-key-data"])).unwrap();
    assert!(std::fs::read(&key)
        .unwrap()
        .starts_with(b"-----BEGIN EC PRIVATE KEY-----\n"));
    assert_eq!(
        run(Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&key)),
        run(Command::new("openssl")
            .args(["x509", "-noout", "-pubkey", "-in"])
            .arg(&cert))
    );
    let subject = run(Command::new("openssl")
        .args(["x509", "-noout", "-subject", "-in"])
        .arg(&cert));
    assert!(subject.contains("O = system:masters"), "{subject}");
    assert_eq!(
        doc["clusters"][0]["cluster"]["server"].as_str(),
        Some("https://192.0.2.10:6443"),
        "rack uses its API VIP"
    );
    assert_eq!(
        b64(&doc["clusters"][0]["cluster"]["certificate-authority-data"]),
        std::fs::read(dir.path().join("secrets/tls/server-ca.crt")).unwrap()
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&kc).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // -o never clobbers.
    kateskit()
        .arg("kubeconfig")
        .arg(dir.path())
        .arg("-o")
        .arg(&kc)
        .assert()
        .failure();
}

/// Seconds since the epoch of an openssl `notBefore=` date, read back with date(1).
fn not_before(cert: &std::path::Path) -> i64 {
    let line = run(Command::new("openssl")
        .args(["x509", "-noout", "-startdate", "-in"])
        .arg(cert));
    let date = line.trim().strip_prefix("notBefore=").expect("notBefore=");
    run(Command::new("date").args(["-u", "-d", date, "+%s"]))
        .trim()
        .parse()
        .unwrap()
}

/// k3s starts before NTP corrects a bad RTC: the CAs and the admin certificate are valid from
/// a day before they were made, so a clock running behind still accepts them.
#[test]
fn cas_and_admin_cert_are_valid_from_a_day_before_init() {
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    let start = now();
    let dir = example_cluster("rack");
    let day = 24 * 3600;
    let mut certs: Vec<std::path::PathBuf> = [
        "server-ca",
        "client-ca",
        "request-header-ca",
        "etcd/server-ca",
        "etcd/peer-ca",
    ]
    .iter()
    .map(|s| dir.path().join(format!("secrets/tls/{s}.crt")))
    .collect();
    let kc = dir.path().join("admin.kubeconfig");
    kateskit()
        .arg("kubeconfig")
        .arg(dir.path())
        .arg("-o")
        .arg(&kc)
        .assert()
        .success();
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(&kc).unwrap()).unwrap();
    use base64::Engine;
    let admin = dir.path().join("admin.crt");
    std::fs::write(
        &admin,
        base64::engine::general_purpose::STANDARD
            .decode(
                doc["users"][0]["user"]["client-certificate-data"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap(),
    )
    .unwrap();
    certs.push(admin);
    let end = now();
    for c in &certs {
        let nb = not_before(c);
        assert!(
            nb >= start - day - 1 && nb <= end - day + 1,
            "{}: notBefore {nb} is not a day before {start}..{end}",
            c.display()
        );
    }
}
