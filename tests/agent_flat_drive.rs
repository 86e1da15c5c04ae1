//! A config drive's flat config tree (`config/`, docs/agent.md "Flat-file config") under the
//! trust table: its own source with the drive's rows, and never `secrets/`.

mod agent_support;

use std::os::unix::fs::PermissionsExt;

use agent_support::flat::joining;
use agent_support::trust::{embed_file, run_ok, warnings, NO_JOIN};
use agent_support::{Cluster, Node};

const EVIL_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEvilFlatTreeKey0000000000000000000 evil";

/// A drive directory whose config/ holds `files` (relative path, content).
fn flat_drive(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (rel, text) in files {
        let p = d.path().join("config").join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    d
}

#[test]
fn a_drives_config_tree_sets_no_protected_key_on_a_stamped_node() {
    let c = Cluster::new("rack");
    let cfg = c.render("a1");
    let n = Node::new();
    n.attach_osd_disks(&cfg);
    n.set_cmdline(NO_JOIN);
    let emb = embed_file(&cfg);
    let d = flat_drive(&[
        ("host/ssh_authorized_keys", &format!("{EVIL_KEY}\n")),
        ("k3s/server_url", "https://203.0.113.66:6443\n"),
        ("agent/sysctls/kernel.core_pattern", "|/bin/sh\n"),
        ("host/timezone", "Europe/Berlin\n"),
    ]);
    let drive = d.path().to_str().unwrap();
    run_ok(
        &n,
        &[
            ("KATESKIT_EMBED", emb.path().to_str().unwrap()),
            ("KATESKIT_CONFIG_DRIVE", drive),
        ],
    );
    assert!(!n.read("root/.ssh/authorized_keys").contains("Evil"));
    assert!(n
        .source("host.ssh_authorized_keys")
        .starts_with("embed area"));
    assert_eq!(
        n.value("k3s/server_url"),
        cfg["k3s"]["server_url"].as_str().unwrap()
    );
    let sysctl =
        std::fs::read_to_string(n.path("etc/sysctl.d/90-kateskit.conf")).unwrap_or_default();
    assert!(!sysctl.contains("core_pattern"), "{sysctl}");
    // What is not protected still comes from the drive, attributed to its file.
    assert_eq!(n.value("host/timezone"), "Europe/Berlin");
    assert_eq!(
        n.source("host.timezone"),
        format!("config drive {drive} (KATESKIT_CONFIG_DRIVE) config/host/timezone")
    );
    let w = warnings(&n);
    assert!(
        w.contains("a config/ tree on a config drive never sets"),
        "{w}"
    );
    for key in [
        "host.ssh_authorized_keys",
        "k3s.server_url",
        "agent.sysctls[kernel.core_pattern]",
    ] {
        assert!(w.contains(key), "{key} not named in:\n{w}");
    }
    assert!(!w.contains("AAAAIEvil"), "{w}");
}

#[test]
fn a_drives_config_tree_configures_an_unstamped_node_but_never_holds_secrets() {
    let n = joining("");
    let d = flat_drive(&[("host/ssh_authorized_keys", &format!("{EVIL_KEY}\n"))]);
    run_ok(&n, &[("KATESKIT_CONFIG_DRIVE", d.path().to_str().unwrap())]);
    assert_eq!(n.value("host/ssh_authorized_keys"), EVIL_KEY);
    assert!(n
        .source("host.ssh_authorized_keys")
        .ends_with("config/host/ssh_authorized_keys"));

    let n = joining("");
    let d = flat_drive(&[("secrets/token", "K10x::node:y\n")]);
    let p = d.path().join("config/secrets/token");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = n.run(&[("KATESKIT_CONFIG_DRIVE", d.path().to_str().unwrap())]);
    assert_eq!(out.status.code(), Some(1));
    let e = n.status()["errors"][0].as_str().unwrap().to_string();
    assert!(
        e.contains(
            "config/secrets/token: secrets are read from flat files only on the owner's sources"
        ),
        "{e}"
    );
}
