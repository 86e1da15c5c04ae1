//! The flat-file config in both directions (docs/agent.md "Flat-file config"): a run's tree
//! read back from /etc/kateskit/config.d, a drive's config/ under the trust table,
//! KATESKIT_VALUE_* files, and `kateskit agent config get|list`.

mod agent_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use agent_support::machine::{machine, token, SERVER};
use agent_support::trust::{embed_file, run_ok, warnings, NO_JOIN};
use agent_support::{bin, Cluster, Node};
use kateskit::agent::flat;
use serde_json::{json, Value};

/// Every file under `dir`, by relative path, with its content.
fn files(dir: &Path) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    out
}

/// Writes `tree`'s leaves as a flat tree under `dir`, each file with `mode`.
fn write_flat(dir: &Path, tree: &Value, mode: u32) {
    kateskit::agent::tree::walk(tree, "", &mut |path, v| {
        let keys = flat::keys_of_tree(path);
        let kind = flat::kind_at(&keys).unwrap();
        let p = dir.join(flat::rel_path(&keys).unwrap());
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, flat::render(&kind, v).unwrap()).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    });
}

fn cli(n: &Node, args: &[&str]) -> std::process::Output {
    bin()
        .args(["agent", "config"])
        .args(args)
        .env("KATESKIT_ROOT", n.root.path())
        .output()
        .unwrap()
}

#[test]
fn a_runs_tree_copied_into_config_d_gives_the_same_effective_config() {
    let c = Cluster::new("rack");
    let cfg = c.render("a1");
    let first = Node::new();
    first.image_defaults(&cfg);
    first.attach_osd_disks(&cfg);
    first.set_cmdline(NO_JOIN);
    run_ok(&first, &[]);
    let tree = files(&first.path("run/kateskit/config"));
    assert!(
        tree.contains_key("node/labels/node.kateskit.dev%2Fstorage"),
        "{tree:?}"
    );

    // A fresh root with nothing but the tree in config.d, plus the secrets the writer never
    // writes (0600, as an owner's secret file must be).
    let second = Node::new();
    let config_d = second.path("etc/kateskit/config.d");
    for (rel, text) in &tree {
        second.write(&format!("etc/kateskit/config.d/{rel}"), text);
    }
    write_flat(&config_d, &json!({"secrets": cfg["secrets"]}), 0o600);
    second.attach_osd_disks(&cfg);
    second.set_cmdline(NO_JOIN);
    run_ok(&second, &[]);
    assert_eq!(files(&second.path("run/kateskit/config")), tree);
    let dropin = "etc/rancher/k3s/config.yaml.d/10-kateskit.yaml";
    assert_eq!(second.read(dropin), first.read(dropin));
    assert_eq!(
        second.read("var/lib/kateskit/token"),
        first.read("var/lib/kateskit/token")
    );
    assert_eq!(
        second.source("node.labels[node.kateskit.dev/storage]"),
        "/etc/kateskit/config.d/node/labels/node.kateskit.dev%2Fstorage"
    );
    assert_eq!(
        second.source("agent.ready_timeout_s"),
        "/etc/kateskit/config.d/agent/ready_timeout_s"
    );
    assert!(second.status()["sources"]
        .as_array()
        .unwrap()
        .contains(&json!("config.d")));
}

/// A machine joining with the role's essentials on the command line and `extra` after them.
fn joining(extra: &str) -> Node {
    let n = machine();
    n.set_cmdline(&format!(
        "console=ttyS0 kateskit.role=agent kateskit.server={SERVER} kateskit.token={} \
         kateskit.agent.verify_join=false {extra}",
        token()
    ));
    n
}

const TIMEOUT_VAR: &str = "KATESKIT_VALUE_AGENT__READY_TIMEOUT_S";
const ZONE_VAR: &str = "KATESKIT_VALUE_NODE__LABELS__TOPOLOGYx2eKUBERNETESx2eIOx2fZONE";

