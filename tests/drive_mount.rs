//! Config drives on real loop devices, mounted by the agent's own code: vfat is read, ext4 is
//! never mounted (its kernel driver is a large attack surface for a stick anyone can make),
//! and a Rock Ridge symlink on an ISO drive is refused instead of followed to a host file.

mod common;

use std::path::Path;
use std::process::Command;

use common::{lock, loop_devices_available, run, LoopDev};
use kateskit::agent::ladder::drive;
use kateskit::agent::AgentEnv;

fn tool(name: &str) -> bool {
    let ok = Command::new(name).arg("--help").output().is_ok();
    if !ok {
        eprintln!("skipping: {name} is not installed");
    }
    ok
}

/// True when the running kernel can mount `fs` (loading its module if needed).
fn kernel_has(fs: &str) -> bool {
    let module = if fs == "iso9660" { "isofs" } else { fs };
    let _ = Command::new("modprobe").arg(module).output();
    let known = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    let ok = known
        .lines()
        .any(|l| l.split_whitespace().last() == Some(fs));
    if !ok {
        eprintln!("skipping: this kernel cannot mount {fs} (not in /proc/filesystems)");
    }
    ok
}

/// An agent environment whose `/dev/disk/by-label/KATESKIT` is `dev`.
fn env_with_drive(root: &Path, dev: &Path) -> AgentEnv {
    let mut env = AgentEnv::from_env();
    env.root = root.to_path_buf();
    env.dev_dir = root.join("dev");
    let by_label = env.dev_dir.join("disk/by-label");
    std::fs::create_dir_all(&by_label).unwrap();
    std::os::unix::fs::symlink(dev, by_label.join("KATESKIT")).unwrap();
    env
}

fn mounted_under(dir: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let d = dir.to_string_lossy();
    mounts.lines().any(|l| l.contains(d.as_ref()))
}

const JSON: &str = r#"{"host":{"hostname":"from-drive"}}"#;

#[test]
fn a_vfat_drive_is_read_and_unmounted() {
    if !loop_devices_available() || !kernel_has("vfat") || !tool("mkfs.vfat") || !tool("mcopy") {
        return;
    }
    let _g = lock();
    let lo = LoopDev::new(16 << 20);
    run("mkfs.vfat", &["-n", "KATESKIT", lo.path()]);
    let root = tempfile::tempdir().unwrap();
    let src = root.path().join("kateskit.json");
    std::fs::write(&src, JSON).unwrap();
    run(
        "mcopy",
        &["-i", lo.path(), src.to_str().unwrap(), "::kateskit.json"],
    );
    let env = env_with_drive(root.path(), &lo.dev);
    let (layer, _) = drive::read(&env, &drive::locate(&env).expect("the drive is found")).unwrap();
    assert_eq!(layer.unwrap().tree["host"]["hostname"], "from-drive");
    assert!(!mounted_under(root.path()), "drive unmounted after reading");
}

#[test]
fn an_ext4_drive_is_not_mounted() {
    if !loop_devices_available() || !tool("mkfs.ext4") {
        return;
    }
    let _g = lock();
    let lo = LoopDev::new(16 << 20);
    let root = tempfile::tempdir().unwrap();
    let content = root.path().join("content");
    std::fs::create_dir(&content).unwrap();
    std::fs::write(content.join("kateskit.json"), JSON).unwrap();
    run(
        "mkfs.ext4",
        &[
            "-q",
            "-F",
            "-L",
            "KATESKIT",
            "-d",
            content.to_str().unwrap(),
            lo.path(),
        ],
    );
    let env = env_with_drive(root.path(), &lo.dev);
    let e = drive::read(&env, &drive::locate(&env).expect("the drive is found")).unwrap_err();
    assert!(
        e.contains("cannot mount read-only as vfat/iso9660")
            && e.contains("reformat it as vfat or iso9660"),
        "{e}"
    );
    assert!(!mounted_under(root.path()));
}

