//! `image pull` (and with it `node stage` and the agent's chart fetches, which share its TLS)
//! trusts what the machine trusts: the system store, which `SSL_CERT_FILE` replaces. A server
//! whose private CA is in that store is fetched; with the store empty of it, the pull is
//! refused as an unknown issuer and nothing is left behind.

mod image_common;

#[path = "agent_support/https.rs"]
#[allow(dead_code)]
mod https;

use image_common::kateskit;
use sha2::{Digest, Sha256};

#[test]
fn a_private_ca_in_the_system_store_is_trusted_and_nothing_else_is() {
    let body = b"an image served under a private CA".repeat(1000);
    let sha = hex::encode(Sha256::digest(&body));
    let s = https::serve(
        true,
        vec![("/img.raw", https::Reply::Fixed(200, body.clone()))],
    );
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("ca-bundle.pem");
    std::fs::write(&store, &s.ca_pem).unwrap();
    let out = dir.path().join("img.raw");
    kateskit()
        .env("SSL_CERT_FILE", &store)
        .args(["image", "pull", &s.url("/img.raw"), "--sha256", &sha, "-o"])
        .arg(&out)
        .assert()
        .success();
    assert_eq!(std::fs::read(&out).unwrap(), body);

    // A store without that CA: refused, and no output or partial file.
    let other = rcgen::generate_simple_self_signed(vec!["elsewhere".to_string()]).unwrap();
    let other_store = dir.path().join("other.pem");
    std::fs::write(&other_store, other.cert.pem()).unwrap();
    let out2 = dir.path().join("img2.raw");
    let refused = kateskit()
        .env("SSL_CERT_FILE", &other_store)
        .args(["image", "pull", &s.url("/img.raw"), "--sha256", &sha, "-o"])
        .arg(&out2)
        .args(["--retries", "0"])
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(
        err.contains("UnknownIssuer") || err.contains("unknown issuer"),
        "{err}"
    );
    assert!(err.contains(&s.url("/img.raw")), "the URL is named: {err}");
    assert!(!out2.exists());
    assert!(!kateskit::image::pull::part_path(&out2).exists());
}
