//! The trust model (docs/agent.md "Trust model"): what a config drive and config_url may set
//! on a stamped node, the identity record that ends the first boot, and the CA hash it pins.

mod agent_support;

use agent_support::trust::{drive, embed_file, run_ok, warnings, NO_JOIN};
use agent_support::{http_server, Cluster, Node};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const EVIL_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEvilKeyFromAUsbStick000000000000000 evil";
const EVIL_TOKEN: &str = "K10::node:stolen-from-a-usb-stick";

/// What an attacker's USB stick carries: every protected key, and a harmless hostname.
fn hostile_drive() -> tempfile::TempDir {
    drive(&json!({
        "host": {"hostname": "usb", "ssh_authorized_keys": [EVIL_KEY]},
        "k3s": {"server_url": "https://203.0.113.66:6443", "server_urls": ["https://203.0.113.66:6443"]},
        "secrets": {"token": EVIL_TOKEN},
        "storage": {"osd_disks": []},
        "bundle": {"traefik": {"enable": true, "values": {"deployment": {"hostNetwork": true}}}},
        "agent": {"sysctls": {"kernel.core_pattern": "|/bin/sh"},
                  "write_files": [{"path": "/etc/systemd/system/evil.service", "content": "[Service]\n"}]}
    }))
}

/// The protected keys still hold the owner's values, and the drive's never reached a file.
fn assert_owner_keys(n: &Node, cfg: &Value) {
    let keys = cfg["host"]["ssh_authorized_keys"].as_array().unwrap();
    assert_eq!(
        n.read("root/.ssh/authorized_keys"),
        format!("{}\n", keys[0].as_str().unwrap())
    );
    assert!(n
        .source("host.ssh_authorized_keys")
        .starts_with("embed area"));
    assert_eq!(
        n.value("k3s/server_url"),
        cfg["k3s"]["server_url"].as_str().unwrap()
    );
    assert!(n.source("storage.osd_disks").starts_with("embed area"));
    assert!(!n.path("etc/systemd/system/evil.service").exists());
    let sysctl =
        std::fs::read_to_string(n.path("etc/sysctl.d/90-kateskit.conf")).unwrap_or_default();
    assert!(!sysctl.contains("core_pattern"), "{sysctl}");
    assert_eq!(n.value("agent/config_drive"), "first-boot");
    let token = n.read("var/lib/kateskit/token");
    assert!(!token.contains("stolen"), "{token}");
}

#[test]
fn a_drive_on_a_stamped_node_sets_none_of_the_protected_keys_and_says_so() {
    let c = Cluster::new("rack");
    let cfg = c.render("a1");
    let n = Node::new();
    n.attach_osd_disks(&cfg);
    n.set_cmdline(NO_JOIN);
    let emb = embed_file(&cfg);
    let d = hostile_drive();
    run_ok(
        &n,
        &[
            ("KATESKIT_EMBED", emb.path().to_str().unwrap()),
            ("KATESKIT_CONFIG_DRIVE", d.path().to_str().unwrap()),
        ],
    );
    assert_owner_keys(&n, &cfg);
    // What is not protected still comes from the drive.
    assert_eq!(n.value("host/hostname"), "usb");
    assert!(n.source("host.hostname").starts_with("config drive"));
    let w = warnings(&n);
    assert!(
        w.contains(&format!(
            "config drive {} (KATESKIT_CONFIG_DRIVE)",
            d.path().display()
        )),
        "{w}"
    );
    for key in [
        "host.ssh_authorized_keys",
        "k3s.server_url",
        "k3s.server_urls",
        "secrets.token",
        "storage.osd_disks",
        "agent.write_files",
        "agent.sysctls[kernel.core_pattern]",
        "bundle.traefik",
    ] {
        assert!(w.contains(key), "{key} not named in:\n{w}");
    }
    assert!(
        !w.contains("stolen") && !w.contains("AAAAIEvil"),
        "a value is shown:\n{w}"
    );
}

