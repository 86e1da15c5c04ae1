//! The k3os mapping table, key by key: each k3os config key (as k3os's README and
//! `pkg/config/config.go` define it) either lands on the documented NodeConfig / agent path,
//! or is reported by name with its source (docs/migrate-k3os.md "What maps to what").

use base64::Engine;
use kateskit::k3os;
use serde_json::{json, Value};

/// A tree path and the value it must hold.
type Sets = (&'static str, fn() -> Value);

/// One row: a config.yaml, the tree paths it must set, the keys it must report.
struct Row {
    yaml: &'static str,
    sets: &'static [Sets],
    reports: &'static [&'static str],
}

fn mapped(yaml: &str) -> k3os::Mapped {
    let cfg = k3os::parse_yaml(yaml.as_bytes(), "cfg.yaml").unwrap();
    k3os::map(&cfg, "cfg.yaml").unwrap()
}

fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, s| v.get(s))
}

fn gz(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

const ROWS: &[Row] = &[
    Row {
        yaml: "hostname: n1\n",
        sets: &[("host.hostname", || json!("n1"))],
        reports: &[],
    },
    Row {
        yaml: "ssh_authorized_keys:\n- ssh-ed25519 AAAA a@b\n- github:alice\n",
        sets: &[("host.ssh_authorized_keys", || json!(["ssh-ed25519 AAAA a@b"]))],
        reports: &["ssh_authorized_keys github:alice"],
    },
    Row {
        yaml: "write_files:\n- path: /etc/motd\n  content: hi\n  permissions: '0600'\n- path: /etc/b\n  encoding: b64\n  content: aGk=\n- path: /etc/local.d/x.start\n  content: echo\n- path: /var/lib/connman/wifi.config\n  content: x\n- path: /etc/o\n  owner: rancher\n  content: o\n",
        sets: &[("agent.write_files", || {
            json!([
                {"path": "/etc/motd", "content": "hi", "permissions": "0600"},
                {"path": "/etc/b", "content": "aGk=", "encoding": "b64"},
                {"path": "/etc/o", "content": "o"}
            ])
        })],
        reports: &[
            "write_files[2] /etc/local.d/x.start",
            "write_files[3] /var/lib/connman/wifi.config",
            "write_files[4] /etc/o owner rancher",
        ],
    },
    Row {
        yaml: "run_cmd: [a]\nboot_cmd: b\ninit_cmd: [c]\n",
        sets: &[],
        reports: &["run_cmd", "boot_cmd", "init_cmd"],
    },
    Row {
        yaml: "k3os:\n  data_sources: [aws, cdrom]\n",
        sets: &[],
        reports: &["k3os.data_sources"],
    },
    Row {
        yaml: "k3os:\n  modules: [kvm, nvme]\n",
        sets: &[("agent.write_files", || {
            json!([{"path": "/etc/modules-load.d/k3os.conf", "content": "kvm\nnvme\n"}])
        })],
        reports: &[],
    },
    Row {
        yaml: "k3os:\n  sysctl:\n    kernel.printk: \"4 4 1 7\"\n    vm.max_map_count: 262144\n",
        sets: &[("agent.sysctls", || {
            json!({"kernel.printk": "4 4 1 7", "vm.max_map_count": "262144"})
        })],
        reports: &[],
    },
    Row {
        yaml: "k3os:\n  ntp_servers: [0.pool.ntp.org]\n",
        sets: &[("host.ntp_servers", || json!(["0.pool.ntp.org"]))],
        reports: &[],
    },
    Row {
        yaml: "k3os:\n  dns_nameservers: [1.1.1.1]\n",
        sets: &[],
        reports: &["k3os.dns_nameservers"],
    },
    Row {
        yaml: "k3os:\n  wifi:\n  - name: home\n    passphrase: hunter2\n",
        sets: &[],
        reports: &["k3os.wifi home"],
    },
    Row {
        yaml: "k3os:\n  password: rancher\n",
        sets: &[],
        reports: &["k3os.password"],
    },
    Row {
        yaml: "k3os:\n  server_url: https://s1:6443\n  token: K10abc::node:pw\n",
        sets: &[
            ("k3s.server_url", || json!("https://s1:6443")),
            ("secrets.token", || json!("K10abc::node:pw")),
            ("node.role", || json!("agent")),
        ],
        reports: &[],
    },
    Row {
        yaml: "k3os:\n  token: clustersecret\n",
        sets: &[
            ("secrets.token", || json!("clustersecret")),
            ("node.role", || json!("server")),
        ],
        reports: &[],
    },
    Row {
        yaml: "k3os:\n  labels:\n    region: eu\n  taints: [\"key1=value1:NoSchedule\"]\n",
        sets: &[
            ("node.labels", || json!({"region": "eu"})),
            ("node.taints", || json!(["key1=value1:NoSchedule"])),
        ],
        reports: &[],
    },
    Row {
        yaml: "k3os:\n  server_url: https://s1:6443\n  k3s_args: [server, \"--disable=traefik,servicelb\", --tls-san, api.example, --node-label, zone=a, --kubelet-arg, register-with-taints=gpu=1:NoSchedule, --node-ip=10.0.0.5, --cluster-init, --write-kubeconfig-mode, \"0644\"]\n",
        sets: &[
            ("node.role", || json!("server")),
            ("k3s.disable", || json!(["traefik", "servicelb"])),
            ("k3s.tls_sans", || json!(["api.example"])),
            ("node.labels", || json!({"zone": "a"})),
            ("node.taints", || json!(["gpu=1:NoSchedule"])),
            ("k3s.node_ip", || json!("10.0.0.5")),
            ("k3s.cluster_init", || json!(true)),
        ],
        reports: &["k3os.k3s_args --write-kubeconfig-mode 0644"],
    },
    Row {
        yaml: "k3os:\n  environment:\n    http_proxy: http://proxy:3128\n",
        sets: &[],
        reports: &["k3os.environment http_proxy"],
    },
    Row {
        yaml: "k3os:\n  install:\n    device: /dev/vda\n    silent: true\n",
        sets: &[],
        reports: &["k3os.install.device", "k3os.install.silent"],
    },
    Row {
        yaml: "hostnme: typo\nk3os:\n  tokn: x\n",
        sets: &[],
        reports: &["hostnme", "k3os.tokn"],
    },
];

#[test]
fn every_k3os_key_maps_to_its_documented_path_or_is_reported() {
    for row in ROWS {
        let m = mapped(row.yaml);
        let mut expected = json!({});
        for (path, want) in row.sets {
            let got = get(&m.layer.tree, path);
            assert_eq!(got, Some(&want()), "{path} from {}", row.yaml);
            // Every leaf under the path is attributed to the file.
            let under: Vec<_> = m
                .layer
                .origin
                .iter()
                .filter(|(k, _)| k.starts_with(path))
                .collect();
            assert!(!under.is_empty(), "{path}: {:?}", m.layer.origin);
            assert!(
                under.iter().all(|(_, o)| o.starts_with("cfg.yaml ")),
                "{under:?}"
            );
            let top = path.split('.').next().unwrap();
            expected[top] = m.layer.tree[top].clone();
        }
        // Nothing else is set, and every leaf has its source.
        assert_eq!(m.layer.tree, expected, "{}", row.yaml);
        let mut leaves = kateskit::agent::ladder::merge::leaf_paths(&m.layer.tree);
        leaves.sort();
        assert_eq!(
            leaves,
            m.layer.origin.keys().cloned().collect::<Vec<_>>(),
            "{}",
            row.yaml
        );
        let keys: Vec<&str> = m.unmapped.iter().map(|u| u.key.as_str()).collect();
        assert_eq!(keys, row.reports, "{}", row.yaml);
        for u in &m.unmapped {
            assert_eq!(u.source, "cfg.yaml");
            let shown = u.to_string();
            assert!(
                !shown.contains("hunter2") && !shown.contains("rancher\n"),
                "{shown}"
            );
        }
    }
}

#[test]
fn write_files_take_every_k3os_encoding() {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let data = b"net.ipv4.ip_forward = 1\n";
    for enc in ["gz+b64", "gzip+b64", "gz+base64", "gzip+base64"] {
        let yaml = format!(
            "write_files:\n- path: /etc/x\n  encoding: {enc}\n  content: {}\n",
            b64(&gz(data))
        );
        let m = mapped(&yaml);
        let f = &m.layer.tree["agent"]["write_files"][0];
        assert_eq!(f["encoding"], "b64", "{enc}");
        assert_eq!(f["content"], b64(data), "{enc}");
    }
    for enc in ["base64", "b64"] {
        let m = mapped(&format!(
            "write_files:\n- path: /etc/x\n  encoding: {enc}\n  content: aGk=\n"
        ));
        assert_eq!(m.layer.tree["agent"]["write_files"][0]["encoding"], "b64");
    }
    let cfg = k3os::parse_yaml(
        b"write_files:\n- path: /etc/x\n  encoding: zstd\n  content: x\n",
        "cfg.yaml",
    )
    .unwrap();
    let e = k3os::map(&cfg, "cfg.yaml").unwrap_err().to_string();
    assert!(
        e.starts_with("cfg.yaml: write_files[0] (/etc/x): encoding `zstd`"),
        "{e}"
    );
    let cfg = k3os::parse_yaml(
        b"write_files:\n- path: /etc/x\n  encoding: gz+b64\n  content: aGk=\n",
        "cfg.yaml",
    )
    .unwrap();
    let e = k3os::map(&cfg, "cfg.yaml").unwrap_err().to_string();
    assert!(e.contains("not gzip data"), "{e}");
}

#[test]
fn loose_names_give_the_same_layer() {
    let canonical = mapped("ssh_authorized_keys: [k]\nk3os:\n  dns_nameservers: [1.1.1.1]\n  k3s_args: [agent]\n  sysctls: {a: b}\n  ntp_servers: [n]\n  data_sources: [aws]\n");
    for loose in [
        "sshAuthorizedKeys: k\nk3os:\n  dnsNameservers: 1.1.1.1\n  k3sArgs: agent\n  sysctl: {a: b}\n  ntpserver: n\n  datasource: aws\n",
        "ssh_authorized_key: [k]\nk3os:\n  dns_nameserver: [1.1.1.1]\n  k3s_arg: [agent]\n  sysctl: {a: b}\n  ntp_server: n\n  data_source: aws\n",
        "sshauthorizedkeys: [k]\nk3os:\n  dnsnameserver: [1.1.1.1]\n  k3sargs: [agent]\n  sysctl: {a: b}\n  ntpservers: n\n  dataSources: aws\n",
    ] {
        let m = mapped(loose);
        assert_eq!(m.layer.tree, canonical.layer.tree, "{loose}");
        let keys = |m: &k3os::Mapped| m.unmapped.iter().map(|u| u.key.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&m), keys(&canonical), "{loose}");
    }
}

