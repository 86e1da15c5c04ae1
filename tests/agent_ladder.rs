//! The config ladder end to end: which source wins for each value, and the attribution the
//! report records for it (errors: tests/agent_errors.rs).

mod agent_support;

use agent_support::{http_server, Cluster, Node};
use serde_json::json;
use sha2::{Digest, Sha256};

const NO_JOIN: &str = "kateskit.agent.verify_join=false";

fn node_with_defaults(c: &Cluster) -> (Node, serde_json::Value) {
    let cfg = c.render("a1");
    let n = Node::new();
    n.image_defaults(&cfg);
    n.attach_osd_disks(&cfg);
    (n, cfg)
}

/// One row: which sources are present, and the expected hostname + timezone with their sources.
struct Row {
    embed: Option<serde_json::Value>,
    drive: Option<serde_json::Value>,
    cmdline: &'static str,
    url_body: Option<serde_json::Value>,
    hostname: (&'static str, &'static str),
    timezone: (&'static str, &'static str),
}

#[test]
fn ladder_table_values_and_attribution() {
    let c = Cluster::new("rack");
    let rows = [
        Row {
            embed: None,
            drive: None,
            cmdline: "",
            url_body: None,
            hostname: ("a1", "image defaults /etc/kateskit/image.json"),
            timezone: ("UTC", "image defaults"),
        },
        Row {
            embed: Some(json!({"host": {"hostname": "emb"}})),
            drive: None,
            cmdline: "",
            url_body: None,
            hostname: ("emb", "embed area"),
            timezone: ("UTC", "image defaults"),
        },
        Row {
            embed: Some(json!({"host": {"hostname": "emb", "timezone": "Asia/Tokyo"}})),
            drive: Some(json!({"host": {"hostname": "drv"}})),
            cmdline: "",
            url_body: None,
            hostname: ("drv", "config drive"),
            timezone: ("Asia/Tokyo", "embed area"),
        },
        Row {
            embed: None,
            drive: Some(json!({"host": {"hostname": "drv", "timezone": "Europe/Berlin"}})),
            cmdline: "kateskit.hostname=cmd",
            url_body: None,
            hostname: ("cmd", "kernel argument kateskit.hostname=cmd (from "),
            timezone: ("Europe/Berlin", "config drive"),
        },
        Row {
            embed: Some(json!({"host": {"hostname": "emb"}})),
            drive: Some(json!({"host": {"timezone": "Europe/Berlin"}})),
            cmdline: "kateskit.hostname=cmd",
            url_body: Some(json!({"host": {"hostname": "url", "timezone": "America/New_York"}})),
            hostname: ("url", "config_url http://127.0.0.1:"),
            timezone: ("America/New_York", "config_url"),
        },
    ];
    for (i, r) in rows.iter().enumerate() {
        let (n, _) = node_with_defaults(&c);
        let mut extra: Vec<(String, String)> = Vec::new();
        let _emb = r.embed.as_ref().map(|e| {
            let f = tempfile::NamedTempFile::new().unwrap();
            let area =
                kateskit::image::embed::build_area(262144, Some(&e.to_string()), &[]).unwrap();
            std::fs::write(f.path(), area).unwrap();
            extra.push(("KATESKIT_EMBED".into(), f.path().display().to_string()));
            f
        });
        let _drv = r.drive.as_ref().map(|d| {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("kateskit.json"), d.to_string()).unwrap();
            extra.push((
                "KATESKIT_CONFIG_DRIVE".into(),
                dir.path().display().to_string(),
            ));
            dir
        });
        let mut line = format!("console=ttyS0 {NO_JOIN} {}", r.cmdline);
        if let Some(b) = &r.url_body {
            let body = b.to_string().into_bytes();
            let sha = hex::encode(Sha256::digest(&body));
            let port = http_server(vec![("/cfg/cmd.json", 200, body)]);
            line.push_str(&format!(" kateskit.config_url=http://127.0.0.1:{port}/cfg/${{hostname}}.json kateskit.config_sha256={sha}"));
        }
        n.set_cmdline(&line);
        let env: Vec<(&str, &str)> = extra
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let out = n.run(&env);
        assert!(
            out.status.success(),
            "row {i}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert_eq!(n.value("host/hostname"), r.hostname.0, "row {i}");
        assert!(
            n.source("host.hostname").starts_with(r.hostname.1),
            "row {i}: {}",
            n.source("host.hostname")
        );
        assert_eq!(n.value("host/timezone"), r.timezone.0, "row {i}");
        assert!(
            n.source("host.timezone").starts_with(r.timezone.1),
            "row {i}: {}",
            n.source("host.timezone")
        );
        assert_eq!(
            n.read("etc/hostname"),
            format!("{}\n", r.hostname.0),
            "row {i}"
        );
        assert_eq!(
            std::fs::read_link(n.path("etc/localtime"))
                .unwrap()
                .to_str()
                .unwrap(),
            format!("/etc/zoneinfo/{}", r.timezone.0)
        );
        // Untouched values keep the image default and say so.
        assert_eq!(n.value("node/name"), "a1");
        assert!(n.source("node.name").starts_with("image defaults"));
        assert_eq!(n.source("agent.ready_timeout_s"), "default");
        assert!(n
            .source("agent.verify_join")
            .starts_with("kernel argument kateskit.agent.verify_join=false"));
    }
}

