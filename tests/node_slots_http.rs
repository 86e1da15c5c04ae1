//! `kateskit node stage` from http(s) sources onto a two-slot loop disk (root): nginx on
//! 127.0.0.1 behind a recording proxy (each artifact downloaded once across `--fetch-only` and
//! `stage`), and an HTTPS server with a private CA trusted only through the system store.

mod common;
mod http_peer;
#[path = "agent_support/https.rs"]
#[allow(dead_code)]
mod https;
#[path = "upgrade_support/layout.rs"]
mod layout;
#[path = "upgrade_support/slots_node.rs"]
mod slots_node;

use common::lock;
use layout::SLOT_B;
use slots_node::{setup, Node};

#[test]
fn stage_over_http_downloads_once() {
    if !setup() {
        return;
    }
    let _l = lock();
    let node = Node::new("1");
    let (dir, pin) = node.release("r2", "2", 300 << 10);
    let work = node.tmp.path().join("nginx");
    std::fs::create_dir_all(&work).unwrap();
    let Some(nginx) = http_peer::Nginx::start(node.tmp.path(), &work) else {
        return;
    };
    let proxy = http_peer::Proxy::start(nginx.port, http_peer::Fault::CutEvery(1 << 40));
    let url = format!("http://127.0.0.1:{}/r2/", proxy.port);
    let before = node.disk_hash();
    let out = node.ok_json(&["stage", &url, "--sums-sha256", &pin, "--fetch-only"]);
    assert_eq!(out["result"], "fetched", "{out}");
    assert_eq!(node.disk_hash(), before, "--fetch-only wrote to the disk");
    assert!(node.state.join("staging/2/kateskit_2.store").exists());
    let out = node.ok_json(&["stage", &format!("{url}SHA256SUMS"), "--sums-sha256", &pin]);
    assert_eq!(out["result"], "staged", "{out}");
    assert_eq!(node.slot_name(SLOT_B), "kateskit_2");
    let reqs = proxy.requests.lock().unwrap().clone();
    let gets = |name: &str| reqs.iter().filter(|r| r.contains(name)).count();
    assert_eq!(gets("kateskit_2.store"), 1, "{reqs:?}");
    assert_eq!(gets("kateskit_2.efi"), 1, "{reqs:?}");
    drop(dir);
}

/// An https:// release is fetched with the agent's trust roots: a private CA is refused until
/// the system store (`SSL_CERT_FILE`) holds it.
#[test]
fn stage_over_https_trusts_the_system_store() {
    if !setup() {
        return;
    }
    let _l = lock();
    let node = Node::new("1");
    let (dir, pin) = node.release("r2", "2", 64 << 10);
    let file = |n: &str| https::Reply::Fixed(200, std::fs::read(dir.join(n)).unwrap());
    let s = https::serve(
        true,
        vec![
            ("/r2/SHA256SUMS", file("SHA256SUMS")),
            ("/r2/kateskit_2.efi", file("kateskit_2.efi")),
            ("/r2/kateskit_2.store", file("kateskit_2.store")),
        ],
    );
    let url = s.url("/r2/");
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let empty = node.tmp.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let before = node.disk_hash();
    let out = node.kateskit_env(
        &["stage", &url, "--sums-sha256", &pin],
        &[("SSL_CERT_FILE", empty.to_str().unwrap())],
    );
    assert!(!out.status.success(), "a private CA was trusted");
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("certificate"), "{e}");
    assert_eq!(node.disk_hash(), before);
    let store = node.tmp.path().join("ca.pem");
    std::fs::write(&store, &s.ca_pem).unwrap();
    let out = node.kateskit_env(
        &["stage", &url, "--sums-sha256", &pin, "--json"],
        &[("SSL_CERT_FILE", store.to_str().unwrap())],
    );
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["result"], "staged", "{v}");
    assert_eq!(node.slot_name(SLOT_B), "kateskit_2");
}
