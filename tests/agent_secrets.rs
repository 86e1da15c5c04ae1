//! No secret leaves the agent: a planted marker (a token, a URL password, a `write_files`
//! password) is absent from the console output, the journal, status.json, the phone-home body
//! and the whole `/run/kateskit` tree, whether the run succeeds or the config is malformed.

mod agent_support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use std::sync::mpsc;
use std::time::Duration;

use agent_support::{http_server, Cluster, Node};
use sha2::{Digest, Sha256};

/// Accepts one request on 127.0.0.1 and hands its request line and body to the test.
fn capture_post() -> (u16, mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = s.read(&mut chunk).unwrap_or(0);
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            let Some(i) = text.find("\r\n\r\n") else {
                continue;
            };
            let len: usize = text
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if buf.len() >= i + 4 + len {
                let _ = s.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
                let line = text.lines().next().unwrap().to_string();
                tx.send(format!("{line}\n{}", &text[i + 4..])).unwrap();
                break;
            }
        }
    });
    (port, rx)
}

/// Every file under `dir` with its path, for grepping.
fn files(dir: &Path, out: &mut Vec<(String, String)>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).to_string();
            out.push((p.display().to_string(), text));
        }
    }
}

/// Fails naming the place that holds any of the markers: console, journal, the run tree.
fn assert_clean(n: &Node, out: &Output, markers: &[&str]) {
    let mut places = vec![
        (
            "stdout".to_string(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        ),
        (
            "stderr".to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        ),
    ];
    files(&n.path("run/kateskit"), &mut places);
    if let Ok(j) = std::fs::read_to_string(n.path("var/lib/kateskit/journal.json")) {
        places.push(("journal.json".into(), j));
    }
    assert!(
        places.iter().any(|(p, _)| p.ends_with("status.json")),
        "the run wrote no status.json"
    );
    for (place, text) in &places {
        for m in markers {
            assert!(!text.contains(m), "{place} contains {m}:\n{text}");
        }
    }
}

fn posted(rx: &mpsc::Receiver<String>) -> String {
    rx.recv_timeout(Duration::from_secs(20))
        .expect("phone_home POST received")
}

const HASH_B: &str = "abababababababababababababababababababababababababababababababab";

/// `kateskit.secrets=VALUE` is malformed (secrets is a map): the error names the key and the
/// problem, never the value.
#[test]
fn a_malformed_secrets_argument_is_named_without_its_value() {
    let c = Cluster::new("rack");
    let cfg = c.render("a4");
    let n = Node::new();
    n.image_defaults(&cfg);
    n.set_cmdline("kateskit.agent.verify_join=false kateskit.secrets=K10abc::server:LEAKMARKERB");
    let out = n.run(&[]);
    assert!(!out.status.success());
    let errors = n.status()["errors"].to_string();
    assert!(errors.contains("kateskit.secrets=<redacted>"), "{errors}");
    assert!(errors.contains("secrets: invalid type"), "{errors}");
    assert_clean(&n, &out, &["LEAKMARKERB"]);
}

/// A token of another cluster fails validation after discovery, so the status is also
/// posted: the error and the body carry no token.
#[test]
fn a_refused_token_reaches_phone_home_without_its_value() {
    let c = Cluster::new("rack");
    let cfg = c.render("a4");
    let n = Node::new();
    n.image_defaults(&cfg);
    let (port, rx) = capture_post();
    n.set_cmdline(&format!(
        "kateskit.agent.verify_join=false kateskit.phone_home=http://127.0.0.1:{port}/s \
         kateskit.secrets[token]=K10{HASH_B}::node:LEAKMARKERC0123"
    ));
    let out = n.run(&[]);
    assert!(!out.status.success());
    assert_eq!(n.status()["phase"], "validate");
    let body = posted(&rx);
    assert!(body.contains("secrets.token"), "{body}");
    assert!(!body.contains("LEAKMARKERC"), "phone_home body: {body}");
    assert_clean(&n, &out, &["LEAKMARKERC"]);
}

/// URL userinfo and query (config_url, phone_home) are redacted in the tree, the sources,
/// the status and the errors, while the requests themselves still use them.
#[test]
fn url_credentials_are_shown_nowhere() {
    let c = Cluster::new("rack");
    let cfg = c.render("a4");
    let n = Node::new();
    n.image_defaults(&cfg);
    let layer = br#"{"node": {"labels": {"from": "url"}}}"#.to_vec();
    let pin = hex::encode(Sha256::digest(&layer));
    let cfg_port = http_server(vec![("/cfg?sig=LEAKQUERY1", 200, layer)]);
    let (port, rx) = capture_post();
    n.set_cmdline(&format!(
        "kateskit.agent.verify_join=false \
         kateskit.config_url=http://user:LEAKPASS1@127.0.0.1:{cfg_port}/cfg?sig=LEAKQUERY1 \
         kateskit.config_sha256={pin} \
         kateskit.phone_home=http://ph:LEAKPASS2@127.0.0.1:{port}/s?key=LEAKQUERY2"
    ));
    let out = n.run(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(n.value("node/labels/from"), "url");
    assert_eq!(
        n.value("agent/config_url"),
        format!("http://***@127.0.0.1:{cfg_port}/cfg?***")
    );
    let (line, body) = posted(&rx)
        .split_once('\n')
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .unwrap();
    assert_eq!(
        line, "POST /s?key=LEAKQUERY2 HTTP/1.1",
        "the POST uses the real URL"
    );
    for m in ["LEAKPASS", "LEAKQUERY"] {
        assert!(!body.contains(m), "phone_home body: {body}");
    }
    assert_clean(&n, &out, &["LEAKPASS", "LEAKQUERY"]);

    // A failing fetch names the URL without its credentials.
    let n = Node::new();
    n.image_defaults(&cfg);
    n.set_cmdline(&format!(
        "kateskit.agent.verify_join=false kateskit.agent.fetch_retries=0 \
         kateskit.config_url=http://user:LEAKPASS3@127.0.0.1:{cfg_port}/missing?sig=LEAKQUERY3 \
         kateskit.config_sha256={pin}"
    ));
    let out = n.run(&[]);
    assert!(!out.status.success());
    let errors = n.status()["errors"].to_string();
    assert!(errors.contains("http://***@127.0.0.1"), "{errors}");
    assert_clean(&n, &out, &["LEAKPASS", "LEAKQUERY"]);
}

/// A run that succeeds with a token in the bracket form of its path and a 0600 file holding
/// a password: the token reaches the token file and the file is written as asked, but the
/// config tree shows the file's path, mode and SHA-256 only, /run/kateskit is private, and
/// neither value is anywhere else (phone-home body included).
#[test]
fn a_successful_run_shows_no_token_nor_file_content() {
    let c = Cluster::new("rack");
    let mut cfg = c.render("a4");
    let hash = cfg["secrets"]["ca_hash"].as_str().unwrap().to_string();
    let content = "configs:\n  reg.example:\n    auth:\n      password: LEAKMARKERE\n";
    cfg["agent"] = serde_json::json!({"write_files": [{
        "path": "/etc/rancher/k3s/registries.yaml",
        "content": content,
        "permissions": "0600",
    }]});
    let n = Node::new();
    n.image_defaults(&cfg);
    let (port, rx) = capture_post();
    let token = format!("K10{hash}::node:LEAKMARKERA0123456789");
    n.set_cmdline(&format!(
        "kateskit.agent.verify_join=false kateskit.phone_home=http://127.0.0.1:{port}/s \
         kateskit.secrets[token]={token}"
    ));
    let out = n.run(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(n.read("var/lib/kateskit/token"), format!("{token}\n"));
    let written = n.path("etc/rancher/k3s/registries.yaml");
    assert_eq!(std::fs::read_to_string(&written).unwrap(), content);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&written), 0o600);
    assert_eq!(mode(&n.path("run/kateskit")), 0o700);
    let body = posted(&rx);
    for m in ["LEAKMARKERA", "LEAKMARKERE"] {
        assert!(!body.contains(m), "phone_home body: {body}");
    }
    let shown: serde_json::Value = serde_json::from_str(&n.value("agent/write_files")).unwrap();
    assert_eq!(
        shown,
        serde_json::json!({
            "path": "/etc/rancher/k3s/registries.yaml",
            "mode": "0600",
            "sha256": hex::encode(Sha256::digest(content.as_bytes())),
        })
    );
    let password = cfg["secrets"]["node_password"].as_str().unwrap();
    assert_clean(&n, &out, &["LEAKMARKERA", "LEAKMARKERE", password]);
}

/// `Debug` of a NodeConfig and of the cluster's secrets shows no token, key or password.
#[test]
fn debug_formatting_shows_no_secret() {
    let c = Cluster::new("rack");
    let v = c.render("s1");
    let mut secret = Vec::new();
    for (k, val) in v["secrets"].as_object().unwrap() {
        match (k.as_str(), val) {
            ("ca_hash" | "ceph_fsid" | "ingress_ca_crt", _) => {}
            ("ca_files", serde_json::Value::Object(m)) => secret.extend(
                m.iter()
                    .filter(|(f, _)| f.ends_with(".key"))
                    .map(|(_, p)| p.as_str().unwrap().to_string()),
            ),
            (_, val) => secret.push(val.as_str().unwrap().to_string()),
        }
    }
    assert!(secret.len() >= 8, "{secret:?}");
    let cfg = c.node_config("s1");
    let s = kateskit::pki::load(c.dir.path()).unwrap();
    let shown = format!("{cfg:?}\n{s:?}\n{:#?}", cfg.secrets);
    for value in &secret {
        // Any 16-character piece of the value would do: PEM bodies are checked by their key line.
        let probe: String = value
            .lines()
            .find(|l| !l.starts_with("-----") && l.len() >= 16)
            .unwrap_or(value)
            .to_string();
        assert!(!shown.contains(&probe), "Debug shows {probe}");
    }
}