#[test]
fn a_nocloud_drive_on_a_stamped_node_writes_no_keys_and_no_files() {
    let c = Cluster::new("rack");
    let cfg = c.render("a1");
    let n = Node::new();
    n.attach_osd_disks(&cfg);
    n.set_cmdline(NO_JOIN);
    let emb = embed_file(&cfg);
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("user-data"),
        format!("#cloud-config\nssh_authorized_keys: [\"{EVIL_KEY}\"]\nwrite_files:\n- path: /etc/systemd/system/evil.service\n  content: x\n"),
    )
    .unwrap();
    run_ok(
        &n,
        &[
            ("KATESKIT_EMBED", emb.path().to_str().unwrap()),
            ("KATESKIT_CONFIG_DRIVE", d.path().to_str().unwrap()),
        ],
    );
    assert_owner_keys(&n, &cfg);
    let w = warnings(&n);
    assert!(
        w.contains("ignored agent.write_files, host.ssh_authorized_keys"),
        "{w}"
    );
}

#[test]
fn a_drive_on_an_unstamped_node_configures_it_on_the_first_boot() {
    let c = Cluster::new("rack");
    let cfg = c.render("a1");
    let n = Node::new();
    n.attach_osd_disks(&cfg);
    // A NodeConfig as image defaults (not an ImageDefaults document naming the node): unstamped.
    n.image_defaults(&cfg);
    n.set_cmdline(NO_JOIN);
    let d = drive(
        &json!({"host": {"hostname": "fromdrive", "ssh_authorized_keys": ["ssh-ed25519 AAAAdrive k"]},
                          "bundle": {"traefik": {"enable": true, "values": {"deployment": {"hostNetwork": true}}}},
        "agent": {"sysctls": {"kernel.core_pattern": "|/bin/sh"},
                  "write_files": [{"path": "/etc/motd", "content": "hi"}]}}),
    );
    run_ok(&n, &[("KATESKIT_CONFIG_DRIVE", d.path().to_str().unwrap())]);
    assert_eq!(n.value("host/hostname"), "fromdrive");
    assert_eq!(
        n.read("root/.ssh/authorized_keys"),
        "ssh-ed25519 AAAAdrive k\n"
    );
    assert_eq!(n.read("etc/motd"), "hi");
    assert!(!warnings(&n).contains("ignored"), "{}", warnings(&n));
}

/// A drive cannot widen its own trust: `agent.config_drive` is the owner's alone.
#[test]
fn a_drive_cannot_set_when_drives_are_read() {
    let c = Cluster::new("rack");
    let cfg = c.render("a1");
    let n = Node::new();
    n.attach_osd_disks(&cfg);
    n.image_defaults(&cfg);
    n.set_cmdline(NO_JOIN);
    let d =
        drive(&json!({"agent": {"config_drive": "always"}, "host": {"timezone": "Asia/Tokyo"}}));
    run_ok(&n, &[("KATESKIT_CONFIG_DRIVE", d.path().to_str().unwrap())]);
    assert_eq!(n.value("host/timezone"), "Asia/Tokyo");
    assert_eq!(n.value("agent/config_drive"), "first-boot");
    assert_eq!(n.source("agent.config_drive"), "default");
    let w = warnings(&n);
    assert!(
        w.contains("ignored agent.config_drive: only the owner's config"),
        "{w}"
    );
    // The owner's kernel command line may set it.
    n.set_cmdline(&format!("{NO_JOIN} kateskit.agent.config_drive=never"));
    run_ok(&n, &[("KATESKIT_CONFIG_DRIVE", d.path().to_str().unwrap())]);
    assert_eq!(n.value("agent/config_drive"), "never");
    assert!(
        warnings(&n).contains("ignored: the owner's config sets agent.config_drive = \"never\""),
        "{}",
        warnings(&n)
    );
}

