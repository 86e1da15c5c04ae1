//! The tree reader: typing by schema, errors naming the file, the secrets rule, the bounds.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::json;

use super::*;

fn put(root: &Path, rel: &str, text: &str) {
    let p = root.join(CONFIG_D).join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn err(root: &Path) -> String {
    config_d(root).unwrap_err().to_string()
}

#[test]
fn values_are_typed_by_the_schema_and_attributed_to_their_file() {
    let d = tempfile::tempdir().unwrap();
    assert!(config_d(d.path()).unwrap().is_none(), "absent: no layer");
    put(d.path(), "agent/ready_timeout_s", "300\n");
    put(d.path(), "host/hostname", "300\n");
    put(
        d.path(),
        "host/ssh_authorized_keys",
        "ssh-ed25519 A a\nssh-ed25519 B b\n",
    );
    put(d.path(), "agent/verify_join", "false");
    put(
        d.path(),
        "node/labels/topology.kubernetes.io%2Fzone",
        "z1\n",
    );
    put(d.path(), "node/taints", "");
    put(d.path(), ".hostname.swp", "editor junk");
    let l = config_d(d.path()).unwrap().unwrap();
    assert_eq!(
        l.tree,
        json!({
            "agent": {"ready_timeout_s": 300, "verify_join": false},
            "host": {"hostname": "300", "ssh_authorized_keys": ["ssh-ed25519 A a", "ssh-ed25519 B b"]},
            "node": {"labels": {"topology.kubernetes.io/zone": "z1"}, "taints": []}
        })
    );
    assert_eq!(
        l.origin["node.labels[topology.kubernetes.io/zone]"],
        "/etc/kateskit/config.d/node/labels/topology.kubernetes.io%2Fzone"
    );
    assert_eq!(
        l.origin["agent.ready_timeout_s"],
        "/etc/kateskit/config.d/agent/ready_timeout_s"
    );
}

#[test]
fn unknown_paths_and_misfit_values_name_the_file_and_the_fix() {
    let cases = [
        (
            "host/hostnam",
            "x",
            "/etc/kateskit/config.d/host/hostnam: unknown path `host/hostnam`: no key `hostnam` under `host`",
        ),
        (
            "agent/ready_timeout_s",
            "soon\n",
            "/etc/kateskit/config.d/agent/ready_timeout_s: agent.ready_timeout_s: `soon` is not a whole number",
        ),
        (
            "agent/write_files",
            "{\"path\":\"/a\",\"content\":\"x\"}\n{oops\n",
            "/etc/kateskit/config.d/agent/write_files:2: agent.write_files: `{oops` is not JSON",
        ),
        (
            "agent/write_files",
            "{\"path\":\"/a\",\"mode\":\"0644\",\"sha256\":\"00\"}\n",
            "/etc/kateskit/config.d/agent/write_files:1: agent.write_files: is the report's view",
        ),
        (
            "node/labels/a%41",
            "x",
            "/etc/kateskit/config.d/node/labels/a%41: `%41` in the file name",
        ),
        (
            "host/hostname/x",
            "x",
            "`host/hostname` is a single value, not a directory of values",
        ),
    ];
    for (rel, text, want) in cases {
        let d = tempfile::tempdir().unwrap();
        put(d.path(), rel, text);
        let e = err(d.path());
        assert!(e.contains(want), "{rel}: {e}");
    }
}

#[test]
fn secrets_only_from_the_owner_and_only_private() {
    let d = tempfile::tempdir().unwrap();
    put(d.path(), "secrets/token", "K10LEAKMARKER\n");
    let f = d.path().join(CONFIG_D).join("secrets/token");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
    let e = err(d.path());
    assert!(
        e.contains("secrets/token: mode 0640") && e.contains("chmod 600"),
        "{e}"
    );
    assert!(!e.contains("LEAKMARKER"), "{e}");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    let l = config_d(d.path()).unwrap().unwrap();
    assert_eq!(l.tree["secrets"]["token"], "K10LEAKMARKER");

    // The same file on a drive is refused whatever its mode.
    let m = tempfile::tempdir().unwrap();
    let p = m.path().join("config/secrets/token");
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, "K10x\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    let e = drive(m.path(), "config drive /dev/sdb (label KATESKIT)")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("config drive /dev/sdb (label KATESKIT) config/secrets/token: secrets are read from flat files only on the owner's sources"),
        "{e}"
    );
}

#[test]
fn links_and_special_files_are_refused() {
    let d = tempfile::tempdir().unwrap();
    put(d.path(), "host/timezone", "UTC\n");
    std::os::unix::fs::symlink(
        "/etc/hostname",
        d.path().join(CONFIG_D).join("host/hostname"),
    )
    .unwrap();
    let e = err(d.path());
    assert!(
        e.contains("config.d/host/hostname: ")
            && e.contains("is a symbolic link")
            && e.contains("on NixOS, give the environment.etc entry a `mode`"),
        "{e}"
    );
    // A linked directory too (a drive's config/ pointing at the host's /etc).
    let m = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/etc", m.path().join("config")).unwrap();
    let e = drive(m.path(), "drive").unwrap_err().to_string();
    assert!(
        e.contains("is a symbolic link") && !e.contains("NixOS"),
        "{e}"
    );
}

#[test]
fn the_walk_is_bounded() {
    let d = tempfile::tempdir().unwrap();
    for i in 0..=MAX_ENTRIES {
        put(d.path(), &format!("node/labels/l{i}"), "x");
    }
    let e = err(d.path());
    assert!(e.contains(&format!("more than {MAX_ENTRIES} files")), "{e}");

    let d = tempfile::tempdir().unwrap();
    put(
        d.path(),
        "host/hostname",
        &"x".repeat(FILE_MAX as usize + 1),
    );
    let e = err(d.path());
    assert!(e.contains("above the 1048576-byte limit"), "{e}");

    let d = tempfile::tempdir().unwrap();
    let deep: Vec<String> = (0..=MAX_DEPTH).map(|i| format!("d{i}")).collect();
    put(
        d.path(),
        &format!("bundle/traefik/values/{}/x", deep.join("/")),
        "1",
    );
    let e = err(d.path());
    assert!(e.contains("directory levels deep"), "{e}");
}

#[test]
fn a_drive_tree_is_split_off_for_the_trust_table() {
    let m = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(m.path().join("config/host")).unwrap();
    std::fs::write(m.path().join("config/host/timezone"), "Europe/Berlin\n").unwrap();
    let tree = drive(m.path(), "drv").unwrap();
    let files = tree::Layer::uniform(json!({"host": {"hostname": "h"}}), "drv kateskit.json");
    let both = over(Some(files), tree);
    let (rest, mine) = split_off(both, "drv config/");
    assert_eq!(rest.unwrap().tree, json!({"host": {"hostname": "h"}}));
    let mine = mine.unwrap();
    assert_eq!(mine.tree, json!({"host": {"timezone": "Europe/Berlin"}}));
    assert_eq!(mine.origin["host.timezone"], "drv config/host/timezone");
}
