//! What the NodeConfig tells a node about joining: every server name and address is a TLS SAN
//! on every server, joining nodes use the API VIP when one is set, and every node lists the
//! other servers of the spec so it can join (or rejoin) through any of them.

use kateskit::nodecfg::{render_public, NodeConfig};
use kateskit::spec::{parse_str, ClusterSpec};

/// Three servers (one on DHCP, known by name only; one with two addresses), one agent, no VIP.
const NO_VIP: &str = r#"
[cluster]
name = "novip"

[network]
tls_sans = ["api.novip.example"]

[[nodes]]
name = "s1"
role = "server"
network = { addresses = ["192.0.2.11/24"] }

[[nodes]]
name = "s2"
role = "server"

[[nodes]]
name = "s3"
role = "server"
network = { addresses = ["192.0.2.13/24", "198.51.100.13/24"] }

[[nodes]]
name = "w1"
role = "agent"
"#;

fn spec(src: &str) -> ClusterSpec {
    parse_str(src, "cluster.toml").unwrap().0
}

fn vip_spec() -> ClusterSpec {
    spec(&NO_VIP.replace("tls_sans = [", "api_vip = \"192.0.2.10\"\ntls_sans = ["))
}

fn node(s: &ClusterSpec, name: &str) -> NodeConfig {
    render_public(s, name).unwrap()
}

#[test]
fn every_server_name_and_address_is_a_tls_san_on_every_server() {
    let s = vip_spec();
    for name in ["s1", "s2", "s3"] {
        let sans = node(&s, name).k3s.tls_sans;
        assert_eq!(
            sans,
            [
                "192.0.2.10",
                "api.novip.example",
                "s1",
                "192.0.2.11",
                "s2",
                "s3",
                "192.0.2.13",
                "198.51.100.13"
            ],
            "{name}"
        );
    }
    assert!(
        node(&s, "w1").k3s.tls_sans.is_empty(),
        "agents take no SANs"
    );
}

#[test]
fn sans_do_not_repeat_an_address_already_listed() {
    let s = spec(&NO_VIP.replace(
        "tls_sans = [\"api.novip.example\"]",
        "tls_sans = [\"s2\", \"192.0.2.11\"]",
    ));
    assert_eq!(
        node(&s, "s3").k3s.tls_sans,
        [
            "s2",
            "192.0.2.11",
            "s1",
            "s3",
            "192.0.2.13",
            "198.51.100.13"
        ]
    );
}

#[test]
fn without_a_vip_nodes_list_every_other_server() {
    let s = spec(NO_VIP);
    let all = [
        "https://192.0.2.11:6443",
        "https://s2:6443",
        "https://192.0.2.13:6443",
    ];
    let w1 = node(&s, "w1").k3s;
    assert_eq!(w1.server_url.as_deref(), Some(all[0]));
    assert_eq!(w1.server_urls, all);
    let s2 = node(&s, "s2").k3s;
    assert_eq!(s2.server_url.as_deref(), Some(all[0]));
    assert_eq!(s2.server_urls, [all[0], all[2]]);
    assert!(!s2.cluster_init);
    let s1 = node(&s, "s1").k3s;
    assert_eq!(s1.server_url, None);
    assert!(s1.cluster_init);
    assert_eq!(s1.server_urls, [all[1], all[2]], "the peers s1 probes");
}

#[test]
fn with_a_vip_joining_nodes_use_it_and_still_list_the_servers() {
    let s = vip_spec();
    for name in ["w1", "s2", "s3"] {
        assert_eq!(
            node(&s, name).k3s.server_url.as_deref(),
            Some("https://192.0.2.10:6443"),
            "{name}"
        );
    }
    assert_eq!(
        node(&s, "s1").k3s.server_urls,
        ["https://s2:6443", "https://192.0.2.13:6443"]
    );
    assert_eq!(node(&s, "s1").k3s.server_url, None);
}

#[test]
fn a_single_server_has_no_peers_and_starts_embedded_etcd_by_default() {
    let one = "[cluster]\nname = \"one\"\n@DS@[[nodes]]\nname = \"box\"\nrole = \"server\"\n[[nodes]]\nname = \"w\"\nrole = \"agent\"\n";
    let s = spec(&one.replace("@DS@", ""));
    let b = node(&s, "box").k3s;
    assert!(b.server_urls.is_empty() && b.server_url.is_none());
    assert!(
        b.cluster_init,
        "etcd from the first boot, so servers can join later"
    );
    assert_eq!(b.tls_sans, ["box"]);
    assert_eq!(node(&s, "w").k3s.server_urls, ["https://box:6443"]);
    assert!(!node(&s, "w").k3s.cluster_init);

    let s = spec(&one.replace("@DS@", "datastore = \"sqlite\"\n"));
    assert!(
        !node(&s, "box").k3s.cluster_init,
        "sqlite: k3s's single-server datastore"
    );
}
