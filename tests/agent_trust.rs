//! The trust model (docs/agent.md "Trust model"): what a config drive may set on a stamped
//! node, the identity record that ends the first boot, the CA hash it pins, and which embed
//! partition is the node's. The table in the docs is checked against the code's.

mod agent_support;

use std::path::Path;

use agent_support::{http_server, Cluster, Node};
use kateskit::agent::tree::Layer;
use kateskit::agent::trust::{self, Access, DrivePolicy, KeyClass, Source, When};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const NO_JOIN: &str = "console=ttyS0 kateskit.agent.verify_join=false";
const EVIL_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEvilKeyFromAUsbStick000000000000000 evil";
const EVIL_TOKEN: &str = "K10::node:stolen-from-a-usb-stick";

/// A file holding an embed area stamped with `cfg`.
fn embed_file(cfg: &Value) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    let area = kateskit::image::embed::build_area(262144, Some(&cfg.to_string()), &[]).unwrap();
    std::fs::write(f.path(), area).unwrap();
    f
}

/// A config drive directory holding `kateskit.json`.
fn drive(cfg: &Value) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("kateskit.json"), cfg.to_string()).unwrap();
    d
}

/// What an attacker's USB stick carries: every protected key, and a harmless hostname.
fn hostile_drive() -> tempfile::TempDir {
    drive(&json!({
        "host": {"hostname": "usb", "ssh_authorized_keys": [EVIL_KEY]},
        "k3s": {"server_url": "https://203.0.113.66:6443", "server_urls": ["https://203.0.113.66:6443"]},
        "secrets": {"token": EVIL_TOKEN},
        "storage": {"osd_disks": []},
        "agent": {"write_files": [{"path": "/etc/systemd/system/evil.service", "content": "[Service]\n"}]}
    }))
}

