//! The NoCloud mapping key by key: each row is a CIDATA drive (meta-data, user-data,
//! network-config) given to the agent as a directory, and what the node must show for it: the
//! effective value with its source, the files written, the status warnings, or the error.

mod agent_support;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use agent_support::trust::{embed_file, warnings, NO_JOIN};
use agent_support::{Cluster, Node};
use base64::Engine;

/// What one row expects.
enum Want {
    /// `run/kateskit/config/<path>` holds this value.
    Value(&'static str, &'static str),
    /// The source of a config path ends with this.
    Source(&'static str, &'static str),
    /// A file under the root has exactly this content.
    File(&'static str, &'static [u8]),
    /// A file under the root has this mode.
    Mode(&'static str, u32),
    /// A file under the root contains this text.
    Contains(&'static str, &'static str),
    /// A file under the root does not exist.
    Absent(&'static str),
    /// A status warning contains this text.
    Warning(&'static str),
    /// The run fails, and its output contains this text.
    Fails(&'static str),
}

struct Row {
    name: &'static str,
    meta: &'static str,
    user: String,
    network: Option<&'static str>,
    want: Vec<Want>,
}

fn gz(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

const META: &str = "instance-id: iid-1\nlocal-hostname: n1\n";

fn rows() -> Vec<Row> {
    use Want::*;
    let cc = |s: &str| format!("#cloud-config\n{s}");
    let gzb64 = b64(&gz(b"from gzip\n"));
    vec![
        Row { name: "local-hostname FQDN", meta: "instance-id: i\nlocal-hostname: web1.example.org\n", user: String::new(), network: None, want: vec![
            Value("host/hostname", "web1"), Source("host.hostname", "meta-data local-hostname"),
            Value("agent/fqdn", "web1.example.org"), File("etc/hostname", b"web1\n"),
            Contains("etc/hosts", "127.0.1.1 web1.example.org web1 # kateskit fqdn\n"),
        ] },
        Row { name: "meta-data hostname", meta: "instance-id: i\nhostname: h2\n", user: String::new(), network: None, want: vec![
            Value("host/hostname", "h2"), Source("host.hostname", "meta-data hostname"), Absent("etc/hosts"),
        ] },
        Row { name: "public-keys map", meta: "instance-id: i\nlocal-hostname: n1\npublic-keys:\n  a: ssh-ed25519 AAAAa a\n  b: [ssh-ed25519 AAAAb b]\n", user: String::new(), network: None, want: vec![
            File("root/.ssh/authorized_keys", b"ssh-ed25519 AAAAa a\nssh-ed25519 AAAAb b\n"),
            Source("host.ssh_authorized_keys", "meta-data public-keys"),
        ] },
        Row { name: "user-data hostname and fqdn", meta: META, user: cc("hostname: ud\nfqdn: ud.example.net\n"), network: None, want: vec![
            Value("host/hostname", "ud"), Source("host.hostname", "user-data hostname"),
            Value("agent/fqdn", "ud.example.net"), Source("agent.fqdn", "user-data fqdn"),
        ] },
        Row { name: "keys from public-keys, ssh_authorized_keys and users", meta: "instance-id: i\nlocal-hostname: n1\npublic-keys: [ssh-ed25519 AAAAm m]\n",
            user: cc("ssh_authorized_keys: [ssh-ed25519 AAAAt t]\nusers:\n- default\n- name: ops\n  ssh_authorized_keys: [ssh-ed25519 AAAAu u]\n"), network: None, want: vec![
            File("root/.ssh/authorized_keys", b"ssh-ed25519 AAAAm m\nssh-ed25519 AAAAt t\nssh-ed25519 AAAAu u\n"),
            Warning("user-data users[1]: user `ops` is not created; its SSH keys log in as root"),
        ] },
        Row { name: "write_files encodings", meta: META, user: cc(&format!(
            "write_files:\n- path: /etc/a\n  encoding: gz+b64\n  content: {gzb64}\n- path: /etc/b\n  encoding: gzip\n  content: !!binary |\n    {gzb64}\n- path: /etc/c\n  content: !!binary {}\n- path: /etc/d\n  encoding: base64\n  content: {}\n  permissions: '0600'\n- path: /etc/e\n  content: plain\n  permissions: 0o750\n",
            b64(&[0, 1, 255]), b64(b"b64 text"))), network: None, want: vec![
            File("etc/a", b"from gzip\n"), File("etc/b", b"from gzip\n"), File("etc/c", &[0, 1, 255]),
            File("etc/d", b"b64 text"), Mode("etc/d", 0o600), File("etc/e", b"plain"), Mode("etc/e", 0o750), Mode("etc/a", 0o644),
        ] },
        Row { name: "write_files append, owner and defer", meta: META, user: cc(
            "write_files:\n- path: /etc/app.conf\n  content: \"two\\n\"\n  append: true\n- path: /etc/owned\n  content: x\n  owner: '1234:4321'\n- path: /etc/late\n  content: late\n  defer: true\n"), network: None, want: vec![
            File("etc/app.conf", b"one\ntwo\n"), File("etc/late", b"late"), File("var/lib/kateskit/instance-id", b"iid-1\n"),
            File("var/lib/kateskit/instance-id.deferred", b"iid-1\n"),
        ] },
        Row { name: "write_files unknown encoding", meta: META, user: cc("write_files:\n- path: /etc/a\n  encoding: zstd\n  content: x\n"), network: None, want: vec![
            Fails("user-data write_files[0] (/etc/a): encoding `zstd` is not one of"),
        ] },
        Row { name: "ntp and timezone", meta: META, user: cc("timezone: Europe/Paris\nntp:\n  enabled: true\n  servers: [ntp1.example]\n  pools: [pool.example]\n"), network: None, want: vec![
            Value("host/timezone", "Europe/Paris"), Source("host.timezone", "user-data timezone"),
            File("etc/systemd/timesyncd.conf.d/10-kateskit.conf", b"# Written by kateskit.\n[Time]\nNTP=\nNTP=ntp1.example pool.example\n"),
        ] },
        Row { name: "runcmd refused", meta: META, user: cc("runcmd: [reboot]\n"), network: None, want: vec![
            Fails("`runcmd` runs shell commands, which KatesKit does not do from a config drive"),
        ] },
        Row { name: "bootcmd refused", meta: META, user: cc("bootcmd: [reboot]\n"), network: None, want: vec![Fails("`bootcmd` runs shell commands")] },
        Row { name: "#include refused", meta: META, user: "#include\nhttps://example.org/ud\n".into(), network: None, want: vec![Fails("user-data is an #include list")] },
        Row { name: "MIME multipart refused", meta: META, user: "Content-Type: multipart/mixed; boundary=\"b\"\nMIME-Version: 1.0\n\n--b\n".into(), network: None, want: vec![
            Fails("user-data is a MIME multipart document, which KatesKit does not read"),
        ] },
        Row { name: "unmapped keys reported", meta: "instance-id: i\nlocal-hostname: n1\ndsmode: local\n", user: cc("packages: [vim]\nntp:\n  config: {confpath: /x}\n"), network: None, want: vec![
            Warning("meta-data: `dsmode` is not mapped (no KatesKit equivalent); ignored"),
            Warning("user-data: `packages` is not mapped (no KatesKit equivalent); ignored"),
            Warning("user-data ntp: `config` is not mapped"),
        ] },
        Row { name: "network-config v2 static", meta: META, user: String::new(), network: Some(
            "version: 2\nethernets:\n  lan:\n    match: {macaddress: '52:54:00:12:34:56'}\n    set-name: lan0\n    addresses: [192.0.2.10/24]\n    gateway4: 192.0.2.1\n    routes: [{to: 198.51.100.0/24, via: 192.0.2.254}]\n    nameservers: {addresses: [192.0.2.53], search: [example.org]}\n"), want: vec![
            Contains("etc/systemd/network/10-kateskit-nc-00-lan.network", "[Match]\nMACAddress=52:54:00:12:34:56\n\n[Network]\nDHCP=no\nAddress=192.0.2.10/24\nGateway=192.0.2.1\nDNS=192.0.2.53\nDomains=example.org\n\n[Route]\nDestination=198.51.100.0/24\nGateway=192.0.2.254\n"),
            Contains("etc/systemd/network/10-kateskit-nc-00-lan.link", "[Link]\nName=lan0\n"),
            Absent("etc/systemd/network/99-kateskit-dhcp.network"), Source("agent.network_config", "network-config"),
            // The image defaults' static address (a rung below the drive) is replaced.
            Absent("etc/systemd/network/10-kateskit-static.network"), Absent("run/kateskit/config/node/network/addresses"),
        ] },
        Row { name: "network-config v1 dhcp by name", meta: META, user: String::new(), network: Some(
            "version: 1\nconfig:\n- type: physical\n  name: eth0\n  subnets: [{type: dhcp}]\n- type: nameserver\n  address: [192.0.2.53]\n  search: [lan]\n"), want: vec![
            Contains("etc/systemd/network/10-kateskit-nc-00-eth0.network", "[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\nDNS=192.0.2.53\nDomains=lan\n"),
        ] },
        Row { name: "network-config bond refused", meta: META, user: String::new(), network: Some("version: 2\nbonds:\n  bond0: {interfaces: [eth0]}\n"), want: vec![
            Fails("network-config: bonds are not supported by KatesKit"),
        ] },
    ]
}

fn drive(r: &Row) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("meta-data"), r.meta).unwrap();
    if !r.user.is_empty() {
        std::fs::write(d.path().join("user-data"), &r.user).unwrap();
    }
    if let Some(nc) = r.network {
        std::fs::write(d.path().join("network-config"), nc).unwrap();
    }
    d
}

fn node(c: &Cluster) -> Node {
    let n = Node::new();
    n.image_defaults(&c.render("a1"));
    n.attach_osd_disks(&c.render("a1"));
    n.set_cmdline(NO_JOIN);
    n.write("etc/app.conf", "one\n");
    n
}

#[test]
fn nocloud_mapping_table() {
    let c = Cluster::new("rack");
    for r in rows() {
        let n = node(&c);
        let d = drive(&r);
        let out = n.run(&[("KATESKIT_CONFIG_DRIVE", d.path().to_str().unwrap())]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let fails = r.want.iter().any(|w| matches!(w, Want::Fails(_)));
        assert_eq!(out.status.success(), !fails, "{}: {text}", r.name);
        for w in &r.want {
            match w {
                Want::Value(p, v) => assert_eq!(n.value(p), *v, "{}: {p}", r.name),
                Want::Source(p, s) => assert!(
                    n.source(p).ends_with(s),
                    "{}: {p} from {}",
                    r.name,
                    n.source(p)
                ),
                Want::File(p, b) => {
                    assert_eq!(std::fs::read(n.path(p)).unwrap(), *b, "{}: {p}", r.name)
                }
                Want::Mode(p, m) => {
                    let mode = std::fs::metadata(n.path(p)).unwrap().permissions().mode() & 0o7777;
                    assert_eq!(mode, *m, "{}: {p}", r.name)
                }
                Want::Contains(p, s) => {
                    let body = n.read(p);
                    assert!(body.contains(s), "{}: {p}:\n{body}", r.name)
                }
                Want::Absent(p) => assert!(!n.path(p).exists(), "{}: {p} exists", r.name),
                Want::Warning(s) => {
                    assert!(warnings(&n).contains(s), "{}: {}", r.name, warnings(&n))
                }
                Want::Fails(s) => assert!(text.contains(s), "{}: {text}", r.name),
            }
        }
    }
}

/// `owner` is resolved and applied (the table's row uses numbers; names go through /etc/passwd).
#[test]
fn write_files_owner_by_name() {
    let c = Cluster::new("rack");
    let n = node(&c);
    n.write(
        "etc/passwd",
        "root:x:0:0::/root:/bin/sh\nsvc:x:1234:4321::/:/bin/false\n",
    );
    let r = Row {
        name: "owner",
        meta: META,
        user: "#cloud-config\nwrite_files:\n- {path: /etc/o, content: x, owner: svc}\n".into(),
        network: None,
        want: vec![],
    };
    let d = drive(&r);
    let out = n.run(&[("KATESKIT_CONFIG_DRIVE", d.path().to_str().unwrap())]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(n.path("etc/o")).unwrap();
    assert_eq!((m.uid(), m.gid()), (1234, 4321));
}

/// write_files run once per instance-id: a second run with the same id leaves an appended
/// file alone; a new instance-id writes again.
#[test]
fn write_files_once_per_instance_id() {
    let c = Cluster::new("rack");
    let n = node(&c);
    let mut r = Row { name: "instance", meta: META, user: "#cloud-config\nwrite_files:\n- {path: /etc/app.conf, content: \"two\\n\", append: true}\n".into(), network: None, want: vec![] };
    // The drive is read on every boot only when the owner allows it.
    n.set_cmdline(&format!("{NO_JOIN} kateskit.agent.config_drive=always"));
    for (meta, want) in [
        (META, "one\ntwo\n"),
        (META, "one\ntwo\n"),
        (
            "instance-id: iid-2\nlocal-hostname: n1\n",
            "one\ntwo\ntwo\n",
        ),
    ] {
        r.meta = meta;
        let d = drive(&r);
        let out = n.run(&[("KATESKIT_CONFIG_DRIVE", d.path().to_str().unwrap())]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert_eq!(n.read("etc/app.conf"), want, "{meta}");
    }
    assert_eq!(n.read("var/lib/kateskit/instance-id"), "iid-2\n");
}

/// On a stamped node the drive's protected keys (SSH keys, write_files) are dropped and named;
/// its hostname and network still apply.
#[test]
fn stamped_node_takes_no_protected_key_from_the_drive() {
    let c = Cluster::new("rack");
    let n = Node::new();
    let cfg = c.render("a1");
    n.attach_osd_disks(&cfg);
    n.set_cmdline(NO_JOIN);
    let embed = embed_file(&cfg);
    let r = Row {
        name: "stamped",
        meta: "instance-id: i\nlocal-hostname: evil\npublic-keys: [ssh-ed25519 AAAAevil e]\n",
        user: "#cloud-config\nwrite_files:\n- {path: /etc/evil, content: x}\n".into(),
        network: None,
        want: vec![],
    };
    let d = drive(&r);
    let out = n.run(&[
        ("KATESKIT_CONFIG_DRIVE", d.path().to_str().unwrap()),
        ("KATESKIT_EMBED", embed.path().to_str().unwrap()),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!n.path("etc/evil").exists());
    assert!(!n.read("root/.ssh/authorized_keys").contains("AAAAevil"));
    let w = warnings(&n);
    assert!(
        w.contains("ignored agent.write_files, host.ssh_authorized_keys"),
        "{w}"
    );
    assert_eq!(n.value("host/hostname"), "evil");
}

/// An `ip=` kernel argument ranks above the drive: its static file is written, the drive's
/// network-config is not, and the status says so.
#[test]
fn ip_argument_wins_over_network_config() {
    let c = Cluster::new("rack");
    let n = node(&c);
    n.set_cmdline(&format!(
        "{NO_JOIN} ip=198.51.100.7::198.51.100.1:255.255.255.0::ens3:none"
    ));
    let r = Row {
        name: "ip",
        meta: META,
        user: String::new(),
        network: Some("version: 2\nethernets:\n  eth0: {dhcp4: true}\n"),
        want: vec![],
    };
    let d = drive(&r);
    let out = n.run(&[("KATESKIT_CONFIG_DRIVE", d.path().to_str().unwrap())]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(n
        .read("etc/systemd/network/10-kateskit-static.network")
        .contains("Address=198.51.100.7/24"));
    assert!(!n
        .path("etc/systemd/network/10-kateskit-nc-00-eth0.network")
        .exists());
    let w = warnings(&n);
    assert!(
        w.contains(
            "network-config: not applied: node.network from kernel argument ip=198.51.100.7"
        ),
        "{w}"
    );
}
