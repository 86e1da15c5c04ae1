//! A cloud-init NoCloud drive on a real kernel: Debian's cloud kernel boots under QEMU (TCG)
//! with the test initramfs and a vfat drive labelled CIDATA holding an FQDN host name,
//! write_files with `gzip` (`!!binary`) and `gz+b64` content, and a static network-config v2
//! matching the virtio NIC's MAC. The agent finds the drive through libblkid, maps it, and
//! applies all three: host name, files, and the networkd file with address, gateway and DNS.

mod agent_support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use agent_support::initramfs::{
    agent_root, kernel_dir, pack, section, sh, tools_present, vmlinuz, wait_for_guest, Qemu,
};
use agent_support::Cluster;
use base64::Engine;

const TIMEOUT: Duration = Duration::from_secs(240);
const MODULES: [&str; 8] = [
    "virtio_pci",
    "virtio_blk",
    "virtio_net",
    "fat",
    "vfat",
    "nls_cp437",
    "nls_ascii",
    "nls_utf8",
];
const INIT: &str = include_str!("data/qemu-nocloud-init.sh");
const MAC: &str = "52:54:00:0b:00:07";

fn gz(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// The drive's three files.
fn drive_files() -> [(&'static str, String); 3] {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    [
        ("meta-data", "instance-id: iid-qemu-1\nlocal-hostname: qemu-n1.example.org\n".into()),
        (
            "user-data",
            format!(
                "#cloud-config\nwrite_files:\n- path: /etc/nocloud/gzip.txt\n  encoding: gzip\n  content: !!binary |\n    {}\n- path: /etc/nocloud/gzb64.txt\n  encoding: gz+b64\n  permissions: '0600'\n  content: {}\n",
                b64(&gz(b"gzip via binary\n")),
                b64(&gz(b"gzip via base64\n"))
            ),
        ),
        (
            "network-config",
            format!("version: 2\nethernets:\n  uplink:\n    match:\n      macaddress: '{MAC}'\n    addresses: [192.0.2.50/24]\n    gateway4: 192.0.2.1\n    nameservers:\n      addresses: [192.0.2.53]\n      search: [example.org]\n"),
        ),
    ]
}

fn boot() -> String {
    let kdir = kernel_dir();
    let vmlinuz = vmlinuz(&kdir);
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("initramfs");
    agent_root(&root, &kdir, &MODULES, INIT);
    let cluster = Cluster::new("rack");
    // No OSD disks here: this boot is about the drive.
    let mut cfg = cluster.render("a1");
    cfg["storage"]["osd_disks"] = serde_json::json!([]);
    std::fs::write(
        root.join("etc/kateskit/image.json"),
        serde_json::to_vec_pretty(&cfg).unwrap(),
    )
    .unwrap();
    // A flat config tree on the root (the owner's config.d), read on a real kernel's tmpfs.
    let zone = root.join("etc/kateskit/config.d/node/labels/topology.kubernetes.io%2Fzone");
    std::fs::create_dir_all(zone.parent().unwrap()).unwrap();
    std::fs::write(&zone, "qemu-zone\n").unwrap();
    let initrd = work.path().join("initrd.cpio");
    pack(&root, &initrd);

    let drive = work.path().join("cidata.img");
    sh(Command::new("mkfs.vfat")
        .args(["-n", "CIDATA", "-C"])
        .arg(&drive)
        .arg("4096"));
    for (name, body) in drive_files() {
        let f = work.path().join(name);
        std::fs::write(&f, body).unwrap();
        sh(Command::new("mcopy")
            .arg("-i")
            .arg(&drive)
            .arg(&f)
            .arg(format!("::{name}")));
    }
    // And one on the drive (`config/`), read through openat2 on the real vfat driver.
    let tree = work.path().join("config");
    std::fs::create_dir_all(tree.join("agent")).unwrap();
    std::fs::write(tree.join("agent/ready_timeout_s"), "300\n").unwrap();
    sh(Command::new("mcopy")
        .args(["-s", "-i"])
        .arg(&drive)
        .arg(&tree)
        .arg("::config"));
    let serial = work.path().join("serial.log");
    let append =
        "console=ttyS0 panic=-1 quiet loglevel=1 no_timer_check kateskit.agent.verify_join=false";
    let child = Command::new("qemu-system-x86_64")
        .args([
            "-accel",
            "tcg",
            "-m",
            "768",
            "-no-reboot",
            "-display",
            "none",
            "-monitor",
            "none",
        ])
        .arg("-kernel")
        .arg(&vmlinuz)
        .arg("-initrd")
        .arg(&initrd)
        .args(["-append", append])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .arg("-drive")
        .arg(format!(
            "file={},if=none,id=cfg,format=raw",
            drive.display()
        ))
        .args(["-device", "virtio-blk-pci,drive=cfg,serial=CIDATA"])
        .args(["-netdev", "user,id=n0,restrict=on", "-device"])
        .arg(format!("virtio-net-pci,netdev=n0,mac={MAC}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qemu starts");
    wait_for_guest(Qemu(child), &serial, TIMEOUT)
}

#[test]
fn cidata_drive_applies_hostname_files_and_network_on_a_real_kernel() {
    if !tools_present() {
        return;
    }
    let log = boot();
    assert!(
        log.contains("==RC 0=="),
        "agent failed in the guest:\n{log}"
    );
    let status: serde_json::Value = serde_json::from_str(section(&log, "STATUS")).unwrap();
    assert_eq!(status["ok"], true, "{status}");
    assert_eq!(status["hostname"], "qemu-n1");
    assert_eq!(status["addresses"], serde_json::json!(["192.0.2.50/24"]));
    assert!(log.contains("==HOSTNAME qemu-n1=="), "{log}");
    let sources = section(&log, "SOURCES");
    assert!(
        sources.contains("host.hostname = config drive /dev/vd")
            && sources.contains("(label CIDATA) meta-data local-hostname"),
        "{sources}"
    );
    assert!(
        section(&log, "HOSTS").contains("127.0.1.1 qemu-n1.example.org qemu-n1"),
        "{log}"
    );
    assert!(
        sources.contains(
            "node.labels[topology.kubernetes.io/zone] = /etc/kateskit/config.d/node/labels/topology.kubernetes.io%2Fzone"
        ) && sources.contains("(label CIDATA) config/agent/ready_timeout_s"),
        "{sources}"
    );
    assert_eq!(section(&log, "GZIP").trim(), "gzip via binary");
    assert_eq!(section(&log, "GZB64").trim(), "gzip via base64");
    let net_start = log
        .find("==FILE /etc/systemd/network/10-kateskit-nc-00-uplink.network")
        .unwrap_or_else(|| panic!("no networkd file:\n{log}"));
    let net = &log[net_start..log.find("==NETWORK-END==").unwrap()];
    for want in [
        &format!("MACAddress={MAC}") as &str,
        "Address=192.0.2.50/24",
        "Gateway=192.0.2.1",
        "DNS=192.0.2.53",
        "Domains=example.org",
    ] {
        assert!(net.contains(want), "{want} missing from:\n{net}");
    }
    assert!(!log.contains("99-kateskit-dhcp.network"), "{log}");
    assert!(!log.contains("10-kateskit-static.network"), "{log}");
    assert!(
        log.contains("try-reload-or-restart systemd-networkd.service"),
        "{log}"
    );
}
