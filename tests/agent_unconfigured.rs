//! A machine no source configures ends `unconfigured`, not failed: the banner and the status
//! show its MACs, serial and the four ways to configure it, and k3s stays down.

mod agent_support;

use agent_support::machine::{machine, run_ok, systemctl_log, DROPIN, MAC};
use agent_support::Node;
use serde_json::json;

fn assert_unconfigured(n: &Node, stdout: &str) -> serde_json::Value {
    let st = n.status();
    assert_eq!(st["state"], "unconfigured", "{st:#}");
    assert_eq!(st["ok"], false);
    assert_eq!(st["unconfigured"]["macs"], json!([format!("enp1s0 {MAC}")]));
    assert_eq!(st["unconfigured"]["ways"].as_array().unwrap().len(), 4);
    for want in [
        "UNCONFIGURED",
        MAC,
        "kateskit image customize",
        "config drive",
        "kateskit.role=agent",
        "config_url",
    ] {
        assert!(stdout.contains(want), "{want} not in banner:\n{stdout}");
    }
    // k3s is neither configured nor started.
    assert!(!n.path("etc/kateskit/k3s.env").exists());
    assert!(!n.path(DROPIN).exists());
    assert!(!systemctl_log(n).contains("k3s"), "{}", systemctl_log(n));
    assert!(!n.path("var/lib/kateskit/identity.json").exists());
    let phases = n.journal()["phases"].clone();
    assert_eq!(phases[0]["outcome"], "done");
    assert_eq!(phases[6]["name"], "start");
    assert_eq!(phases[6]["outcome"], "skipped");
    st
}

#[test]
fn nothing_at_all_is_unconfigured_and_says_so() {
    let n = machine();
    n.write("sys/class/dmi/id/product_serial", "SER-12345\n");
    // What an earlier configured boot left: k3s.service would start with it.
    n.write("etc/kateskit/k3s.env", "K3S_ROLE=agent\n");
    let stdout = run_ok(&n);
    assert!(
        n.journal()["phases"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("removed /etc/kateskit/k3s.env"),
        "{stdout}"
    );
    let st = assert_unconfigured(&n, &stdout);
    assert_eq!(st["unconfigured"]["serial"], "SER-12345");
    assert!(stdout.contains("serial:    SER-12345"), "{stdout}");

    // `agent status` tells scripts apart from a failure: exit 2.
    let out = agent_support::bin()
        .args(["agent", "status", "--json"])
        .env("KATESKIT_ROOT", n.path(""))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["state"], "unconfigured");
}

#[test]
fn an_unknown_mac_on_an_image_with_the_clusters_nodes_is_unconfigured() {
    let n = machine();
    n.image_defaults(&json!({
        "apiVersion": "kateskit.dev/v1", "kind": "ImageDefaults", "variant": "iso",
        "cluster": "rack", "node": null,
        "nodes": {"s1": {"node": {"name": "s1", "role": "server", "macs": ["52:54:00:00:00:01"]}}},
    }));
    let stdout = run_ok(&n);
    let st = assert_unconfigured(&n, &stdout);
    let reason = st["unconfigured"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("no node matches this machine's MACs") && reason.contains(MAC),
        "{reason}"
    );

    // The same image on the machine it names is configured.
    let d = n.path("sys/class/net/enp1s0");
    std::fs::write(d.join("address"), "52:54:00:00:00:01\n").unwrap();
    n.set_cmdline("kateskit.agent.verify_join=false");
    run_ok(&n);
    assert_eq!(n.status()["state"], "ok");
    assert!(n.read(DROPIN).contains("node-name: s1"));
}
