//! Minimal input: the role's essentials are enough (every other field has a default or a
//! derivation) and a missing essential names every place it could come from (the
//! `unconfigured` state: tests/agent_unconfigured.rs).

mod agent_support;

use agent_support::machine::{machine, run_ok, systemctl_log, token, DROPIN, MAC, SERVER};

#[test]
fn role_server_and_token_kargs_are_enough_to_join() {
    let n = machine();
    n.set_cmdline(&format!(
        "console=ttyS0 kateskit.role=agent kateskit.server={SERVER} kateskit.token={} kateskit.agent.verify_join=false",
        token()
    ));
    run_ok(&n);
    let dropin = n.read(DROPIN);
    assert!(dropin.contains("node-name: node-abcdef"), "{dropin}");
    assert!(dropin.contains(&format!("server: {SERVER}")), "{dropin}");
    assert!(
        dropin.contains("token-file: /var/lib/kateskit/token"),
        "{dropin}"
    );
    assert_eq!(n.read("var/lib/kateskit/token").trim(), token());
    assert!(n.path("etc/kateskit/k3s.env").exists());
    assert!(systemctl_log(&n).contains("k3s.service"));
    assert_eq!(n.value("node/name"), "node-abcdef");
    assert_eq!(n.value("host/hostname"), "node-abcdef");
    assert_eq!(n.value("node/macs"), MAC);
    assert_eq!(n.value("host/timezone"), "UTC");
    assert_eq!(n.source("host.timezone"), "default");
    assert_eq!(
        n.source("node.name"),
        format!("derived (no host name given; from MAC {MAC})")
    );
    assert_eq!(n.source("node.macs"), "derived (physical links enp1s0)");
    assert_eq!(
        n.source("k3s.cluster_init"),
        "derived (this node joins a running cluster)"
    );
    let st = n.status();
    assert_eq!(st["state"], "ok", "{st:#}");
    let derived: Vec<&str> = st["derived"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        derived.contains(&format!("node.name: no host name given; from MAC {MAC}").as_str())
            && derived.contains(&"node.macs: physical links enp1s0"),
        "{derived:?}"
    );
}

#[test]
fn the_host_name_the_system_knows_names_the_node() {
    let n = machine();
    n.write("proc/sys/kernel/hostname", "web1.example.com\n");
    // The role follows from the server URL.
    n.set_cmdline(&format!(
        "kateskit.server={SERVER} kateskit.token={} kateskit.agent.verify_join=false",
        token()
    ));
    run_ok(&n);
    assert!(n.read(DROPIN).contains("node-name: web1"));
    assert_eq!(n.value("host/hostname"), "web1.example.com");
    assert_eq!(n.value("node/role"), "agent");
    assert_eq!(
        n.source("node.role"),
        "derived (k3s.server_url is set: this machine joins as an agent)"
    );
    assert_eq!(n.source("host.hostname"), "derived (the kernel host name)");

    // An explicit host name wins, and names the node.
    let n = machine();
    n.set_cmdline(&format!(
        "kateskit.role=agent kateskit.hostname=db2.lan kateskit.server={SERVER} kateskit.token={} kateskit.agent.verify_join=false",
        token()
    ));
    run_ok(&n);
    assert!(n.read(DROPIN).contains("node-name: db2"));
    assert_eq!(
        n.source("node.name"),
        "derived (from host.hostname db2.lan)"
    );
}

#[test]
fn a_lone_server_role_starts_a_new_cluster() {
    let n = machine();
    n.set_cmdline("kateskit.role=server kateskit.agent.verify_join=false");
    run_ok(&n);
    let dropin = n.read(DROPIN);
    assert!(dropin.contains("cluster-init: true"), "{dropin}");
    assert!(dropin.contains("node-name: node-abcdef"), "{dropin}");
    // No token given: k3s generates the cluster's token itself.
    assert!(!dropin.contains("token-file"), "{dropin}");
    assert!(!dropin.contains("server:"), "{dropin}");
    assert!(!n.path("var/lib/kateskit/token").exists());
    assert!(n.path("etc/kateskit/k3s.env").exists());
    assert_eq!(
        n.source("k3s.cluster_init"),
        "derived (a server without k3s.server_url starts the cluster)"
    );
}

