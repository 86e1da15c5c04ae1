//! The agent on a real kernel: Debian's cloud kernel boots under QEMU (TCG) with a test
//! initramfs (busybox-static, the kateskit binary and its libraries, virtio/vfat modules), a
//! KATESKIT-labelled vfat config drive and a blank data disk declared as an OSD. The agent reads
//! the real /proc/cmdline, finds the drive by label (through libblkid in one boot, a by-label
//! link in the other), mounts it, and prints its status on the serial console for the test.
//!
//! Proves: discover (image defaults + config drive + kernel command line), validate, network
//! (against the real /sys/class/net), host, disks (by-id link of a real virtio disk), k3s-config,
//! start (through a systemctl stand-in script); join is skipped by configuration (no k3s here).

mod agent_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use agent_support::initramfs::{
    agent_root, kernel_dir, pack, section, sh, tools_present, vmlinuz, wait_for_guest, Qemu,
};
use agent_support::loopdev::sparse_digest;
use agent_support::Cluster;

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

/// The guest's /init: loads modules, creates by-id/by-label links, runs the agent, prints results.
const INIT: &str = include_str!("data/qemu-init.sh");

/// Builds the initramfs and disks, boots, returns the serial log. `with_osd`: attach the
/// data disk the config drive declares; `by_label_link`: the init creates
/// /dev/disk/by-label/KATESKIT (else the agent finds the drive through libblkid).
fn boot(with_osd: bool, by_label_link: bool) -> String {
    boot_with(with_osd, by_label_link, |_| ()).0
}

