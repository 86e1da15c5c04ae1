//! A k3os config drive on a real kernel: Debian's cloud kernel boots under QEMU (TCG) with the
//! test initramfs of tests/qemu_agent.rs and a CIDATA-labelled vfat drive holding only a k3os
//! `config.yaml`. The agent finds the drive through libblkid, maps the config (hostname, SSH
//! key, a gzip+base64 write_files entry, labels, sysctls) with `k3os.*` kernel arguments beside
//! it, and reports the keys that have no equivalent in its status.

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
const INIT: &str = include_str!("data/qemu-init.sh");

fn config_yaml() -> String {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"k3os was here\n").unwrap();
    let motd = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
    format!(
        "hostname: k3os-q1\nssh_authorized_keys:\n- ssh-ed25519 AAAAk3osq k3os@qemu\nwrite_files:\n- path: /etc/motd\n  encoding: gz+b64\n  content: {motd}\n  permissions: '0644'\n- path: /etc/local.d/boot.start\n  content: echo hi\nrun_cmd:\n- echo hi\nk3os:\n  password: rancher\n  dns_nameservers: [1.1.1.1]\n  wifi:\n  - name: lab\n    passphrase: wifi-pass\n  sysctl:\n    net.ipv4.ip_forward: \"1\"\n  labels:\n    region: qemu\n"
    )
}

/// Boots with the k3os drive; returns the serial log.
fn boot() -> String {
    let kdir = kernel_dir();
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("initramfs");
    agent_root(&root, &kdir, &MODULES, INIT);
    // No OSD disks here: this test is about the config drive.
    let mut cfg = Cluster::new("rack").render("a1");
    cfg["storage"]["osd_disks"] = serde_json::json!([]);
    std::fs::write(
        root.join("etc/kateskit/image.json"),
        serde_json::to_vec_pretty(&cfg).unwrap(),
    )
    .unwrap();
    let initrd = work.path().join("initrd.cpio");
    pack(&root, &initrd);

    let drive = work.path().join("drive.img");
    sh(Command::new("mkfs.vfat")
        .args(["-n", "CIDATA", "-C"])
        .arg(&drive)
        .arg("4096"));
    let yaml = work.path().join("config.yaml");
    std::fs::write(&yaml, config_yaml()).unwrap();
    sh(Command::new("mcopy")
        .arg("-i")
        .arg(&drive)
        .arg(&yaml)
        .arg("::config.yaml"));
    let serial = work.path().join("serial.log");
    let append = "console=ttyS0 panic=-1 quiet loglevel=1 no_timer_check kateskit.agent.verify_join=false k3os.labels[boot]=qemu k3os.mode=live";
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
        .arg(vmlinuz(&kdir))
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
        .args(["-device", "virtio-blk-pci,drive=cfg,serial=KATESKIT_CFG"])
        .args([
            "-netdev",
            "user,id=n0,restrict=on",
            "-device",
            "virtio-net-pci,netdev=n0,mac=52:54:00:0b:00:01",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qemu starts");
    wait_for_guest(Qemu(child), &serial, TIMEOUT)
}

#[test]
fn a_k3os_config_drive_maps_and_reports_its_unmapped_keys() {
    if !tools_present() {
        return;
    }
    let log = boot();
    assert!(
        log.contains("==RC 0=="),
        "agent failed in the guest:\n{log}"
    );
    let status: serde_json::Value = serde_json::from_str(section(&log, "STATUS")).unwrap();
    assert_eq!(status["hostname"], "k3os-q1");
    let sources = section(&log, "SOURCES");
    assert!(
        sources.contains("host.hostname = config drive /dev/vd")
            && sources.contains("(label CIDATA) config.yaml (k3os config) hostname"),
        "{sources}"
    );
    assert!(
        sources.contains(
            "node.labels.boot = kernel command line /proc/cmdline (k3os.* arguments) k3os.labels"
        ),
        "{sources}"
    );
    assert!(log.contains("==HOSTNAME k3os-q1=="), "{log}");
    assert!(log.contains("==IP_FORWARD 1=="), "{log}");
    // Labels from the drive and the kernel arguments merge key by key.
    let dropin = section(&log, "DROPIN");
    assert!(
        dropin.contains("- boot=qemu") && dropin.contains("- region=qemu"),
        "{dropin}"
    );
    let warnings: Vec<&str> = status["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    for key in [
        "k3os.mode",
        "k3os.password",
        "k3os.wifi lab",
        "k3os.dns_nameservers",
        "run_cmd",
        "write_files[1] /etc/local.d/boot.start",
    ] {
        assert!(
            warnings
                .iter()
                .any(|w| w.contains(&format!("k3os key {key} not applied"))),
            "{key} not reported in {warnings:#?}"
        );
    }
    let shown = section(&log, "STATUS");
    assert!(
        !shown.contains("wifi-pass") && !shown.contains("rancher"),
        "{shown}"
    );
}
