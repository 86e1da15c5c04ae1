//! The report: flat config tree (no secrets), `kateskit agent status [--json]`, the phone-home
//! POST, and networkd files switching between static and DHCP.

mod agent_support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use agent_support::{bin, Cluster, Node};

/// Accepts one POST on 127.0.0.1 and hands its body to the test.
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
            if let Some(i) = text.find("\r\n\r\n") {
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
                    tx.send(text[..i].lines().next().unwrap().to_string() + "\n" + &text[i + 4..])
                        .unwrap();
                    break;
                }
            }
        }
    });
    (port, rx)
}

#[test]
fn config_tree_status_command_and_phone_home() {
    let c = Cluster::new("rack");
    let cfg = c.render("a1");
    let n = Node::new();
    n.image_defaults(&cfg);
    n.attach_osd_disks(&cfg);
    let (port, rx) = capture_post();
    n.set_cmdline(&format!(
        "kateskit.agent.verify_join=false kateskit.phone_home=http://127.0.0.1:{port}/status/a1"
    ));
    let out = n.run(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // One value per file; lists one item per line; `/` in keys percent-encoded; no secrets.
    assert_eq!(n.value("node/role"), "agent");
    assert_eq!(n.value("node/labels/node.kateskit.dev%2Fstorage"), "ceph");
    assert_eq!(n.value("k3s/server_url"), "https://192.0.2.10:6443");
    assert_eq!(
        n.read("run/kateskit/config/node/taints"),
        "dedicated=storage:PreferNoSchedule\n"
    );
    assert!(!n.path("run/kateskit/config/secrets").exists());
    let token = cfg["secrets"]["token"].as_str().unwrap();
    for f in ["run/kateskit/sources", "run/kateskit/status.json"] {
        assert!(!n.read(f).contains(token), "{f} leaks the token");
    }
    assert!(
        !n.path("run/kateskit/config/agent/config_url").exists(),
        "unset values have no file"
    );

    let (head, body) = rx
        .recv_timeout(Duration::from_secs(10))
        .unwrap()
        .split_once('\n')
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .unwrap();
    assert_eq!(head, "POST /status/a1 HTTP/1.1");
    let posted: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(posted, n.status(), "phone-home body is status.json");
    assert_eq!(posted["node_name"], "a1");

    let root = n.root.path().to_str().unwrap().to_string();
    let json = bin()
        .args(["agent", "status", "--json"])
        .env("KATESKIT_ROOT", &root)
        .output()
        .unwrap();
    assert!(json.status.success());
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&json.stdout).unwrap(),
        n.status()
    );
    let text = bin()
        .args(["agent", "status"])
        .env("KATESKIT_ROOT", &root)
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("node:      a1 (agent)")
            && text.contains("addresses: 192.0.2.21/24")
            && text.contains("state:     OK at phase report"),
        "{text}"
    );
}

/// A phone_home that fails is a warning, and status.json (what `agent status` shows) has it:
/// the server never got the status, so the node's own copy must say so.
#[test]
fn a_failed_phone_home_is_a_warning_in_status_json() {
    let c = Cluster::new("rack");
    let cfg = c.render("a1");
    let n = Node::new();
    n.image_defaults(&cfg);
    n.attach_osd_disks(&cfg);
    // A port nothing listens on: the POST is refused at once.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    n.set_cmdline(&format!(
        "kateskit.agent.verify_join=false kateskit.agent.http_timeout_s=2 kateskit.phone_home=http://127.0.0.1:{port}/status/a1"
    ));
    let out = n.run(&[]);
    assert!(
        out.status.success(),
        "a phone_home failure fails nothing: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = n.status();
    let warnings = status["warnings"].to_string();
    assert!(
        warnings.contains(&format!("phone_home http://127.0.0.1:{port}/status/a1")),
        "status.json does not name the failed phone_home: {status:#}"
    );
    assert_eq!(status["state"], "ok", "{status:#}");
}

#[test]
fn status_of_a_failed_run_exits_nonzero_and_shows_the_error() {
    let n = Node::new();
    n.write("etc/kateskit/image.json", "{ broken");
    assert!(!n.run(&[]).status.success());
    let out = bin()
        .args(["agent", "status"])
        .env("KATESKIT_ROOT", n.root.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("state:     FAILED at phase discover")
            && text.contains("error: discover: image defaults /etc/kateskit/image.json: line 1"),
        "{text}"
    );
    let none = bin()
        .args(["agent", "status"])
        .env("KATESKIT_ROOT", tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&none.stderr)
        .contains("has `kateskit agent run` run on this boot?"));
}

#[test]
fn network_switches_between_static_and_dhcp() {
    let c = Cluster::new("homelab");
    let mut cfg = c.render("box");
    cfg["node"]["network"] = serde_json::json!({"interface": "eno1", "addresses": ["192.0.2.50/24"], "gateway": "192.0.2.1", "dns": []});
    let n = Node::new();
    n.image_defaults(&cfg);
    n.attach_osd_disks(&cfg);
    n.set_cmdline("kateskit.agent.verify_join=false");
    assert!(n.run(&[]).status.success());
    let dir = "etc/systemd/network";
    assert!(n
        .read(&format!("{dir}/10-kateskit-static.network"))
        .contains("[Match]\nName=eno1\n"));
    assert!(!n.path(&format!("{dir}/99-kateskit-dhcp.network")).exists());
    cfg["node"].as_object_mut().unwrap().remove("network");
    n.image_defaults(&cfg);
    assert!(n.run(&[]).status.success());
    assert!(
        !n.path(&format!("{dir}/10-kateskit-static.network"))
            .exists(),
        "stale static file removed"
    );
    assert!(n
        .read(&format!("{dir}/99-kateskit-dhcp.network"))
        .contains("DHCP=yes"));
    // A declared interface that this machine lacks fails closed before k3s is configured.
    n.write("sys/class/net/eth0/address", "52:54:00:99:99:99\n");
    n.set_cmdline("kateskit.agent.verify_join=false kateskit.node.network.interface=eno1 kateskit.node.network.addresses[]=192.0.2.50/24");
    std::fs::remove_dir_all(n.path("etc/rancher")).unwrap();
    assert!(!n.run(&[]).status.success());
    let st = n.status();
    assert_eq!(st["phase"], "network");
    assert!(
        st["errors"][0]
            .as_str()
            .unwrap()
            .contains("interface `eno1` does not exist on this machine (have: eth0)"),
        "{}",
        st["errors"]
    );
    assert!(
        !n.path("etc/rancher").exists(),
        "k3s not configured after a network failure"
    );
}
