//! `image inspect` never prints a secret: stamped `kateskit.token=` (alias and path forms) and
//! URL credentials in kernel arguments are masked in the text and the JSON output. `image pull`
//! errors show the URL without its userinfo or query.

mod image_common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use image_common::*;

#[test]
fn inspect_masks_secret_kargs_and_url_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let (_, json) = node_config(dir.path());
    let iso = fixture_copy(dir.path(), "embed.iso");
    let kargs = [
        "kateskit.token=K10abc::server:LEAKMARKER1",
        "kateskit.secrets.agent_token=K10abc::node:LEAKMARKER2",
        "kateskit.secrets[node_password]=LEAKMARKER3",
        "kateskit.config_url=https://user:LEAKMARKER4@cfg.example/n.json?sig=LEAKMARKER5",
        "console=ttyS0",
    ];
    let mut c = kateskit();
    c.args(["image", "customize"])
        .arg(&iso)
        .arg("--node-config")
        .arg(&json)
        .arg("--in-place");
    for k in kargs {
        c.args(["--karg", k]);
    }
    c.assert().success();
    let got = kateskit::image::customize::inspect(&iso).unwrap().1;
    assert!(
        matches!(&got, kateskit::image::customize::AreaState::Stamped(e) if e.kargs == kargs),
        "the stamp itself carries the real values"
    );

    let text = kateskit()
        .args(["image", "inspect"])
        .arg(&iso)
        .output()
        .unwrap();
    let json = kateskit()
        .args(["image", "inspect", "--json"])
        .arg(&iso)
        .output()
        .unwrap();
    for out in [&text, &json] {
        assert!(out.status.success());
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(!shown.contains("LEAKMARKER"), "{shown}");
        for want in [
            "kateskit.token=<redacted>",
            "kateskit.secrets.agent_token=<redacted>",
            "kateskit.secrets[node_password]=<redacted>",
            "kateskit.config_url=https://***@cfg.example/n.json?***",
            "console=ttyS0",
        ] {
            assert!(shown.contains(want), "{want} missing in {shown}");
        }
    }
}

/// An error names the URL without its userinfo or query (a signed or authenticated URL).
#[test]
fn pull_errors_show_the_url_without_credentials() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        // One request: 404 is not retried.
        if let Ok((mut s, _)) = l.accept() {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let _ = s.read(&mut [0u8; 4096]);
            let _ = s.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let out = kateskit()
        .args([
            "image",
            "pull",
            &format!("http://user:LEAKPASS@{host}/nope.iso?sig=LEAKQUERY"),
            "-o",
        ])
        .arg(dir.path().join("nope.iso"))
        .args(["--sha256", &"1".repeat(64)])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("LEAK"), "{err}");
    assert!(
        err.contains(&format!("http://***@{host}/nope.iso?***: HTTP 404")),
        "{err}"
    );
}
