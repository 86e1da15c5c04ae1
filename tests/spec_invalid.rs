//! Every invalid cluster.toml gives one exact, located message. The table is the contract:
//! a change of wording or position must be deliberate.

use kateskit::spec::{parse_str, Severity};

const S: &str = "[[nodes]]\nname = \"s1\"\nrole = \"server\"\n";
/// An API VIP, and servicelb off: what kube-vip needs around it.
const VIP: &str = "[network]\napi_vip = \"192.0.2.10\"\n";
const NO_LB: &str = "servicelb = { enable = false }\n";

fn with_nodes(head: &str, nodes: &str) -> String {
    format!("[cluster]\nname = \"t\"\n{head}\n{nodes}")
}

fn cases() -> Vec<(&'static str, String, &'static str)> {
    let srv = |extra: &str| format!("[[nodes]]\nname = \"s1\"\nrole = \"server\"\n{extra}\n");
    vec![
        ("syntax", "[cluster\nname = \"t\"\n".into(), "1:9: invalid table header\nexpected `.`, `]`"),
        ("unknown top key", with_nodes("colour = \"red\"", S), "3:1: unknown field `colour`, expected one of `name`, `domain`, `ssh_authorized_keys`, `timezone`, `ntp_servers`, `datastore`"),
        ("unknown node key", with_nodes("", &srv("hostname = \"x\"")), "7:1: unknown field `hostname`, expected one of `name`, `role`, `macs`, `install_disk`, `osd_disks`, `labels`, `taints`, `network`"),
        ("missing cluster name", format!("[cluster]\ndomain = \"x\"\n{S}"), "1:1: missing field `name`"),
        ("sqlite with two servers", with_nodes("datastore = \"sqlite\"", &format!("{S}[[nodes]]\nname = \"s2\"\nrole = \"server\"\n")), "3:13: datastore = \"sqlite\" serves one k3s server, but 2 nodes have role = \"server\""),
        ("bad datastore", with_nodes("datastore = \"postgres\"", S), "3:13: unknown variant `postgres`, expected `etcd` or `sqlite`"),
        ("bad role", with_nodes("", "[[nodes]]\nname = \"s1\"\nrole = \"master\"\n"), "6:8: unknown variant `master`, expected `server` or `agent`"),
        ("bad flannel backend", with_nodes("[network]\nflannel_backend = \"ipsec\"", S), "4:19: unknown variant `ipsec`, expected one of `vxlan`, `host-gw`, `wireguard-native`"),
        ("macs not a list", with_nodes("", &srv("macs = \"52:54:00:00:00:01\"")), "7:8: invalid type: string \"52:54:00:00:00:01\", expected a sequence"),
        ("cluster name not a label", format!("[cluster]\nname = \"My_Cluster\"\n{S}"), "2:8: cluster name `My_Cluster` is not a DNS label"),
        ("bad domain", format!("[cluster]\nname = \"t\"\ndomain = \"cluster..local\"\n{S}"), "3:10: cluster domain `cluster..local` is not a DNS name"),
        ("bad cidr", with_nodes("[network]\ncluster_cidr = \"10.42.0.0/33\"", S), "4:16: cluster_cidr `10.42.0.0/33` is not a CIDR"),
        ("host bits", with_nodes("[network]\nservice_cidr = \"10.43.0.1/16\"", S), "4:16: service_cidr `10.43.0.1/16` has host bits set"),
        ("overlapping cidrs", with_nodes("[network]\ncluster_cidr = \"10.0.0.0/8\"\nservice_cidr = \"10.43.0.0/16\"", S), "5:16: service_cidr 10.43.0.0/16 overlaps cluster_cidr 10.0.0.0/8"),
        ("vip not an ip", with_nodes("[network]\napi_vip = \"vip.example\"", S), "4:11: api_vip `vip.example` is not an IP address"),
        ("vip in service cidr", with_nodes("[network]\napi_vip = \"10.43.0.5\"", S), "4:11: api_vip 10.43.0.5 lies inside service_cidr 10.43.0.0/16"),
        ("tls san with space", with_nodes("[network]\ntls_sans = [\"a b\"]", S), "4:13: tls_sans entry `a b` is not a name or address"),
        ("auth proxy without dex", with_nodes("[bundle]\nauth_proxy = { enable = true }", S), "4:25: auth_proxy needs dex as its identity provider"),
        ("dex without issuer for the proxy", with_nodes("[bundle]\ndex = { enable = true, values = { config = { enablePasswordDB = true } } }\nauth_proxy = { enable = true, values = { hostname = \"auth.example.com\" } }", S), "4:18: dex has no values.issuer, which the auth proxy needs to find it"),
        ("dex issuer not https", with_nodes("[bundle]\ndex = { enable = true, values = { issuer = \"http://dex\", config = { enablePasswordDB = true } } }\nauth_proxy = { enable = true, values = { hostname = \"auth.example.com\" } }", S), "4:44: dex issuer `http://dex` is not an https:// URL"),
        ("proxy without hostname", with_nodes("[bundle]\ndex = { enable = true, values = { issuer = \"https://dex.example.com\", config = { enablePasswordDB = true } } }\nauth_proxy = { enable = true }", S), "5:25: the auth proxy has no values.hostname for its login callback and Ingress"),
        ("proxy hostname not a name", with_nodes("[bundle]\ndex = { enable = true, values = { issuer = \"https://dex.example.com\", config = { enablePasswordDB = true } } }\nauth_proxy = { enable = true, values = { hostname = \"https://auth\" } }", S), "5:53: auth proxy hostname `https://auth` is not a DNS name"),
        ("dex without connector", with_nodes("[bundle]\ndex = { enable = true }", S), "4:18: dex is enabled without a connector, and dex exits at start when it has none"),
        ("dex with empty connectors", with_nodes("[bundle]\ndex = { enable = true, values = { config = { connectors = [] } } }", S), "4:59: dex.values.config.connectors is empty, and dex exits at start without a connector"),
        ("dex connector without id", with_nodes("[bundle]\ndex = { enable = true, values = { config = { connectors = [{ type = \"github\" }] } } }", S), "4:60: dex connector 0 needs a `type` and an `id`"),
        ("internal dns without zone", with_nodes("[bundle]\ninternal_dns = { enable = true }", S), "4:27: internal_dns has no values.zone, the DNS zone k8s-gateway answers for"),
        ("internal dns zone not a name", with_nodes("[bundle]\ninternal_dns = { enable = true, values = { zone = \"rack internal\" } }", S), "4:51: internal DNS zone `rack internal` is not a DNS name"),
        ("servicelb off", with_nodes("[bundle]\nservicelb = { enable = false }", S), "4:24: servicelb is disabled and no other load balancer replaces it, so Traefik's and every other LoadBalancer Service would stay Pending with no external address"),
        ("kube-vip beside servicelb", with_nodes(&format!("{VIP}[bundle]\nkube_vip = {{ enable = true, values = {{ service_range = \"192.0.2.200-192.0.2.219\" }} }}"), S), "6:23: kube_vip is on while servicelb is on (its default): two controllers would claim every LoadBalancer Service"),
        ("kube-vip without vip", with_nodes(&format!("[bundle]\n{NO_LB}kube_vip = {{ enable = true, values = {{ service_range = \"192.0.2.200-192.0.2.219\" }} }}"), S), "5:23: kube_vip announces network.api_vip, which is not set"),
        ("kube-vip without range", with_nodes(&format!("{VIP}[bundle]\n{NO_LB}kube_vip = {{ enable = true }}"), S), "7:23: kube_vip has no values.service_range, the addresses it gives LoadBalancer Services, so they would stay Pending"),
        ("kube-vip range malformed", with_nodes(&format!("{VIP}[bundle]\n{NO_LB}kube_vip = {{ enable = true, values = {{ service_range = \"192.0.2.219-192.0.2.200\" }} }}"), S), "7:56: kube_vip service_range `192.0.2.219-192.0.2.200` is neither first-last nor a CIDR"),
        ("kube-vip range holds the vip", with_nodes(&format!("{VIP}[bundle]\n{NO_LB}kube_vip = {{ enable = true, values = {{ service_range = \"192.0.2.0/28\" }} }}"), S), "7:56: kube_vip service_range `192.0.2.0/28` holds api_vip 192.0.2.10: a Service could be given the API's address"),
        ("kube-vip interface not a name", with_nodes(&format!("{VIP}[bundle]\n{NO_LB}kube_vip = {{ enable = true, values = {{ interface = \"eth 0\", service_range = \"192.0.2.200-192.0.2.219\" }} }}"), S), "7:52: kube_vip values.interface is not an interface name"),
        ("rook without osd", with_nodes("[bundle]\nstorage = \"rook-ceph\"", S), "4:11: storage is rook-ceph but no node declares an OSD disk"),
        ("rook replicas zero", with_nodes("[bundle]\nstorage = \"rook-ceph\"\nrook = { replicas = 0 }", &srv("osd_disks = [{ by_id = \"/dev/disk/by-id/ata-X\" }]")), "5:21: bundle.rook.replicas = 0 keeps no copy of the data"),
        ("rook replicas above osd hosts", with_nodes("[bundle]\nstorage = \"rook-ceph\"\n[bundle.rook]\nreplicas = 2", &srv("osd_disks = [{ by_id = \"/dev/disk/by-id/ata-X\" }]")), "6:12: bundle.rook.replicas = 2 but only 1 node has OSD disks, and each copy needs its own host"),
        ("rook settings without rook", with_nodes("[bundle]\nrook = { replicas = 1 }", S), "4:8: [bundle.rook] is only read with storage = \"rook-ceph\", but storage is \"local-path\""),
        ("unknown rook key", with_nodes("[bundle]\nstorage = \"rook-ceph\"\nrook = { size = 3 }", S), "5:10: unknown field `size`, expected `replicas`"),
        ("no nodes", "[cluster]\nname = \"t\"\n".into(), "1:1: the cluster has no nodes"),
        ("no server", with_nodes("", "[[nodes]]\nname = \"a1\"\nrole = \"agent\"\n"), "6:8: the cluster has no server node"),
        ("node name not a label", with_nodes("", "[[nodes]]\nname = \"Node_1\"\nrole = \"server\"\n"), "5:8: node name `Node_1` is not a DNS label"),
        ("duplicate node name", with_nodes("", &format!("{S}{S}{S}")), "8:8: node name `s1` is already used by nodes[0]"),
        ("bad mac", with_nodes("", &srv("macs = [\"52:54:00:00:00\"]")), "7:9: `52:54:00:00:00` is not a MAC address"),
        ("duplicate mac", with_nodes("", &format!("{}[[nodes]]\nname = \"a1\"\nrole = \"agent\"\nmacs = [\"52:54:00:00:00:AA\"]\n", srv("macs = [\"52:54:00:00:00:aa\"]"))), "11:9: MAC 52:54:00:00:00:aa is already used by nodes[0] (`s1`)"),
        ("install disk both", with_nodes("", &srv("install_disk = { by_id = \"/dev/disk/by-id/x\", model = \"m\" }")), "7:26: install_disk gives both by_id `/dev/disk/by-id/x` and match rules"),
        ("install disk not by-id", with_nodes("", &srv("install_disk = { by_id = \"/dev/sda\" }")), "7:26: install_disk by_id `/dev/sda` is not under /dev/disk/by-id/"),
        ("install disk selects nothing", with_nodes("", &srv("install_disk = {}")), "7:16: install_disk selects nothing"),
        ("install disk min > max", with_nodes("", &srv("install_disk = { min_size_gib = 500, max_size_gib = 100 }")), "7:33: min_size_gib 500 is larger than max_size_gib 100"),
        ("osd as sdX", with_nodes("", &srv("osd_disks = [{ by_id = \"/dev/sdb\" }]")), "7:24: OSD disk `/dev/sdb` is not a /dev/disk/by-id/ path"),
        ("osd partition", with_nodes("", &srv("osd_disks = [{ by_id = \"/dev/disk/by-id/ata-X-part1\" }]")), "7:24: OSD disk `/dev/disk/by-id/ata-X-part1` names a partition"),
        ("osd listed twice", with_nodes("", &srv("osd_disks = [{ by_id = \"/dev/disk/by-id/ata-X\" }, { by_id = \"/dev/disk/by-id/ata-X\" }]")), "7:61: OSD disk `/dev/disk/by-id/ata-X` is already listed as osd_disks[0]"),
        ("wipe always without serial", with_nodes("", &srv("osd_disks = [{ by_id = \"/dev/disk/by-id/ata-X\", wipe = \"always\" }]")), "7:56: wipe = \"always\" on `/dev/disk/by-id/ata-X` needs confirm_serial"),
        ("serial without always", with_nodes("", &srv("osd_disks = [{ by_id = \"/dev/disk/by-id/ata-X\", confirm_serial = \"X\" }]")), "7:66: confirm_serial is only read with wipe = \"always\", but wipe is \"never\""),
        ("osd by_id with dot-dot", with_nodes("", &srv("osd_disks = [{ by_id = \"/dev/disk/by-id/../../sda\" }]")), "7:24: OSD disk `/dev/disk/by-id/../../sda` is not a single link name under /dev/disk/by-id/"),
        ("foreign fsid not a uuid", with_nodes("", &srv("osd_disks = [{ by_id = \"/dev/disk/by-id/ata-X\", wipe = \"if-foreign\", foreign_fsid = \"ceph1\" }]")), "7:85: foreign_fsid `ceph1` is not a Ceph fsid (a UUID)"),
        ("foreign fsid with never", with_nodes("", &srv("osd_disks = [{ by_id = \"/dev/disk/by-id/ata-X\", foreign_fsid = \"0d9f4b7e-8e2a-4b55-b0a4-5d2c7c9e6f00\" }]")), "7:64: foreign_fsid is only read with wipe = \"if-foreign\" or \"always\", but wipe is \"never\""),
        ("bad wipe policy", with_nodes("", &srv("osd_disks = [{ by_id = \"/dev/disk/by-id/ata-X\", wipe = \"yes\" }]")), "7:56: unknown variant `yes`, expected one of `never`, `if-foreign`, `always`"),
        ("bad label key", with_nodes("", &srv("labels = { \"a/b/c\" = \"x\" }")), "7:22: label key `a/b/c` is not a valid Kubernetes label key"),
        ("bad taint", with_nodes("", &srv("taints = [\"dedicated=storage\"]")), "7:11: taint `dedicated=storage` is not in key[=value]:Effect form"),
        ("address without prefix", with_nodes("", &srv("network = { addresses = [\"192.0.2.11\"] }")), "7:26: address `192.0.2.11` is not in address/prefix form"),
        ("address in pod network", with_nodes("", &srv("network = { addresses = [\"10.42.7.1/24\"] }")), "7:26: address 10.42.7.1/24 overlaps cluster_cidr 10.42.0.0/16"),
        ("gateway off subnet", with_nodes("", &srv("network = { addresses = [\"192.0.2.11/24\"], gateway = \"198.51.100.1\" }")), "7:54: gateway 198.51.100.1 is not on any of the node's subnets"),
        ("dns not an ip", with_nodes("", &srv("network = { addresses = [\"192.0.2.11/24\"], dns = [\"dns.example\"] }")), "7:51: dns server `dns.example` is not an IP address"),
        ("no addresses", with_nodes("", &srv("network = { addresses = [] }")), "7:25: static network has no addresses"),
        ("duplicate address", with_nodes("", &format!("{}[[nodes]]\nname = \"a1\"\nrole = \"agent\"\nnetwork = {{ addresses = [\"192.0.2.11/24\"] }}\n", srv("network = { addresses = [\"192.0.2.11/24\"] }"))), "11:26: address 192.0.2.11 is already used by nodes[0]"),
    ]
}