#[test]
fn json_nodeconfig_bodies_are_not_taken_for_k3os() {
    assert!(k3os::looks_like_k3os(
        b"#cloud-config-ish comment\nk3os:\n  token: x\n"
    ));
    assert!(!k3os::looks_like_k3os(
        br#"{"node": {"role": "agent"}, "secrets": {"token": "x"}}"#
    ));
}

/// k3os's own full sample: every key is k3os's (none reported as unknown), the mapped ones
/// land, the rest are reported; the passwords are in no report.
#[test]
fn the_k3os_readme_sample_maps_with_every_key_accounted_for() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/k3os/readme-sample.yaml"
    );
    let m = mapped(&std::fs::read_to_string(path).unwrap());
    let t = &m.layer.tree;
    assert_eq!(t["host"]["hostname"], "myhost");
    assert_eq!(t["k3s"]["server_url"], "https://someserver:6443");
    assert_eq!(t["secrets"]["token"], "TOKEN_VALUE");
    assert_eq!(t["node"]["role"], "server");
    assert_eq!(t["k3s"]["cluster_init"], true);
    assert_eq!(t["agent"]["sysctls"]["kernel.kptr_restrict"], "1");
    assert_eq!(t["node"]["taints"].as_array().unwrap().len(), 2);
    assert_eq!(t["node"]["labels"]["somekey"], "somevalue");
    let keys: Vec<&str> = m.unmapped.iter().map(|u| u.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "ssh_authorized_keys github:ibuildthecloud",
            "write_files[0] /etc/local.d/example.start",
            "run_cmd",
            "boot_cmd",
            "init_cmd",
            "k3os.data_sources",
            "k3os.dns_nameservers",
            "k3os.wifi home",
            "k3os.wifi nothome",
            "k3os.password",
            "k3os.environment http_proxy, https_proxy",
        ]
    );
    let shown = format!("{:?}", m.unmapped);
    assert!(
        !shown.contains("mypassword") && !shown.contains("somethingelse"),
        "{shown}"
    );
}
