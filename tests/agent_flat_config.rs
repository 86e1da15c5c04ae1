//! The flat-file config in both directions (docs/agent.md "Flat-file config"): a run's tree
//! read back from /etc/kateskit/config.d, config.d's rank, KATESKIT_VALUE_* files, and
//! `kateskit agent config get|list`. A drive's config/: tests/agent_flat_drive.rs.

mod agent_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use agent_support::flat::{files, joining};
use agent_support::machine::{machine, SERVER};
use agent_support::trust::{embed_file, run_ok, NO_JOIN};
use agent_support::{bin, Cluster, Node};
use kateskit::agent::ladder::flat;
use serde_json::{json, Value};

/// Writes `tree`'s leaves as a flat tree under `dir`, each file with `mode`.
fn write_flat(dir: &Path, tree: &Value, mode: u32) {
    kateskit::agent::ladder::merge::walk(tree, "", &mut |path, v| {
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
        (
            &["get", "secrets/token"][..],
            "secrets are never written to the tree",
        ),
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