#[test]
fn each_invalid_input_gives_its_exact_located_message() {
    let cases = cases();
    assert!(cases.len() >= 25, "the table must cover at least 25 inputs");
    let mut failures = Vec::new();
    for (name, src, want) in &cases {
        let got = match parse_str(src, "cluster.toml") {
            Ok(_) => "accepted".to_string(),
            Err(e) => {
                let d = e
                    .diagnostics()
                    .iter()
                    .find(|d| d.severity == Severity::Error)
                    .expect("an error diagnostic");
                assert_eq!(d.file, "cluster.toml");
                assert!(!d.fix.is_empty(), "{name}: every error says how to fix it");
                format!("{}:{}: {}", d.line, d.col, d.message)
            }
        };
        if got != *want {
            failures.push(format!("{name}:\n  want {want:?}\n  got  {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn even_server_count_is_a_warning_not_an_error() {
    let src = with_nodes(
        "",
        &format!("{S}[[nodes]]\nname = \"s2\"\nrole = \"server\"\n"),
    );
    let (_, warnings) = parse_str(&src, "c.toml").expect("valid with a warning");
    let quorum = warnings
        .iter()
        .find(|w| w.message.contains("2 servers"))
        .expect("quorum warning");
    assert!(
        quorum.to_string().starts_with("c.toml:4:1: warning:"),
        "{quorum}"
    );
    let unresolved = warnings
        .iter()
        .find(|w| w.message.contains("has no static address"))
        .expect("address warning");
    assert_eq!((unresolved.line, unresolved.col), (5, 8));
    assert_eq!(warnings.len(), 2);
}

#[test]
fn display_names_file_line_col_and_fix() {
    let err = parse_str(&with_nodes("", &format!("{S}{S}")), "rack/cluster.toml").unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("rack/cluster.toml:8:8: error: node name `s1` is already used by nodes[0]"),
        "{text}"
    );
    assert!(
        text.contains("fix: give every node a unique name"),
        "{text}"
    );
}

#[test]
fn a_single_replica_over_several_osd_hosts_is_a_warning() {
    let osd = |n: &str| {
        format!("[[nodes]]\nname = \"{n}\"\nrole = \"server\"\nosd_disks = [{{ by_id = \"/dev/disk/by-id/ata-{n}\" }}]\n")
    };
    let head = "[bundle]\nstorage = \"rook-ceph\"\nrook = { replicas = 1 }";
    let (_, warnings) = parse_str(&with_nodes(head, &osd("s1")), "c.toml").expect("valid");
    assert!(warnings.is_empty(), "one OSD host, one copy: {warnings:?}");
    let three = format!("{}{}{}", osd("s1"), osd("s2"), osd("s3"));
    let (_, warnings) = parse_str(&with_nodes(head, &three), "c.toml").expect("valid");
    let w = warnings
        .iter()
        .find(|w| w.message.contains("single copy"))
        .expect("single-copy warning");
    assert_eq!((w.line, w.col), (5, 21));
}

/// An API VIP nothing in the bundle serves is allowed (an outside load balancer may hold it),
/// but said; with kube-vip serving it the warning goes away.
#[test]
fn an_api_vip_without_kube_vip_is_a_warning() {
    let (_, warnings) = parse_str(&with_nodes(VIP, S), "c.toml").expect("valid with a warning");
    let w = warnings
        .iter()
        .find(|w| w.message.contains("nothing in the bundle serves api_vip"))
        .expect("VIP warning");
    assert!(w.to_string().starts_with("c.toml:4:11: warning:"), "{w}");
    let served = with_nodes(
        &format!("{VIP}[bundle]\n{NO_LB}kube_vip = {{ enable = true, values = {{ service_range = \"192.0.2.200-192.0.2.219\" }} }}"),
        S,
    );
    let (_, warnings) =
        parse_str(&served, "c.toml").expect("kube-vip with its VIP and range is valid");
    assert!(
        !warnings.iter().any(|w| w.message.contains("api_vip")),
        "{warnings:?}"
    );
}