#[test]
fn a_missing_essential_names_every_place_it_could_come_from() {
    for (cmdline, path, karg) in [
        (
            format!("kateskit.role=agent kateskit.server={SERVER}"),
            "secrets.token",
            "kateskit.token` (K10...)",
        ),
        (
            format!("kateskit.role=agent kateskit.token={}", token()),
            "k3s.server_url",
            "kateskit.server` (https://SERVER:6443)",
        ),
    ] {
        let n = machine();
        n.set_cmdline(&cmdline);
        let out = n.run(&[]);
        assert!(!out.status.success(), "{cmdline}");
        let st = n.status();
        assert_eq!(st["state"], "failed");
        let err = st["errors"][0].as_str().unwrap();
        assert!(
            err.starts_with(&format!("validate: {path}: missing: ")),
            "{err}"
        );
        for place in [
            &format!("kernel argument `{karg},"),
            "into the embed area (`kateskit image customize --karg`)",
            "config drive",
            "config_url body",
        ] {
            assert!(err.contains(place), "{place} not in {err}");
        }
        assert!(!err.contains("minimal-password"), "{err}");
        assert!(!n.path("etc/kateskit/k3s.env").exists());
    }
    // A joining server's token never comes from its running command line: not offered.
    let n = machine();
    n.set_cmdline(&format!("kateskit.role=server kateskit.server={SERVER}"));
    assert!(!n.run(&[]).status.success());
    let err = n.status()["errors"][0].as_str().unwrap().to_string();
    assert!(
        err.contains("secrets.token: missing: a joining server needs")
            && !err.contains("give it as the kernel argument")
            && err.contains("embed area"),
        "{err}"
    );
}

#[test]
fn a_nocloud_drive_with_a_host_name_and_a_key_plus_minimal_kargs_is_enough() {
    let n = machine();
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("meta-data"),
        "instance-id: iid-min\nlocal-hostname: edge7\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("user-data"),
        "#cloud-config\nssh_authorized_keys:\n  - ssh-ed25519 AAAAminimal min@test\n",
    )
    .unwrap();
    n.set_cmdline(&format!(
        "kateskit.role=agent kateskit.server={SERVER} kateskit.token={} kateskit.agent.verify_join=false",
        token()
    ));
    let out = n.run(&[("KATESKIT_CONFIG_DRIVE", d.path().to_str().unwrap())]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(n.read(DROPIN).contains("node-name: edge7"));
    assert_eq!(n.value("host/timezone"), "UTC");
    assert_eq!(n.source("host.timezone"), "default");
    assert!(n.source("host.hostname").contains("meta-data"));
    assert_eq!(
        n.read("root/.ssh/authorized_keys"),
        "ssh-ed25519 AAAAminimal min@test\n"
    );
}

/// A first server given no token verifies its join with the token k3s generated, against the
/// supervisor STAND-IN (not k3s).
#[test]
fn a_lone_server_verifies_its_join_with_the_token_k3s_generated() {
    use agent_support::standin::{self, Opts};
    use base64::Engine;
    let c = agent_support::Cluster::new("rack");
    let tls = c.dir.path().join("secrets/tls");
    let ca = std::fs::read_to_string(tls.join("server-ca.crt")).unwrap();
    let key = std::fs::read_to_string(tls.join("server-ca.key")).unwrap();
    let stand_in = standin::start(Opts::new(&ca, &key, "generated-pw", "unused"));
    let n = machine();
    let (cert, ckey) = standin::client_identity();
    let b64 = |x: &str| base64::engine::general_purpose::STANDARD.encode(x);
    n.write(
        "etc/rancher/k3s/k3s.yaml",
        format!(
            "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {}\n  name: default\nusers:\n- name: default\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
            b64(&ca),
            stand_in.url(),
            b64(&cert),
            b64(&ckey)
        ),
    );
    n.set_cmdline(&format!(
        "kateskit.role=server kateskit.agent.supervisor_url={} kateskit.agent.join_timeout_s=3 kateskit.agent.ready_timeout_s=3 kateskit.agent.http_timeout_s=1",
        stand_in.url()
    ));
    // Before k3s wrote its token the join cannot be verified, and says where it looked.
    let out = n.run(&[]);
    assert!(!out.status.success());
    let err = n.status()["errors"][0].as_str().unwrap().to_string();
    assert!(
        err.contains("no secrets.token") && err.contains("var/lib/rancher/k3s/server/token"),
        "{err}"
    );
    let hash = kateskit::pki::hash_ca(ca.as_bytes()).unwrap();
    n.write(
        "var/lib/rancher/k3s/server/token",
        format!("K10{hash}::server:generated-pw\n"),
    );
    let out = n.run(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let st = n.status();
    assert_eq!(st["state"], "ok");
    let join = st["phases"][7]["detail"].as_str().unwrap();
    assert!(join.contains(&hash), "{join}");
    assert!(!serde_json::to_string(&st).unwrap().contains("generated-pw"));
}
