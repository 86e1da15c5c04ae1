//! `kateskit disk inspect` on real loop devices: one human line per disk, and JSON that scripts
//! can read. Runs as root.

mod common;

use assert_cmd::Command;
use common::{lock, loop_devices_available, run, LoopDev};

const GIB: u64 = 1 << 30;

#[test]
fn inspect_prints_lines_and_json() {
    if !loop_devices_available() {
        return;
    }
    let _l = lock();
    let blank = LoopDev::new(6 * GIB);
    let ext4 = LoopDev::new(6 * GIB);
    run("mkfs.ext4", &["-q", "-F", "-L", "scratch", ext4.path()]);
    let small = LoopDev::new(GIB);

    let out = Command::cargo_bin("kateskit")
        .unwrap()
        .args(["disk", "inspect", blank.path(), ext4.path()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with(blank.path()) && lines[0].ends_with(": blank"),
        "{text}"
    );
    assert!(
        lines[1].contains("ext4 filesystem labelled \"scratch\""),
        "{text}"
    );

    let out = Command::cargo_bin("kateskit")
        .unwrap()
        .args([
            "disk",
            "inspect",
            "--json",
            "--ceph-fsid",
            "6a0c1e62-3c1b-4e7a-9a52-0c8f3f1e2d11",
            small.path(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["state"], "too-small");
    assert_eq!(v[0]["content"]["state"], "blank");
    assert_eq!(v[0]["size"], GIB);
    assert_eq!(v[0]["blockers"][0]["kind"], "too-small");
}

#[test]
fn inspect_names_a_missing_device() {
    let out = Command::cargo_bin("kateskit")
        .unwrap()
        .args(["disk", "inspect", "/dev/disk/by-id/kateskit-no-such-disk"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/dev/disk/by-id/kateskit-no-such-disk"),
        "{err}"
    );
}

/// `disk prepare` with a real NodeConfig rendered from examples/rack for node a1, whose disks
/// are `A1_0` (wipe = never) and `A1_1` (wipe = if-foreign), linked in a stand-in /dev.
#[test]
fn prepare_follows_the_node_config() {
    if !loop_devices_available() {
        return;
    }
    let _l = lock();
    let dir = tempfile::tempdir().unwrap();
    let cluster = dir.path().join("cluster");
    let kk = || Command::cargo_bin("kateskit").unwrap();
    kk().args(["cluster", "init"])
        .arg(&cluster)
        .assert()
        .success();
    let rack = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/rack/cluster.toml");
    std::fs::copy(rack, cluster.join("cluster.toml")).unwrap();
    let cfg = dir.path().join("a1.json");
    kk().args(["cluster", "render"])
        .arg(&cluster)
        .args(["--node", "a1", "-o"])
        .arg(&cfg)
        .assert()
        .success();

    let (a0, a1) = (LoopDev::new(6 * GIB), LoopDev::new(6 * GIB));
    run("sgdisk", &["-n", "1:0:+100M", a1.path()]);
    let by_id = dir.path().join("dev/disk/by-id");
    std::fs::create_dir_all(&by_id).unwrap();
    std::os::unix::fs::symlink(&a0.dev, by_id.join("ata-KATESKIT_OSD_A1_0")).unwrap();
    std::os::unix::fs::symlink(&a1.dev, by_id.join("ata-KATESKIT_OSD_A1_1")).unwrap();
    let prepare = || {
        let mut c = kk();
        c.args(["disk", "prepare", "--json", "--node-config"])
            .arg(&cfg)
            .arg("--dev-dir")
            .arg(dir.path().join("dev"));
        c.output().unwrap()
    };

    // A1_0 holds a filesystem under wipe = never: everything is refused, A1_1 keeps its table.
    run("mkfs.ext4", &["-q", "-F", a0.path()]);
    let before = a1.digest();
    let out = prepare();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ata-KATESKIT_OSD_A1_0") && err.contains("nothing was written"),
        "{err}"
    );
    assert_eq!(
        a1.digest(),
        before,
        "A1_1 was written despite the refusal of A1_0"
    );

    // With A1_0 blank, A1_0 is accepted and A1_1's empty table is wiped.
    run("wipefs", &["-a", "-q", a0.path()]);
    let out = prepare();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["by_id"], "/dev/disk/by-id/ata-KATESKIT_OSD_A1_0");
    assert_eq!(
        (v[0]["action"].as_str(), v[0]["after"]["state"].as_str()),
        (Some("accepted"), Some("blank"))
    );
    assert_eq!(v[1]["before"]["state"], "partition-table");
    assert_eq!(
        (v[1]["action"].as_str(), v[1]["after"]["state"].as_str()),
        (Some("wiped"), Some("blank"))
    );
}