fn run_ok(n: &Node, env: &[(&str, &str)]) {
    let out = n.run(env);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn warnings(n: &Node) -> String {
    n.status()["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The protected keys still hold the owner's values, and the drive's never reached a file.
fn assert_owner_keys(n: &Node, cfg: &Value) {
    let keys = cfg["host"]["ssh_authorized_keys"].as_array().unwrap();
    assert_eq!(
        n.read("root/.ssh/authorized_keys"),
        format!("{}\n", keys[0].as_str().unwrap())
    );
    assert!(n
        .source("host.ssh_authorized_keys")
        .starts_with("embed area"));
    assert_eq!(
        n.value("k3s/server_url"),
        cfg["k3s"]["server_url"].as_str().unwrap()
    );
    assert!(n.source("storage.osd_disks").starts_with("embed area"));
    assert!(!n.path("etc/systemd/system/evil.service").exists());
    assert_eq!(n.value("agent/config_drive"), "first-boot");
    let token = n.read("var/lib/kateskit/token");
    assert!(!token.contains("stolen"), "{token}");
}

#[test]
fn a_drive_on_a_stamped_node_sets_none_of_the_protected_keys_and_says_so() {
    let c = Cluster::new("rack");
    let cfg = c.render("a1");
    let n = Node::new();
    n.attach_osd_disks(&cfg);
    n.set_cmdline(NO_JOIN);
    let emb = embed_file(&cfg);
    let d = hostile_drive();
    run_ok(
        &n,
        &[
            ("KATESKIT_EMBED", emb.path().to_str().unwrap()),
            ("KATESKIT_CONFIG_DRIVE", d.path().to_str().unwrap()),
        ],
    );
    assert_owner_keys(&n, &cfg);
    // What is not protected still comes from the drive.
    assert_eq!(n.value("host/hostname"), "usb");
    assert!(n.source("host.hostname").starts_with("config drive"));
    let w = warnings(&n);
    assert!(
        w.contains(&format!(
            "config drive {} (KATESKIT_CONFIG_DRIVE)",
            d.path().display()
        )),
        "{w}"
    );
    for key in [
        "host.ssh_authorized_keys",
        "k3s.server_url",
        "k3s.server_urls",
        "secrets.token",
        "storage.osd_disks",
        "agent.write_files",
    ] {
        assert!(w.contains(key), "{key} not named in:\n{w}");
    }
    assert!(
        !w.contains("stolen") && !w.contains("AAAAIEvil"),
        "a value is shown:\n{w}"
    );
}

#[test]
fn a_nocloud_drive_on_a_stamped_node_writes_no_keys_and_no_files() {
    let c = Cluster::new("rack");
    let cfg = c.render("a1");
    let n = Node::new();
    n.attach_osd_disks(&cfg);
    n.set_cmdline(NO_JOIN);
    let emb = embed_file(&cfg);
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("user-data"),
        format!("#cloud-config\nssh_authorized_keys: [\"{EVIL_KEY}\"]\nwrite_files:\n- path: /etc/systemd/system/evil.service\n  content: x\n"),
    )
    .unwrap();
    run_ok(
        &n,
        &[
            ("KATESKIT_EMBED", emb.path().to_str().unwrap()),
            ("KATESKIT_CONFIG_DRIVE", d.path().to_str().unwrap()),
        ],
    );
    assert_owner_keys(&n, &cfg);
    let w = warnings(&n);
    assert!(
        w.contains("ignored agent.write_files, host.ssh_authorized_keys"),
        "{w}"
    );
}

#[test]
fn a_drive_on_an_unstamped_node_configures_it_on_the_first_boot() {
    let c = Cluster::new("rack");
    let cfg = c.render("a1");
    let n = Node::new();
    n.attach_osd_disks(&cfg);
    // A NodeConfig as image defaults (not an ImageDefaults document naming the node): unstamped.
    n.image_defaults(&cfg);
    n.set_cmdline(NO_JOIN);
    let d = drive(
        &json!({"host": {"hostname": "fromdrive", "ssh_authorized_keys": ["ssh-ed25519 AAAAdrive k"]},
                          "agent": {"write_files": [{"path": "/etc/motd", "content": "hi"}]}}),
    );
    run_ok(&n, &[("KATESKIT_CONFIG_DRIVE", d.path().to_str().unwrap())]);
    assert_eq!(n.value("host/hostname"), "fromdrive");
    assert_eq!(
        n.read("root/.ssh/authorized_keys"),
        "ssh-ed25519 AAAAdrive k\n"
    );
    assert_eq!(n.read("etc/motd"), "hi");
    assert!(!warnings(&n).contains("ignored"), "{}", warnings(&n));
}

/// A drive cannot widen its own trust: `agent.config_drive` is the owner's alone.
#[test]
fn a_drive_cannot_set_when_drives_are_read() {
    let c = Cluster::new("rack");
    let cfg = c.render("a1");
    let n = Node::new();
    n.attach_osd_disks(&cfg);
    n.image_defaults(&cfg);
    n.set_cmdline(NO_JOIN);
    let d =
        drive(&json!({"agent": {"config_drive": "always"}, "host": {"timezone": "Asia/Tokyo"}}));
    run_ok(&n, &[("KATESKIT_CONFIG_DRIVE", d.path().to_str().unwrap())]);
    assert_eq!(n.value("host/timezone"), "Asia/Tokyo");
    assert_eq!(n.value("agent/config_drive"), "first-boot");
    assert_eq!(n.source("agent.config_drive"), "default");
    let w = warnings(&n);
    assert!(
        w.contains("ignored agent.config_drive: only the owner's config"),
        "{w}"
    );
    // The owner's kernel command line may set it.
    n.set_cmdline(&format!("{NO_JOIN} kateskit.agent.config_drive=never"));
    run_ok(&n, &[("KATESKIT_CONFIG_DRIVE", d.path().to_str().unwrap())]);
    assert_eq!(n.value("agent/config_drive"), "never");
    assert!(
        warnings(&n).contains("ignored: the owner's config sets agent.config_drive = \"never\""),
        "{}",
        warnings(&n)
    );
}

#[test]
fn after_the_identity_is_recorded_a_drive_is_ignored() {
    let c = Cluster::new("rack");
    let cfg = c.render("a1");
    let n = Node::new();
    n.attach_osd_disks(&cfg);
    n.image_defaults(&cfg);
    n.set_cmdline(NO_JOIN);
    assert!(!n.path("var/lib/kateskit/identity.json").exists());
    run_ok(&n, &[]);
    let id: Value = serde_json::from_str(&n.read("var/lib/kateskit/identity.json")).unwrap();
    assert_eq!(
        id,
        json!({"version": 1, "node_name": "a1", "ca_hash": cfg["secrets"]["ca_hash"],
               "server_url": cfg["k3s"]["server_url"]})
    );
    let mode = std::fs::metadata(n.path("var/lib/kateskit/identity.json")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
    // Later boot: the drive is not read, even for what it could set on the first boot, and
    // its own `config_drive = "always"` does not count.
    let d = drive(
        &json!({"host": {"hostname": "later", "ssh_authorized_keys": ["ssh-ed25519 AAAAlater k"]},
                          "agent": {"config_drive": "always"}}),
    );
    run_ok(&n, &[("KATESKIT_CONFIG_DRIVE", d.path().to_str().unwrap())]);
    assert_eq!(n.value("host/hostname"), "a1");
    assert_ne!(
        n.read("root/.ssh/authorized_keys"),
        "ssh-ed25519 AAAAlater k\n"
    );
    assert!(!n.status()["sources"]
        .as_array()
        .unwrap()
        .contains(&json!("config drive")));
    let w = warnings(&n);
    assert!(
        w.contains(
            "(KATESKIT_CONFIG_DRIVE) ignored: config drives are read on the first boot only"
        ) && w.contains("identity.json"),
        "{w}"
    );
}

#[test]
fn config_drive_always_reads_it_but_never_the_protected_keys_of_a_stamped_node() {
    let c = Cluster::new("rack");
    let mut cfg = c.render("a1");
    let n = Node::new();
    n.attach_osd_disks(&cfg);
    n.set_cmdline(NO_JOIN);
    cfg["agent"] = json!({"config_drive": "always"});
    let emb = embed_file(&cfg);
    let e = emb.path().to_str().unwrap();
    run_ok(&n, &[("KATESKIT_EMBED", e)]);
    assert!(n.path("var/lib/kateskit/identity.json").exists());
    let d = hostile_drive();
    run_ok(
        &n,
        &[
            ("KATESKIT_EMBED", e),
            ("KATESKIT_CONFIG_DRIVE", d.path().to_str().unwrap()),
        ],
    );
    assert_eq!(n.value("host/hostname"), "usb");
    assert_eq!(n.value("agent/config_drive"), "always");
    let keys = cfg["host"]["ssh_authorized_keys"][0]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(n.read("root/.ssh/authorized_keys"), format!("{keys}\n"));
    assert!(!n.path("etc/systemd/system/evil.service").exists());
    assert!(!n.read("var/lib/kateskit/token").contains("stolen"));
    assert!(
        warnings(&n).contains("ignored agent.write_files"),
        "{}",
        warnings(&n)
    );
}

#[test]
fn config_for_another_clusters_ca_is_refused_until_the_identity_is_removed() {
    let (a, b) = (Cluster::new("rack"), Cluster::new("rack"));
    let (cfg_a, cfg_b) = (a.render("a1"), b.render("a1"));
    let n = Node::new();
    n.attach_osd_disks(&cfg_a);
    n.image_defaults(&cfg_a);
    n.set_cmdline(NO_JOIN);
    run_ok(&n, &[]);
    n.image_defaults(&cfg_b);
    let out = n.run(&[]);
    assert!(!out.status.success());
    let j = n.journal();
    assert_eq!(j["phases"][0]["outcome"], "failed");
    let d = j["phases"][0]["detail"].as_str().unwrap();
    let (ha, hb) = (
        cfg_a["secrets"]["ca_hash"].as_str().unwrap(),
        cfg_b["secrets"]["ca_hash"].as_str().unwrap(),
    );
    assert_ne!(ha, hb);
    assert!(d.contains(ha) && d.contains(hb), "{d}");
    assert!(d.contains("remove /var/lib/kateskit/identity.json"), "{d}");
    let token_b = cfg_b["secrets"]["token"].as_str().unwrap();
    let password = token_b.rsplit(':').next().unwrap();
    for text in [
        n.read("run/kateskit/status.json"),
        n.read("var/lib/kateskit/journal.json"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ] {
        assert!(!text.contains(password), "the token is shown:\n{text}");
    }
    // The node still holds the old cluster's token: nothing of the refused config applied.
    assert!(n.read("var/lib/kateskit/token").contains(ha));
    // Re-provisioning deliberately: remove the record.
    std::fs::remove_file(n.path("var/lib/kateskit/identity.json")).unwrap();
    run_ok(&n, &[]);
    assert!(n.read("var/lib/kateskit/identity.json").contains(hb));
}

/// A config_url whose URL and pin are the owner's is the owner's config; one named or pinned
/// only by a drive, or not pinned, sets no protected key on a stamped node.
#[test]
fn config_url_sets_protected_keys_only_when_the_owner_pinned_it() {
    let c = Cluster::new("rack");
    let cfg = c.render("a1");
    let body = cfg.to_string().into_bytes();
    let sha = hex::encode(Sha256::digest(&body));
    let hostile = json!({"host": {"hostname": "url", "ssh_authorized_keys": [EVIL_KEY]}})
        .to_string()
        .into_bytes();
    let hostile_sha = hex::encode(Sha256::digest(&hostile));
    let port = http_server(vec![("/a1.json", 200, body), ("/evil.json", 200, hostile)]);
    // Stamped with nothing but the URL and its pin: every key comes from the URL.
    let n = Node::new();
    n.attach_osd_disks(&cfg);
    n.set_cmdline(NO_JOIN);
    let f = tempfile::NamedTempFile::new().unwrap();
    let kargs = vec![
        format!("kateskit.config_url=http://127.0.0.1:{port}/a1.json"),
        format!("kateskit.config_sha256={sha}"),
    ];
    std::fs::write(
        f.path(),
        kateskit::image::embed::build_area(262144, None, &kargs).unwrap(),
    )
    .unwrap();
    run_ok(&n, &[("KATESKIT_EMBED", f.path().to_str().unwrap())]);
    assert!(n
        .source("host.ssh_authorized_keys")
        .starts_with("config_url"));
    let ca = cfg["secrets"]["ca_hash"].as_str().unwrap();
    assert!(n.read("var/lib/kateskit/token").contains(ca));
    // A stamped node and a config_url the drive names and pins, or the owner names unpinned.
    let url = format!("http://127.0.0.1:{port}/evil.json");
    let drive_pinned = drive(&json!({"agent": {"config_url": url, "config_sha256": hostile_sha}}));
    let emb = embed_file(&cfg);
    for (cmdline, drv) in [
        (NO_JOIN.to_string(), Some(&drive_pinned)),
        (format!("{NO_JOIN} kateskit.config_url={url}"), None),
    ] {
        let n = Node::new();
        n.attach_osd_disks(&cfg);
        n.set_cmdline(&cmdline);
        let mut env = vec![("KATESKIT_EMBED", emb.path().to_str().unwrap())];
        if let Some(d) = drv {
            env.push(("KATESKIT_CONFIG_DRIVE", d.path().to_str().unwrap()));
        }
        run_ok(&n, &env);
        assert_eq!(n.value("host/hostname"), "url", "{cmdline}");
        assert_owner_keys(&n, &cfg);
        let w = warnings(&n);
        assert!(
            w.contains(&format!(
                "config_url {url}: ignored host.ssh_authorized_keys"
            )),
            "{w}"
        );
        assert!(
            w.contains("agent.config_sha256 in the owner's config"),
            "{w}"
        );
    }
}

/// One partition in a fake sysfs under the node's root, with its device node holding `data`.
fn partition(n: &Node, disk: &str, part: &str, name: &str, data: &[u8]) -> std::path::PathBuf {
    let dir = n.path(&format!("sys/devices/virtual/block/{disk}/{part}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("partition"), "1\n").unwrap();
    std::fs::write(
        dir.join("uevent"),
        format!("MAJOR=259\nDEVNAME={part}\nDEVTYPE=partition\nPARTNAME={name}\n"),
    )
    .unwrap();
    let class = n.path("sys/class/block");
    std::fs::create_dir_all(&class).unwrap();
    std::os::unix::fs::symlink(&dir, class.join(part)).unwrap();
    n.write(&format!("dev/{part}"), data);
    dir
}

/// Makes `part` the device of the node's root filesystem, as `/sys/dev/block/MAJ:MIN` says.
fn root_is(n: &Node, part_dir: &Path) {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata(n.root.path()).unwrap().dev();
    let (maj, min) = (rustix::fs::major(dev), rustix::fs::minor(dev));
    let link = n.path(&format!("sys/dev/block/{maj}:{min}"));
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(part_dir, link).unwrap();
}

fn area(hostname: &str) -> Vec<u8> {
    let cfg = json!({"host": {"hostname": hostname}}).to_string();
    kateskit::image::embed::build_area(262144, Some(&cfg), &[]).unwrap()
}

/// udev's by-partlabel link, pointing where udev's last event left it.
fn partlabel_link(n: &Node, part: &str) {
    let l = n.path("dev/disk/by-partlabel/KATESKIT-EMBED");
    std::fs::create_dir_all(l.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(n.path(&format!("dev/{part}")), l).unwrap();
}

fn plain_node(c: &Cluster) -> Node {
    let cfg = c.render("a1");
    let n = Node::new();
    n.attach_osd_disks(&cfg);
    n.image_defaults(&cfg);
    n.set_cmdline(NO_JOIN);
    n
}

#[test]
fn of_two_embed_partitions_the_one_on_the_root_disk_is_read() {
    let c = Cluster::new("rack");
    let n = plain_node(&c);
    partition(&n, "kk0", "kk0p1", "KATESKIT-EMBED", &area("own"));
    let root = partition(&n, "kk0", "kk0p2", "root", b"");
    root_is(&n, &root);
    partition(&n, "kk1", "kk1p1", "KATESKIT-EMBED", &area("other"));
    partlabel_link(&n, "kk1p1");
    run_ok(&n, &[]);
    assert_eq!(n.value("host/hostname"), "own");
    let src = n.source("host.hostname");
    assert!(
        src.contains("kk0p1 (partition KATESKIT-EMBED, root disk kk0)"),
        "{src}"
    );
    let w = warnings(&n);
    assert!(
        w.contains("kk1p1 on kk1 ignored: not on the root disk kk0"),
        "{w}"
    );
}

#[test]
fn embed_partitions_none_of_them_on_the_root_disk_are_ignored() {
    let c = Cluster::new("rack");
    let n = plain_node(&c);
    let root = partition(&n, "kk0", "kk0p2", "root", b"");
    root_is(&n, &root);
    partition(&n, "kk1", "kk1p1", "KATESKIT-EMBED", &area("one"));
    partition(&n, "kk2", "kk2p1", "KATESKIT-EMBED", &area("two"));
    partlabel_link(&n, "kk2p1");
    run_ok(&n, &[]);
    assert_eq!(n.value("host/hostname"), "a1");
    assert!(n.source("host.hostname").starts_with("image defaults"));
    let w = warnings(&n);
    assert!(w.contains("several, and none on the root disk kk0"), "{w}");
    assert!(
        w.contains("kk1p1 on kk1") && w.contains("kk2p1 on kk2"),
        "{w}"
    );
}

/// A PARTUUID the image records names its embed partition, wherever the disk is; a recorded
/// PARTUUID no partition has means none is read.
#[test]
fn a_recorded_partuuid_names_the_embed_partition() {
    let c = Cluster::new("rack");
    let cfg = c.render("a1");
    let n = Node::new();
    n.attach_osd_disks(&cfg);
    n.set_cmdline(NO_JOIN);
    let uuid = "5d2a7c51-3e0b-4f6e-9a43-1b8f2c6d9e70";
    let defaults = |uuid: &str| {
        json!({"apiVersion": "kateskit.dev/v1", "kind": "ImageDefaults", "variant": "raw",
               "cluster": "rack", "node": "a1", "nodes": {"a1": cfg}, "embed_partuuid": uuid})
    };
    n.image_defaults(&defaults(uuid));
    partition(&n, "kk0", "kk0p1", "KATESKIT-EMBED", &area("rootdisk"));
    let root = partition(&n, "kk0", "kk0p2", "root", b"");
    root_is(&n, &root);
    partition(&n, "kk1", "kk1p1", "KATESKIT-EMBED", &area("recorded"));
    let link = n.path(&format!("dev/disk/by-partuuid/{uuid}"));
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(n.path("dev/kk1p1"), &link).unwrap();
    run_ok(&n, &[]);
    assert_eq!(n.value("host/hostname"), "recorded");
    assert!(
        n.source("host.hostname")
            .contains(&format!("PARTUUID {uuid}")),
        "{}",
        n.source("host.hostname")
    );
    let other = "00000000-1111-2222-3333-444444444444";
    n.image_defaults(&defaults(other));
    run_ok(&n, &[]);
    assert_eq!(n.value("host/hostname"), "a1");
    let w = warnings(&n);
    assert!(
        w.contains(&format!("the image records PARTUUID {other}")),
        "{w}"
    );
}

/// The rows of the markdown table under `### Trust table` in docs/agent.md.
fn doc_table() -> Vec<Vec<String>> {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/agent.md"))
        .unwrap();
    let sec = doc
        .split("### Trust table")
        .nth(1)
        .expect("docs/agent.md has a Trust table section");
    sec.lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// A key of each class, as the docs name them.
fn sample(class: KeyClass) -> Vec<&'static str> {
    match class {
        KeyClass::Protected => trust::PROTECTED.to_vec(),
        KeyClass::OwnerOnly => trust::OWNER_ONLY.to_vec(),
        KeyClass::Other => vec!["host.hostname", "node.labels", "agent.phone_home"],
    }
}

fn layer_with(path: &str) -> Layer {
    let mut v = json!("x");
    for seg in path.rsplit('.') {
        v = json!({ seg: v });
    }
    Layer::uniform(v, "test")
}

/// The table in docs/agent.md is the code's table, and filtering a layer of every source with
/// a key of every class at every boot keeps exactly what the docs' cell says.
#[test]
fn the_trust_table_in_the_docs_is_the_codes() {
    let rows = doc_table();
    assert_eq!(rows.len(), trust::TABLE.len(), "{rows:?}");
    let src_of = |s: &str| {
        Source::ALL
            .into_iter()
            .find(|x| x.name() == s)
            .unwrap_or_else(|| panic!("unknown source {s}"))
    };
    let class_of = |s: &str| {
        KeyClass::ALL
            .into_iter()
            .find(|x| x.name() == s)
            .unwrap_or_else(|| panic!("unknown keys {s}"))
    };
    for row in &rows {
        let (src, class) = (src_of(&row[0]), class_of(&row[1]));
        for (i, when) in When::ALL.into_iter().enumerate() {
            let cell = &row[2 + i];
            assert_eq!(
                trust::access(src, class, when).name(),
                cell,
                "{row:?} column {i}"
            );
            for key in sample(class) {
                for policy in [DrivePolicy::FirstBoot, DrivePolicy::Always] {
                    let (kept, dropped) = trust::filter(&layer_with(key), src, when, policy);
                    let want = match trust::access(src, class, when) {
                        Access::Yes => true,
                        Access::No => false,
                        Access::IfAlways => policy == DrivePolicy::Always,
                    };
                    assert_eq!(
                        dropped.is_empty(),
                        want,
                        "{row:?} {when:?} {policy:?} {key}"
                    );
                    assert_eq!(kept.is_empty(), !want, "{row:?} {when:?} {policy:?} {key}");
                }
            }
        }
    }
    for (src, class, _) in trust::TABLE {
        assert!(
            rows.iter()
                .any(|r| r[0] == src.name() && r[1] == class.name()),
            "{} {} missing from the docs",
            src.name(),
            class.name()
        );
    }
    // The protected keys the docs list are the code's.
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/agent.md"))
        .unwrap();
    let line = doc
        .lines()
        .find(|l| l.starts_with("- **Protected keys**:"))
        .expect("protected keys listed");
    let listed: Vec<&str> = line.split('`').skip(1).step_by(2).collect();
    assert_eq!(listed, trust::PROTECTED);
}