#[test]
fn after_the_identity_is_recorded_a_drive_is_ignored() {
    let c = Cluster::new("rack");
    let cfg = c.render("a1");
    let n = Node::new();
    n.attach_osd_disks(&cfg);
    n.image_defaults(&cfg);
    n.set_cmdline(NO_JOIN);
    assert!(!n.path("var/lib/kateskit/identity.json").exists());
    run_ok(&n, &[]);
    let id: Value = serde_json::from_str(&n.read("var/lib/kateskit/identity.json")).unwrap();
    assert_eq!(
        id,
        json!({"version": 1, "node_name": "a1", "ca_hash": cfg["secrets"]["ca_hash"],
               "server_url": cfg["k3s"]["server_url"]})
    );
    let mode = std::fs::metadata(n.path("var/lib/kateskit/identity.json")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
    // Later boot: the drive is not read, even for what it could set on the first boot, and
    // its own `config_drive = "always"` does not count.
    let d = drive(
        &json!({"host": {"hostname": "later", "ssh_authorized_keys": ["ssh-ed25519 AAAAlater k"]},
                          "agent": {"config_drive": "always"}}),
    );
    run_ok(&n, &[("KATESKIT_CONFIG_DRIVE", d.path().to_str().unwrap())]);
    assert_eq!(n.value("host/hostname"), "a1");
    assert_ne!(
        n.read("root/.ssh/authorized_keys"),
        "ssh-ed25519 AAAAlater k\n"
    );
    assert!(!n.status()["sources"]
        .as_array()
        .unwrap()
        .contains(&json!("config drive")));
    let w = warnings(&n);
    assert!(
        w.contains(
            "(KATESKIT_CONFIG_DRIVE) ignored: removable media are read on the first boot only"
        ) && w.contains("identity.json"),
        "{w}"
    );
}

#[test]
fn config_drive_always_reads_it_but_never_the_protected_keys_of_a_stamped_node() {
    let c = Cluster::new("rack");
    let mut cfg = c.render("a1");
    let n = Node::new();
    n.attach_osd_disks(&cfg);
    n.set_cmdline(NO_JOIN);
    cfg["agent"] = json!({"config_drive": "always"});
    let emb = embed_file(&cfg);
    let e = emb.path().to_str().unwrap();
    run_ok(&n, &[("KATESKIT_EMBED", e)]);
    assert!(n.path("var/lib/kateskit/identity.json").exists());
    let d = hostile_drive();
    run_ok(
        &n,
        &[
            ("KATESKIT_EMBED", e),
            ("KATESKIT_CONFIG_DRIVE", d.path().to_str().unwrap()),
        ],
    );
    assert_eq!(n.value("host/hostname"), "usb");
    assert_eq!(n.value("agent/config_drive"), "always");
    let keys = cfg["host"]["ssh_authorized_keys"][0]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(n.read("root/.ssh/authorized_keys"), format!("{keys}\n"));
    assert!(!n.path("etc/systemd/system/evil.service").exists());
    assert!(!n.read("var/lib/kateskit/token").contains("stolen"));
    assert!(
        warnings(&n).contains("ignored agent.sysctls[kernel.core_pattern], agent.write_files"),
        "{}",
        warnings(&n)
    );
}

#[test]
fn config_for_another_clusters_ca_is_refused_until_the_identity_is_removed() {
    let (a, b) = (Cluster::new("rack"), Cluster::new("rack"));
    let (cfg_a, cfg_b) = (a.render("a1"), b.render("a1"));
    let n = Node::new();
    n.attach_osd_disks(&cfg_a);
    n.image_defaults(&cfg_a);
    n.set_cmdline(NO_JOIN);
    run_ok(&n, &[]);
    n.image_defaults(&cfg_b);
    let out = n.run(&[]);
    assert!(!out.status.success());
    let j = n.journal();
    assert_eq!(j["phases"][0]["outcome"], "failed");
    let d = j["phases"][0]["detail"].as_str().unwrap();
    let (ha, hb) = (
        cfg_a["secrets"]["ca_hash"].as_str().unwrap(),
        cfg_b["secrets"]["ca_hash"].as_str().unwrap(),
    );
    assert_ne!(ha, hb);
    assert!(d.contains(ha) && d.contains(hb), "{d}");
    assert!(d.contains("remove /var/lib/kateskit/identity.json"), "{d}");
    let token_b = cfg_b["secrets"]["token"].as_str().unwrap();
    let password = token_b.rsplit(':').next().unwrap();
    for text in [
        n.read("run/kateskit/status.json"),
        n.read("var/lib/kateskit/journal.json"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ] {
        assert!(!text.contains(password), "the token is shown:\n{text}");
    }
    // The node still holds the old cluster's token: nothing of the refused config applied.
    assert!(n.read("var/lib/kateskit/token").contains(ha));
    // Re-provisioning deliberately: remove the record.
    std::fs::remove_file(n.path("var/lib/kateskit/identity.json")).unwrap();
    run_ok(&n, &[]);
    assert!(n.read("var/lib/kateskit/identity.json").contains(hb));
}

/// A config_url whose URL and pin are the owner's is the owner's config; one named or pinned
/// only by a drive, or not pinned, sets no protected key on a stamped node.
#[test]
fn config_url_sets_protected_keys_only_when_the_owner_pinned_it() {
    let c = Cluster::new("rack");
    let cfg = c.render("a1");
    let body = cfg.to_string().into_bytes();
    let sha = hex::encode(Sha256::digest(&body));
    let hostile = json!({"host": {"hostname": "url", "ssh_authorized_keys": [EVIL_KEY]}})
        .to_string()
        .into_bytes();
    let hostile_sha = hex::encode(Sha256::digest(&hostile));
    let port = http_server(vec![("/a1.json", 200, body), ("/evil.json", 200, hostile)]);
    // Stamped with nothing but the URL and its pin: every key comes from the URL.
    let n = Node::new();
    n.attach_osd_disks(&cfg);
    n.set_cmdline(NO_JOIN);
    let f = tempfile::NamedTempFile::new().unwrap();
    let kargs = vec![
        format!("kateskit.config_url=http://127.0.0.1:{port}/a1.json"),
        format!("kateskit.config_sha256={sha}"),
    ];
    std::fs::write(
        f.path(),
        kateskit::image::embed::build_area(262144, None, &kargs).unwrap(),
    )
    .unwrap();
    run_ok(&n, &[("KATESKIT_EMBED", f.path().to_str().unwrap())]);
    assert!(n
        .source("host.ssh_authorized_keys")
        .starts_with("config_url"));
    let ca = cfg["secrets"]["ca_hash"].as_str().unwrap();
    assert!(n.read("var/lib/kateskit/token").contains(ca));
    // A stamped node and a config_url the drive names and pins, or the owner names and only the
    // drive pins (plain http without any pin is refused outright: agent_fetch).
    let url = format!("http://127.0.0.1:{port}/evil.json");
    let drive_pinned = drive(&json!({"agent": {"config_url": url, "config_sha256": hostile_sha}}));
    let drive_pin_only = drive(&json!({"agent": {"config_sha256": hostile_sha}}));
    let emb = embed_file(&cfg);
    for (cmdline, drv) in [
        (NO_JOIN.to_string(), Some(&drive_pinned)),
        (
            format!("{NO_JOIN} kateskit.config_url={url}"),
            Some(&drive_pin_only),
        ),
    ] {
        let n = Node::new();
        n.attach_osd_disks(&cfg);
        n.set_cmdline(&cmdline);
        let mut env = vec![("KATESKIT_EMBED", emb.path().to_str().unwrap())];
        if let Some(d) = drv {
            env.push(("KATESKIT_CONFIG_DRIVE", d.path().to_str().unwrap()));
        }
        run_ok(&n, &env);
        assert_eq!(n.value("host/hostname"), "url", "{cmdline}");
        assert_owner_keys(&n, &cfg);
        let w = warnings(&n);
        assert!(
            w.contains(&format!(
                "config_url {url}: ignored host.ssh_authorized_keys"
            )),
            "{w}"
        );
        assert!(
            w.contains("set both agent.config_url and agent.config_sha256 (or"),
            "{w}"
        );
    }
}