#[test]
fn a_rock_ridge_symlink_on_an_iso_drive_is_refused() {
    if !loop_devices_available() || !kernel_has("iso9660") || !tool("xorriso") {
        return;
    }
    let _g = lock();
    let root = tempfile::tempdir().unwrap();
    // A root-only file on the host that the planted link points at.
    let planted = root.path().join("planted.json");
    std::fs::write(&planted, JSON).unwrap();
    let content = root.path().join("content");
    std::fs::create_dir(&content).unwrap();
    std::os::unix::fs::symlink(&planted, content.join("kateskit.json")).unwrap();
    let iso = root.path().join("drive.iso");
    run(
        "xorriso",
        &[
            "-as",
            "mkisofs",
            "-quiet",
            "-R",
            "-V",
            "KATESKIT",
            "-o",
            iso.to_str().unwrap(),
            content.to_str().unwrap(),
        ],
    );
    let bytes = std::fs::read(&iso).unwrap();
    let lo = LoopDev::new(bytes.len().next_multiple_of(1 << 20) as u64);
    std::fs::write(&lo.backing, &bytes).unwrap();
    let env = env_with_drive(root.path(), &lo.dev);
    let e = drive::read(&env, &drive::locate(&env).expect("the drive is found")).unwrap_err();
    assert!(
        e.contains("kateskit.json") && e.contains("symbolic link"),
        "{e}"
    );
    assert!(!mounted_under(root.path()));
}

#[test]
fn a_flat_config_tree_on_a_vfat_drive_is_read_typed() {
    if !loop_devices_available() || !kernel_has("vfat") || !tool("mkfs.vfat") || !tool("mcopy") {
        return;
    }
    let _g = lock();
    let lo = LoopDev::new(16 << 20);
    run("mkfs.vfat", &["-n", "KATESKIT", lo.path()]);
    let root = tempfile::tempdir().unwrap();
    let content = root.path().join("config");
    for (rel, text) in [
        ("host/hostname", "300\n"),
        ("agent/ready_timeout_s", "300\n"),
        ("node/labels/topology.kubernetes.io%2Fzone", "z1\n"),
    ] {
        let p = content.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    run(
        "mcopy",
        &["-s", "-i", lo.path(), content.to_str().unwrap(), "::config"],
    );
    let env = env_with_drive(root.path(), &lo.dev);
    let found = drive::locate(&env).expect("the drive is found");
    let (layer, _) = drive::read(&env, &found).unwrap();
    let layer = layer.unwrap();
    assert_eq!(
        layer.tree,
        serde_json::json!({
            "host": {"hostname": "300"},
            "agent": {"ready_timeout_s": 300},
            "node": {"labels": {"topology.kubernetes.io/zone": "z1"}}
        })
    );
    assert_eq!(
        layer.origin["host.hostname"],
        format!("{} config/host/hostname", found.desc())
    );
    assert!(!mounted_under(root.path()), "drive unmounted after reading");
}

#[test]
fn a_rock_ridge_symlink_in_a_drives_config_tree_is_refused() {
    if !loop_devices_available() || !kernel_has("iso9660") || !tool("xorriso") {
        return;
    }
    let _g = lock();
    let root = tempfile::tempdir().unwrap();
    let planted = root.path().join("planted");
    std::fs::write(&planted, "host-secret\n").unwrap();
    let content = root.path().join("content");
    std::fs::create_dir_all(content.join("config/host")).unwrap();
    std::os::unix::fs::symlink(&planted, content.join("config/host/hostname")).unwrap();
    let iso = root.path().join("drive.iso");
    run(
        "xorriso",
        &[
            "-as",
            "mkisofs",
            "-quiet",
            "-R",
            "-V",
            "KATESKIT",
            "-o",
            iso.to_str().unwrap(),
            content.to_str().unwrap(),
        ],
    );
    let bytes = std::fs::read(&iso).unwrap();
    let lo = LoopDev::new(bytes.len().next_multiple_of(1 << 20) as u64);
    std::fs::write(&lo.backing, &bytes).unwrap();
    let env = env_with_drive(root.path(), &lo.dev);
    let e = drive::read(&env, &drive::locate(&env).expect("the drive is found")).unwrap_err();
    assert!(
        e.contains("config/host/hostname") && e.contains("symbolic link"),
        "{e}"
    );
    assert!(!e.contains("host-secret"), "{e}");
    assert!(!mounted_under(root.path()));
}
