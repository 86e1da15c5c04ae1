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