#[test]
fn cidata_drive_and_ip_argument() {
    let c = Cluster::new("rack");
    let (n, _) = node_with_defaults(&c);
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("meta-data"),
        "instance-id: iid-1\nlocal-hostname: meta\n",
    )
    .unwrap();
    std::fs::write(d.path().join("user-data"), "#cloud-config\nhostname: cloud\nssh_authorized_keys:\n  - ssh-ed25519 AAAAcloud key@cloud\nwrite_files:\n  - path: /etc/motd\n    content: hello\n    permissions: '0600'\n").unwrap();
    n.set_cmdline(&format!(
        "{NO_JOIN} ip=198.51.100.7::198.51.100.1:255.255.255.0:iphost:ens3:none:198.51.100.53"
    ));
    let out = n.run(&[("KATESKIT_CONFIG_DRIVE", d.path().to_str().unwrap())]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // ip= is a kernel argument, so its hostname beats the drive's.
    assert_eq!(n.value("host/hostname"), "iphost");
    assert_eq!(
        n.value("host/ssh_authorized_keys"),
        "ssh-ed25519 AAAAcloud key@cloud"
    );
    assert!(n
        .source("host.ssh_authorized_keys")
        .ends_with("user-data ssh_authorized_keys"));
    assert_eq!(
        n.read("root/.ssh/authorized_keys"),
        "ssh-ed25519 AAAAcloud key@cloud\n"
    );
    assert_eq!(n.read("etc/motd"), "hello");
    assert!(n
        .source("node.network.addresses")
        .starts_with("kernel argument ip=198.51.100.7"));
    let net = n.read("etc/systemd/network/10-kateskit-static.network");
    assert!(
        net.contains("[Match]\nName=ens3\n")
            && net.contains("Address=198.51.100.7/24\nGateway=198.51.100.1\nDNS=198.51.100.53\n"),
        "{net}"
    );
    assert!(!n
        .path("etc/systemd/network/99-kateskit-dhcp.network")
        .exists());
}

/// Kernel arguments stamped into the embed area count as appended to the real command line:
/// they beat it and the config drive, and say where they came from.
#[test]
fn stamped_kernel_arguments_rank_after_the_command_line() {
    let c = Cluster::new("rack");
    let (n, _) = node_with_defaults(&c);
    let f = tempfile::NamedTempFile::new().unwrap();
    let kargs = vec!["kateskit.hostname=stamped".to_string()];
    let area = kateskit::image::embed::build_area(
        262144,
        Some(&json!({"host": {"timezone": "Asia/Tokyo"}}).to_string()),
        &kargs,
    )
    .unwrap();
    std::fs::write(f.path(), area).unwrap();
    n.set_cmdline(&format!("console=ttyS0 {NO_JOIN} kateskit.hostname=cmd"));
    let out = n.run(&[("KATESKIT_EMBED", f.path().to_str().unwrap())]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(n.value("host/hostname"), "stamped");
    let src = n.source("host.hostname");
    assert!(
        src.starts_with("kernel argument kateskit.hostname=stamped (from embed area "),
        "{src}"
    );
    assert!(src.contains("(kernel arguments)"), "{src}");
    assert_eq!(n.value("host/timezone"), "Asia/Tokyo");
    assert!(n.source("host.timezone").starts_with("embed area"));
}

/// The NixOS module's `ImageDefaults`: a per-node image names its node; a generic image holds
/// every node and the machine picks its own by MAC.
#[test]
fn image_defaults_pick_the_node_by_name_or_by_mac() {
    let c = Cluster::new("rack");
    let (a1, a2) = (c.render("a1"), c.render("a2"));
    let doc = |node: serde_json::Value| {
        json!({"apiVersion": "kateskit.dev/v1", "kind": "ImageDefaults", "variant": "iso",
               "cluster": "rack", "node": node, "nodes": {"a1": a1, "a2": a2}})
    };
    let n = Node::new();
    n.attach_osd_disks(&a2);
    n.set_cmdline(&format!("console=ttyS0 {NO_JOIN}"));
    n.write("sys/class/net/lo/address", "00:00:00:00:00:00\n");
    n.write("sys/class/net/eth0/address", "52:54:00:0B:00:02\n");
    n.write("sys/class/net/eth0/device/vendor", "0x1af4\n");
    // A bridge and a veth carrying a1's MAC (any virtual link may) never stand for the machine.
    n.write("sys/class/net/br0/address", "52:54:00:0b:00:01\n");
    n.write("sys/class/net/br0/bridge/bridge_id", "8000.5254000b0001\n");
    n.write("sys/class/net/veth0/address", "52:54:00:0b:00:01\n");
    // Generic image: a2 by the MAC of eth0 (case-insensitive).
    n.image_defaults(&doc(serde_json::Value::Null));
    let out = n.run(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(n.value("node/name"), "a2");
    assert!(
        n.source("node.name")
            .ends_with("(node a2 by MAC 52:54:00:0b:00:02)"),
        "{}",
        n.source("node.name")
    );
    // Two nodes claiming this machine (by two physical links) is an error that names them.
    n.write("sys/class/net/eth1/address", "52:54:00:0b:00:01\n");
    n.write("sys/class/net/eth1/device/vendor", "0x1af4\n");
    let out = n.run(&[]);
    assert!(!out.status.success());
    let d = n.journal()["phases"][0]["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(d.contains("match several nodes (a1, a2)"), "{d}");
    // A per-node image names its node, whatever the MACs say.
    n.image_defaults(&doc(json!("a2")));
    let out = n.run(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        n.source("node.name").ends_with("(node a2)"),
        "{}",
        n.source("node.name")
    );
}
