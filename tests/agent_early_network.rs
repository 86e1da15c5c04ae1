//! `kateskit agent network --local` as a plain process: the early unit's step that writes the
//! static network of the local config sources before networkd starts. Declared: the file is
//! written and networkd reloaded once; the same again changes nothing and reloads nothing.
//! Not declared: nothing is written (the image's default DHCP network applies).

mod agent_support;

use std::process::Output;

use agent_support::machine::{machine, systemctl_log};
use agent_support::Node;

const STATIC: &str = "etc/systemd/network/10-kateskit-static.network";

/// `kateskit agent network ARGS` against the node's root.
fn network(n: &Node, args: &[&str]) -> Output {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("kateskit"));
    c.args(["agent", "network"])
        .args(args)
        .env("KATESKIT_ROOT", n.root.path())
        .env("KATESKIT_CMDLINE", &n.cmdline)
        .env("KATESKIT_DEV_DIR", n.path("dev"));
    for (k, v) in &n.env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn status_ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    // The status line goes to stderr (docs/cli.md), which the unit sends to the journal.
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_local_static_address_is_written_once_and_then_left_alone() {
    let n = machine();
    n.set_cmdline("console=ttyS0 kateskit.node.network.addresses[]=192.0.2.21/24 kateskit.node.network.gateway=192.0.2.1 kateskit.node.network.interface=enp1s0 kateskit.config_url=http://192.0.2.1:8080/n.json");
    let first = status_ok(&network(&n, &["--local"]));
    assert!(
        first.contains("wrote 10-kateskit-static.network"),
        "{first}"
    );
    let file = n.read(STATIC);
    for want in ["Name=enp1s0", "Address=192.0.2.21/24", "Gateway=192.0.2.1"] {
        assert!(file.contains(want), "{want} not in:\n{file}");
    }
    assert_eq!(
        systemctl_log(&n),
        "try-reload-or-restart systemd-networkd.service\n"
    );
    // Every boot runs it again: nothing changes, networkd is not touched.
    let second = status_ok(&network(&n, &["--local"]));
    assert!(
        second.contains("unchanged; networkd not reloaded"),
        "{second}"
    );
    assert_eq!(
        systemctl_log(&n),
        "try-reload-or-restart systemd-networkd.service\n"
    );
}

#[test]
fn without_a_local_static_address_the_network_files_are_left_alone() {
    let n = machine();
    // What an earlier full run chose (from config_url, say) survives the early step.
    n.write(STATIC, "# from config_url\n");
    n.set_cmdline("console=ttyS0 kateskit.config_url=http://192.0.2.1:8080/n.json");
    let out = status_ok(&network(&n, &["--local"]));
    assert!(out.contains("left as they are"), "{out}");
    assert_eq!(n.read(STATIC), "# from config_url\n");
    assert!(!n
        .path("etc/systemd/network/99-kateskit-dhcp.network")
        .exists());
    assert_eq!(systemctl_log(&n), "");
}

#[test]
fn a_bad_local_address_fails_naming_its_source_and_a_missing_mode_is_refused() {
    let n = machine();
    n.set_cmdline(
        "kateskit.node.network.addresses[]=192.0.2.21 kateskit.node.network.interface=enp1s0",
    );
    let out = network(&n, &["--local"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("192.0.2.21") && err.contains("CIDR") && err.contains("kernel argument"),
        "{err}"
    );
    assert!(!n.path(STATIC).exists());
    let out = network(&n, &[]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("needs --local"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The early step, discover (before the config_url fetch) and the network phase all write the
/// static file: they must agree byte for byte, or every boot rewrites it and reloads networkd
/// (which, with networkd not reloadable, failed the boot: found by the systemd tier).
#[test]
fn the_early_step_discover_and_the_network_phase_write_the_same_file() {
    use sha2::{Digest, Sha256};
    let n = machine();
    let body = br#"{"host": {"hostname": "early"}}"#.to_vec();
    let port = agent_support::http_server(vec![("/n.json", 200, body.clone())]);
    n.set_cmdline(&format!(
        "kateskit.role=agent kateskit.server=https://10.0.2.2:6443 kateskit.token={} kateskit.agent.verify_join=false kateskit.node.network.addresses[]=192.0.2.21/24 kateskit.node.network.interface=enp1s0 kateskit.config_url=http://127.0.0.1:{port}/n.json kateskit.config_sha256={}",
        agent_support::machine::token(),
        hex::encode(Sha256::digest(&body))
    ));
    status_ok(&network(&n, &["--local"]));
    let early = n.read(STATIC);
    let reloads = || {
        systemctl_log(&n)
            .lines()
            .filter(|l| l.contains("systemd-networkd"))
            .count()
    };
    assert_eq!(reloads(), 1);
    for _boot in 0..2 {
        let out = n.run_with_args(&["--before-k3s"], &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert_eq!(n.read(STATIC), early);
        assert_eq!(reloads(), 1, "{}", systemctl_log(&n));
    }
    assert_eq!(n.read("etc/hostname").trim(), "early");
}
