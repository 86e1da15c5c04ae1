//! The STAND-IN Kubernetes API's authentication: only the cluster's admin identity gets in,
//! as with k3s's API server (anonymous auth off, `system:masters` for everything).

mod upgrade_support;

use rcgen::{CertificateParams, DnType, KeyPair};
use serde_json::json;
use upgrade_support::probe::{answer, cluster, start};

/// A certificate and key signed by `ca_cert`/`ca_key` PEM with subject CN `cn`, O `org`.
fn client_cert(ca_cert: &str, ca_key: &str, cn: &str, org: &str) -> (String, String) {
    let ca_key = kateskit::pki::keyfmt::key_pair(ca_key).unwrap();
    let ca = CertificateParams::from_ca_cert_pem(ca_cert)
        .unwrap()
        .self_signed(&ca_key)
        .unwrap();
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.distinguished_name.push(DnType::OrganizationName, org);
    let cert = p.signed_by(&key, &ca, &ca_key).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[test]
fn only_an_admin_certificate_from_the_client_ca_is_let_in() {
    let t = start(cluster());
    let tls = t.dir.path().join("secrets/tls");
    let read = |f: &str| std::fs::read_to_string(tls.join(f)).unwrap();
    let url = format!("{}/api/v1/nodes", t.api.url());
    let code = |c: reqwest::blocking::Client| answer(c.get(&url).send().unwrap());
    let (status, body) = code(t.api.client(None));
    assert_eq!(
        (status, body["reason"].as_str()),
        (401, Some("Unauthorized")),
        "{body}"
    );
    // system:masters, but issued by the server CA rather than the client CA.
    let wrong_ca = client_cert(
        &read("server-ca.crt"),
        &read("server-ca.key"),
        "kateskit-admin",
        "system:masters",
    );
    assert_eq!(code(t.api.client(Some((&wrong_ca.0, &wrong_ca.1)))).0, 401);
    // The client CA, but not the admin group: authenticated, not authorised.
    let plain = client_cert(
        &read("client-ca.crt"),
        &read("client-ca.key"),
        "someone",
        "staff",
    );
    let (status, body) = code(t.api.client(Some((&plain.0, &plain.1))));
    assert_eq!(
        (status, body["reason"].as_str()),
        (403, Some("Forbidden")),
        "{body}"
    );
    let (status, body) = t.get("/api/v1/nodes");
    assert_eq!(status, 200);
    let names: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a1", "s1", "s2", "s3"]);
    let log = t.api.requests();
    assert_eq!(
        log.iter().map(|r| r.status).collect::<Vec<_>>(),
        [401, 401, 403, 200]
    );
    assert_eq!(log[3].user, "kateskit-admin");
    assert_eq!(t.get("/readyz"), (200, json!("ok")));
    assert_eq!(t.get("/version").1["gitVersion"], "v1.31.4+k3s1");
    assert_eq!(t.get("/api/v1/secrets").0, 404);
}

#[test]
fn the_kubeconfig_kateskit_writes_is_let_in() {
    let t = start(cluster());
    let kc = t.dir.path().join("kubeconfig");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kateskit"))
        .arg("kubeconfig")
        .arg(t.dir.path())
        .arg("-o")
        .arg(&kc)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(&kc).unwrap()).unwrap();
    let b64 = |v: &serde_yaml_ng::Value| {
        use base64::Engine;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap();
        String::from_utf8(raw).unwrap()
    };
    let user = &doc["users"][0]["user"];
    let (cert, key) = (
        b64(&user["client-certificate-data"]),
        b64(&user["client-key-data"]),
    );
    assert_eq!(
        b64(&doc["clusters"][0]["cluster"]["certificate-authority-data"]),
        t.api.server_ca_pem()
    );
    let r = t
        .api
        .client(Some((&cert, &key)))
        .get(format!("{}/api/v1/nodes", t.api.url()))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(t.api.requests().last().unwrap().user, "kateskit-admin");
}