#[test]
fn a_value_file_named_by_the_environment_wins_and_is_queried_with_its_source() {
    let n = joining("kateskit.agent.ready_timeout_s=400");
    n.write("etc/kateskit/config.d/agent/ready_timeout_s", "300\n");
    n.write("etc/kateskit/config.d/host/timezone", "Europe/Berlin\n");
    n.write("etc/kateskit/timeout", "500\n");
    n.write("etc/kateskit/zone", "rack-1\n");
    run_ok(
        &n,
        &[
            (TIMEOUT_VAR, "/etc/kateskit/timeout"),
            (ZONE_VAR, "/etc/kateskit/zone"),
        ],
    );
    assert_eq!(n.value("agent/ready_timeout_s"), "500");
    assert_eq!(
        n.source("agent.ready_timeout_s"),
        format!("{TIMEOUT_VAR}=/etc/kateskit/timeout (environment)")
    );
    assert_eq!(
        n.value("node/labels/topology.kubernetes.io%2Fzone"),
        "rack-1"
    );
    assert_eq!(n.value("host/timezone"), "Europe/Berlin");
    assert_eq!(
        n.source("host.timezone"),
        "/etc/kateskit/config.d/host/timezone"
    );

    let out = cli(&n, &["get", "agent/ready_timeout_s", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v,
        json!({"path": "agent/ready_timeout_s", "value": 500,
               "source": format!("{TIMEOUT_VAR}=/etc/kateskit/timeout (environment)")})
    );
    let out = cli(&n, &["get", "host/timezone"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Europe/Berlin\n");
    let out = cli(&n, &["get", "node/macs", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["value"].is_array(), "{v}");

    let out = cli(&n, &["list", "agent"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().any(|l| l.starts_with("agent/ready_timeout_s ")
            && l.ends_with(&format!(
                "{TIMEOUT_VAR}=/etc/kateskit/timeout (environment)"
            ))),
        "{text}"
    );
    assert!(text.lines().all(|l| l.starts_with("agent/")), "{text}");
    let out = cli(&n, &["list", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.as_array().unwrap().contains(
        &json!({"path": "host/timezone", "source": "/etc/kateskit/config.d/host/timezone"})
    ));

    for (args, want) in [
        (&["get", "host/nope"][..], "unknown path `host/nope`"),
        (&["get", "host"][..], "`host` holds several values"),
        (
            &["get", "agent/config_url"][..],
            "is not set in the last run",
        ),
        (&["list", "nodes"][..], "unknown path `nodes`"),
    ] {
        let out = cli(&n, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(e.contains(want), "{args:?}: {e}");
    }
    let empty = Node::new();
    let e = cli(&empty, &["get", "host/hostname"]);
    assert!(String::from_utf8_lossy(&e.stderr).contains("has not written one on this boot"));
}

#[test]
fn a_variable_naming_no_known_path_is_refused_by_name() {
    for (var, want) in [
        (
            "KATESKIT_VALUE_AGENT__READY_TIMEOUT",
            "KATESKIT_VALUE_AGENT__READY_TIMEOUT: unknown path `agent/ready_timeout`",
        ),
        (
            "KATESKIT_VALUE_agent__ready_timeout_s",
            "KATESKIT_VALUE_agent__ready_timeout_s: is not a valid name",
        ),
    ] {
        let n = joining("");
        n.write("etc/kateskit/timeout", "500\n");
        let out = n.run(&[(var, "/etc/kateskit/timeout")]);
        assert_eq!(out.status.code(), Some(1), "{var}");
        let st = n.status();
        assert_eq!(st["phase"], "discover", "{st:#}");
        assert!(st["errors"][0].as_str().unwrap().contains(want), "{st:#}");
    }
    // A value that does not fit its type names the file.
    let n = joining("");
    n.write("etc/kateskit/config.d/agent/ready_timeout_s", "soon\n");
    assert_eq!(n.run(&[]).status.code(), Some(1));
    let e = n.status()["errors"][0].as_str().unwrap().to_string();
    assert!(
        e.contains("/etc/kateskit/config.d/agent/ready_timeout_s: agent.ready_timeout_s: `soon` is not a whole number"),
        "{e}"
    );
}

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

#[test]
fn config_d_ranks_above_the_image_defaults_and_below_the_embed_area() {
    let n = joining("");
    n.image_defaults(
        &json!({"host": {"timezone": "Asia/Tokyo"}, "node": {"labels": {"x": "image"}}}),
    );
    n.write("etc/kateskit/config.d/host/timezone", "Europe/Berlin\n");
    n.write("etc/kateskit/config.d/node/labels/x", "config.d\n");
    n.write("etc/kateskit/config.d/node/labels/y", "config.d\n");
    let emb = embed_file(&json!({"node": {"labels": {"y": "embed"}}}));
    run_ok(&n, &[("KATESKIT_EMBED", emb.path().to_str().unwrap())]);
    assert_eq!(n.value("host/timezone"), "Europe/Berlin");
    assert_eq!(n.value("node/labels/x"), "config.d");
    assert_eq!(n.value("node/labels/y"), "embed");
    assert_eq!(
        n.source("node.labels.x"),
        "/etc/kateskit/config.d/node/labels/x"
    );
    assert!(n.source("node.labels.y").starts_with("embed area"));
}

#[test]
fn a_secret_from_a_value_file_is_used_never_shown_and_must_be_private() {
    let secret = format!("K10{}::node:LEAKMARKERflat", "a".repeat(64));
    let n = machine();
    n.set_cmdline(&format!(
        "console=ttyS0 kateskit.role=agent kateskit.server={SERVER} kateskit.agent.verify_join=false"
    ));
    n.write("run/credentials/token", format!("{secret}\n"));
    let f = n.path("run/credentials/token");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    let var = ("KATESKIT_VALUE_SECRETS__TOKEN", "/run/credentials/token");
    let out = n.run(&[var]);
    assert_eq!(out.status.code(), Some(1));
    let e = n.status()["errors"][0].as_str().unwrap().to_string();
    assert!(e.contains("mode 0644") && e.contains("chmod 600"), "{e}");

    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = n.run(&[var]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(n.read("var/lib/kateskit/token").trim(), secret);
    let shown = [
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        n.read("run/kateskit/status.json"),
        n.read("run/kateskit/sources"),
        n.read("var/lib/kateskit/journal.json"),
    ]
    .join("\n")
        + &files(&n.path("run/kateskit/config"))
            .values()
            .cloned()
            .collect::<String>();
    assert!(!shown.contains("LEAKMARKER"), "the secret is shown");
    assert!(!n.read("run/kateskit/sources").contains("secrets"));
}
