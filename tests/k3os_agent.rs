//! The agent reads k3os configs as rungs of its ladder: a `config.yaml` at the root of a
//! config drive, `k3os.*` kernel arguments and a YAML k3os body at config_url; what has no
//! equivalent is a status warning naming the key and its source.

mod agent_support;

use agent_support::trust::{run_ok, warnings, NO_JOIN};
use agent_support::{http_server, Cluster, Node};

fn node() -> Node {
    let c = Cluster::new("rack");
    let cfg = c.render("a1");
    let n = Node::new();
    n.image_defaults(&cfg);
    n.attach_osd_disks(&cfg);
    n
}

const CONFIG: &str = "hostname: k3os-host\nssh_authorized_keys:\n- ssh-ed25519 AAAAk3os k@os\nwrite_files:\n- path: /etc/motd\n  content: from k3os\n- path: /etc/local.d/x.start\n  content: echo\nk3os:\n  password: rancher\n  wifi:\n  - name: home\n    passphrase: hunter2\n  labels:\n    region: eu\n";

#[test]
fn a_k3os_config_drive_and_kernel_arguments_map_and_report() {
    let n = node();
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("config.yaml"), CONFIG).unwrap();
    n.set_cmdline(&format!(
        "{NO_JOIN} k3os.ntp_servers=ntp.example k3os.mode=live k3os.labels[zone]=z1"
    ));
    run_ok(&n, &[("KATESKIT_CONFIG_DRIVE", d.path().to_str().unwrap())]);
    assert_eq!(n.value("host/hostname"), "k3os-host");
    assert!(
        n.source("host.hostname")
            .ends_with("config.yaml (k3os config) hostname"),
        "{}",
        n.source("host.hostname")
    );
    assert_eq!(
        n.read("root/.ssh/authorized_keys"),
        "ssh-ed25519 AAAAk3os k@os\n"
    );
    assert_eq!(n.read("etc/motd"), "from k3os");
    assert!(!n.path("etc/local.d/x.start").exists());
    // The kernel arguments rank above the drive: their labels replace the drive's.
    assert_eq!(n.value("node/labels/zone"), "z1");
    assert_eq!(n.value("host/ntp_servers"), "ntp.example");
    assert!(n
        .source("host.ntp_servers")
        .contains("(k3os.* arguments) k3os.ntp_servers"));
    let w = warnings(&n);
    for key in [
        "k3os key k3os.password not applied",
        "k3os key k3os.wifi home not applied",
        "k3os key write_files[1] /etc/local.d/x.start not applied",
        "k3os key k3os.mode not applied",
    ] {
        assert!(w.contains(key), "{key} missing in:\n{w}");
    }
    assert!(!w.contains("hunter2") && !w.contains("rancher\n"), "{w}");
    let status = n.read("run/kateskit/status.json");
    assert!(!status.contains("hunter2"), "{status}");
}

#[test]
fn a_k3os_yaml_body_at_config_url_is_mapped() {
    use sha2::{Digest, Sha256};
    let n = node();
    let body = b"hostname: from-url\nk3os:\n  dns_nameservers: [1.1.1.1]\n".to_vec();
    let sha = hex::encode(Sha256::digest(&body));
    let port = http_server(vec![("/k3os.yaml", 200, body)]);
    n.set_cmdline(&format!(
        "{NO_JOIN} kateskit.config_url=http://127.0.0.1:{port}/k3os.yaml kateskit.config_sha256={sha}"
    ));
    run_ok(&n, &[]);
    assert_eq!(n.value("host/hostname"), "from-url");
    assert!(n.source("host.hostname").contains("(k3os config) hostname"));
    let w = warnings(&n);
    assert!(
        w.contains("k3os key k3os.dns_nameservers not applied"),
        "{w}"
    );
}

/// `k3os.token=` is a secret on the running kernel's command line, as `kateskit.token=` is:
/// refused on a server, and its value never shown.
#[test]
fn a_k3os_token_on_a_servers_command_line_is_refused() {
    let c = Cluster::new("rack");
    let cfg = c.render("s2");
    let n = Node::new();
    n.image_defaults(&cfg);
    let tok = cfg["secrets"]["token"].as_str().unwrap();
    n.set_cmdline(&format!("{NO_JOIN} k3os.token={tok}"));
    let out = n.run(&[]);
    assert!(!out.status.success(), "k3os.token accepted on a server");
    let detail = n.journal()["phases"][0]["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(detail.contains("secrets.token"), "{detail}");
    let shown = format!(
        "{}{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        n.read("run/kateskit/status.json")
    );
    assert!(!shown.contains(tok), "{shown}");
}