/// Like [`boot`], with a hook that prepares the OSD disk image before the guest starts; also
/// returns the digest of that image after the guest stopped.
fn boot_with(
    with_osd: bool,
    by_label_link: bool,
    prep_osd: impl FnOnce(&std::path::Path),
) -> (String, String) {
    let kdir = kernel_dir();
    let vmlinuz = vmlinuz(&kdir);
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("initramfs");
    agent_root(&root, &kdir, &MODULES, INIT);

    let cluster = Cluster::new("rack");
    let cfg = cluster.render("a1");
    std::fs::write(
        root.join("etc/kateskit/image.json"),
        serde_json::to_vec_pretty(&cfg).unwrap(),
    )
    .unwrap();
    let initrd = work.path().join("initrd.cpio");
    pack(&root, &initrd);

    let drive = work.path().join("drive.img");
    sh(Command::new("mkfs.vfat")
        .args(["-n", "KATESKIT", "-C"])
        .arg(&drive)
        .arg("4096"));
    let kj = work.path().join("kateskit.json");
    std::fs::write(&kj, r#"{"host": {"timezone": "Europe/Berlin"}, "storage": {"osd_disks": [{"by_id": "/dev/disk/by-id/virtio-KATESKIT_OSD_Q0"}]}}"#).unwrap();
    sh(Command::new("mcopy")
        .arg("-i")
        .arg(&drive)
        .arg(&kj)
        .arg("::kateskit.json"));
    // Sparse, and above Rook's 5 GB floor so the disk module accepts it when blank.
    let data = work.path().join("data.img");
    std::fs::File::create(&data)
        .unwrap()
        .set_len(6 << 30)
        .unwrap();
    prep_osd(&data);
    let serial = work.path().join("serial.log");

    let mut append = r#"console=ttyS0 panic=-1 quiet loglevel=1 no_timer_check kateskit.hostname=qemu-a1 kateskit.ssh_key="ssh-ed25519 AAAAqemu test@qemu" kateskit.agent.verify_join=false kateskit.node.labels[kateskit.dev/boot]=qemu"#.to_string();
    if by_label_link {
        append.push_str(" test.bylabel");
    }
    // An unclosed quote in an argument that is not the agent's: Linux boots with it, and so
    // must the agent (every test here expects the agent to get past the command line).
    append.push_str(r#" unrelated="unclosed quote"#);
    let mut cmd = Command::new("qemu-system-x86_64");
    if with_osd {
        cmd.arg("-drive")
            .arg(format!("file={},if=none,id=osd,format=raw", data.display()))
            .args(["-device", "virtio-blk-pci,drive=osd,serial=KATESKIT_OSD_Q0"]);
    }
    let child = cmd
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
        .args(["-append", &append])
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
    let log = wait_for_guest(Qemu(child), &serial, TIMEOUT);
    (log, sparse_digest(&data))
}

#[test]
fn agent_runs_its_ladder_on_a_real_kernel() {
    if !tools_present() {
        return;
    }
    let log = boot(true, false);
    assert!(
        log.contains("==RC 0=="),
        "agent failed in the guest:\n{log}"
    );
    let status: serde_json::Value = serde_json::from_str(section(&log, "STATUS")).unwrap();
    assert_eq!(status["ok"], true);
    assert_eq!(status["hostname"], "qemu-a1");
    assert_eq!(
        status["sources"],
        serde_json::json!(["image defaults", "config drive", "kernel command line"])
    );
    let outcomes: Vec<(String, String)> = status["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().into(),
                p["outcome"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        "discover",
        "validate",
        "network",
        "host",
        "disks",
        "k3s-config",
        "start",
        "join",
        "report",
    ]
    .iter()
    .map(|p| {
        (
            p.to_string(),
            if *p == "join" { "skipped" } else { "done" }.to_string(),
        )
    })
    .collect();
    assert_eq!(outcomes, want);
    let sources = section(&log, "SOURCES");
    assert!(
        sources.contains("host.timezone = config drive /dev/vd")
            && sources.contains("(label KATESKIT) kateskit.json"),
        "{sources}"
    );
    assert!(
        sources.contains(
            "host.hostname = kernel argument kateskit.hostname=qemu-a1 (from /proc/cmdline)"
        ),
        "{sources}"
    );
    assert!(sources.contains("host.ssh_authorized_keys = kernel argument kateskit.ssh_key=ssh-ed25519 AAAAqemu test@qemu"), "{sources}");
    assert!(
        sources.contains("node.name = image defaults /etc/kateskit/image.json"),
        "{sources}"
    );
    // The disks phase ran the disk module on the real virtio disk and journaled what it saw.
    let journal: serde_json::Value = serde_json::from_str(section(&log, "JOURNAL")).unwrap();
    let disk = &journal["disks"][0];
    assert_eq!(disk["by_id"], "/dev/disk/by-id/virtio-KATESKIT_OSD_Q0");
    assert_eq!(disk["before"]["canonical"], "/dev/vda", "{disk}");
    assert_eq!(disk["before"]["state"], "blank", "{disk}");
    assert_eq!(disk["action"], "accepted", "{disk}");
    assert_eq!(disk["after"]["state"], "blank", "{disk}");
    let dropin = section(&log, "DROPIN");
    assert!(
        dropin.contains("- kateskit.dev/boot=qemu") && dropin.contains("node-name: a1"),
        "{dropin}"
    );
    assert!(
        log.contains(
            "==SYSTEMCTL try-reload-or-restart systemd-networkd.service;try-restart systemd-timesyncd.service;--no-block restart k3s.service;=="
        ),
        "{log}"
    );
    assert!(log.contains("==HOSTNAME qemu-a1=="), "{log}");
    assert!(
        log.contains("==IP_FORWARD 1=="),
        "sysctl applied to the running kernel:\n{log}"
    );
}

/// A declared OSD disk that holds a filesystem is refused under the default policy: the disk
/// module runs on the real kernel, k3s is never started and the disk's bytes are unchanged.
#[test]
fn osd_disk_with_a_filesystem_fails_closed_on_a_real_kernel() {
    if !tools_present() {
        return;
    }
    let mut before = String::new();
    let (log, after) = boot_with(true, false, |data| {
        sh(Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "precious"])
            .arg(data));
        before = sparse_digest(data);
    });
    assert_eq!(before, after, "a refused disk keeps every byte");
    assert!(log.contains("==RC 1=="), "agent must fail:\n{log}");
    let status: serde_json::Value = serde_json::from_str(section(&log, "STATUS")).unwrap();
    assert_eq!(status["phase"], "disks");
    let err = status["errors"][0].as_str().unwrap();
    assert!(
        err.contains("/dev/disk/by-id/virtio-KATESKIT_OSD_Q0")
            && err.contains("ext4")
            && err.contains("nothing was written to any disk")
            && err.contains("wipe"),
        "{err}"
    );
    assert!(
        log.contains("==SYSTEMCTL try-reload-or-restart systemd-networkd.service;try-restart systemd-timesyncd.service;=="),
        "k3s never started:\n{log}"
    );
}

#[test]
fn missing_osd_disk_fails_closed_on_a_real_kernel() {
    if !tools_present() {
        return;
    }
    let log = boot(false, true);
    assert!(log.contains("==RC 1=="), "agent must fail:\n{log}");
    let status: serde_json::Value = serde_json::from_str(section(&log, "STATUS")).unwrap();
    assert_eq!(status["ok"], false);
    assert_eq!(status["phase"], "disks");
    let err = status["errors"][0].as_str().unwrap();
    assert!(
        err.contains("/dev/disk/by-id/virtio-KATESKIT_OSD_Q0")
            && err.contains("(label KATESKIT) kateskit.json)"),
        "{err}"
    );
    let outcome = |n: &str| {
        status["phases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == n)
            .unwrap()["outcome"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(outcome("k3s-config"), "not-run");
    assert_eq!(outcome("start"), "not-run");
    assert!(
        log.contains("==SYSTEMCTL try-reload-or-restart systemd-networkd.service;try-restart systemd-timesyncd.service;=="),
        "k3s never started:\n{log}"
    );
}
