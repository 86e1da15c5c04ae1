//! k3s configuration: every drop-in key is a real k3s flag for the node's role (flag lists from
//! k3s's server.go/agent.go in tests/data), golden drop-ins for the rack example, token file
//! modes, CA pre-seeding that never overwrites, and the node password seeded from the config.

mod agent_support;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use agent_support::Cluster;
use kateskit::k3s;
use kateskit::spec::Role;

fn flags(file: &str) -> BTreeSet<String> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(file);
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.trim().to_string())
        .collect()
}

fn nodes(example: &str) -> Vec<String> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(example)
            .join("cluster.toml"),
    )
    .unwrap();
    let v: toml::Value = toml::from_str(&text).unwrap();
    v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_dropin_key_is_a_k3s_flag_for_its_role() {
    let (server, agent) = (flags("k3s-flags-server.txt"), flags("k3s-flags-agent.txt"));
    assert!(server.len() > 100 && agent.len() > 40, "flag lists loaded");
    let mut checked = 0;
    for example in ["homelab", "rack"] {
        let c = Cluster::new(example);
        for name in nodes(example) {
            let cfg = c.node_config(&name);
            let text = k3s::config::render(&cfg);
            let y: serde_yaml_ng::Mapping = serde_yaml_ng::from_str(&text).unwrap();
            let allowed = if cfg.node.role == Role::Server {
                &server
            } else {
                &agent
            };
            for k in y.keys() {
                let k = k.as_str().unwrap().trim_end_matches('+');
                assert!(
                    allowed.contains(k),
                    "{example}/{name}: `{k}` is not a k3s {} flag",
                    cfg.node.role.as_str()
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 30, "checked {checked} keys");
}

#[test]
fn flag_lists_reject_role_mismatches() {
    // The check above can fail: server-only keys are absent from the agent list.
    let agent = flags("k3s-flags-agent.txt");
    for k in [
        "cluster-init",
        "tls-san",
        "disable",
        "flannel-backend",
        "agent-token-file",
        "cluster-cidr",
    ] {
        assert!(!agent.contains(k), "{k} must not be an agent flag");
    }
}

#[test]
fn golden_dropins_for_the_rack_example() {
    let c = Cluster::new("rack");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden");
    for name in ["s1", "s2", "a1"] {
        let got = k3s::config::render(&c.node_config(name));
        let path = dir.join(format!("rack-{name}.yaml"));
        if std::env::var_os("KATESKIT_UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &got).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (set KATESKIT_UPDATE_GOLDEN=1 once)",
                path.display()
            )
        });
        assert_eq!(
            got,
            want,
            "rack/{name} drop-in differs from {}",
            path.display()
        );
    }
}

#[test]
fn token_files_are_private_and_ca_files_never_overwritten() {
    let c = Cluster::new("rack");
    let cfg = c.node_config("s1");
    let root = tempfile::tempdir().unwrap();
    let tls = root.path().join(k3s::TLS_DIR);
    std::fs::create_dir_all(&tls).unwrap();
    std::fs::write(tls.join("server-ca.crt"), "operator's own CA\n").unwrap();
    assert!(k3s::write_config(root.path(), &cfg).unwrap() >= 3);
    for f in ["var/lib/kateskit/token", "var/lib/kateskit/agent-token"] {
        let m = std::fs::metadata(root.path().join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(m, 0o600, "{f}");
    }
    let secrets = cfg.secrets.as_ref().unwrap();
    assert_eq!(
        std::fs::read_to_string(root.path().join("var/lib/kateskit/token")).unwrap(),
        format!("{}\n", secrets.token.expose())
    );
    let warnings = k3s::seed_ca(root.path(), &cfg).unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("server-ca.crt already exists with different content; kept it"));
    assert_eq!(
        std::fs::read_to_string(tls.join("server-ca.crt")).unwrap(),
        "operator's own CA\n"
    );
    assert_eq!(
        std::fs::read_to_string(tls.join("etcd/peer-ca.key")).unwrap(),
        secrets.ca_files["etcd/peer-ca.key"].expose()
    );
    assert_eq!(
        std::fs::metadata(tls.join("server-ca.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    // Idempotent: a second pass changes nothing and warns the same way.
    assert_eq!(k3s::write_config(root.path(), &cfg).unwrap(), 0);
    assert_eq!(k3s::seed_ca(root.path(), &cfg).unwrap(), warnings);
    // Agents get no CA material and no agent token file.
    let a = c.node_config("a1");
    let aroot = tempfile::tempdir().unwrap();
    k3s::write_config(aroot.path(), &a).unwrap();
    assert!(k3s::seed_ca(aroot.path(), &a).unwrap().is_empty());
    assert!(!aroot.path().join(k3s::TLS_DIR).exists());
    assert!(!aroot.path().join("var/lib/kateskit/agent-token").exists());
    assert_eq!(
        std::fs::read_to_string(aroot.path().join(k3s::config::ENV_FILE)).unwrap(),
        "K3S_ROLE=agent\n"
    );
}

/// k3s's node password comes from the node config when the node has none (so a tmpfs root or a
/// reinstall presents the same password again), is private, and an existing one is kept.
#[test]
fn node_password_is_seeded_once_and_survives_state_loss() {
    let c = Cluster::new("rack");
    let cfg = c.node_config("a1");
    let want = cfg.secrets.as_ref().unwrap().node_password.clone().unwrap();
    let want = want.expose();
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join(k3s::NODE_PASSWORD);
    assert_eq!(k3s::seed_node_password(root.path(), &cfg).unwrap(), None);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{want}\n"));
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Lost with the rest of the node's state, it comes back the same.
    std::fs::remove_dir_all(root.path().join("etc")).unwrap();
    k3s::seed_node_password(root.path(), &cfg).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{want}\n"));
    // Rendering again gives the same password; another node gets another.
    assert_eq!(
        c.node_config("a1")
            .secrets
            .unwrap()
            .node_password
            .unwrap()
            .expose(),
        want
    );
    assert_ne!(
        c.node_config("a2")
            .secrets
            .unwrap()
            .node_password
            .unwrap()
            .expose(),
        want
    );
    // A password k3s made itself is kept, and the warning says what to do on a rejection.
    std::fs::write(&path, "0123456789abcdef0123456789abcdef\n").unwrap();
    let w = k3s::seed_node_password(root.path(), &cfg).unwrap().unwrap();
    assert!(
        w.contains("kept it") && w.contains("kubectl delete node a1"),
        "{w}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "0123456789abcdef0123456789abcdef\n"
    );
}
