//! Paths another user could plant: a `.NAME.tmp*` symlink beside a file root writes, a symlink
//! at the target itself, and config drive files that are symlinks (to a root-only file or to
//! `/dev/zero`). Each is refused or replaced, and whatever the symlink points at is untouched.

mod cluster_common;

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use kateskit::agent::ladder::drive;

use kateskit::agent::phases::host;
use kateskit::fsutil;

const VICTIM: &[u8] = b"root:*:19000:0:99999:7:::\n";

fn victim(dir: &Path) -> std::path::PathBuf {
    let v = dir.join("victim");
    std::fs::write(&v, VICTIM).unwrap();
    v
}

/// The temp names the writer used to pick (`.NAME.tmp<pid>`) plus a spread of others, all
/// symlinks to the victim: none may be opened.
fn plant_temp_links(dir: &Path, name: &str, victim: &Path) {
    symlink(
        victim,
        dir.join(format!(".{name}.tmp{}", std::process::id())),
    )
    .unwrap();
    for i in 0..64 {
        symlink(victim, dir.join(format!(".{name}.tmp{i}"))).unwrap();
    }
}

#[test]
fn a_planted_temp_name_symlink_is_never_written_through() {
    let d = tempfile::tempdir().unwrap();
    let v = victim(d.path());
    plant_temp_links(d.path(), "node.json", &v);
    let target = d.path().join("node.json");
    fsutil::write_atomic(&target, b"{\"ca_key\":\"...\"}\n", 0o600).unwrap();
    assert_eq!(
        std::fs::read(&v).unwrap(),
        VICTIM,
        "symlink target untouched"
    );
    let meta = std::fs::symlink_metadata(&target).unwrap();
    assert!(meta.file_type().is_file(), "target is a regular file");
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    assert_eq!(std::fs::read(&target).unwrap(), b"{\"ca_key\":\"...\"}\n");

    let fresh = d.path().join("fresh.json");
    plant_temp_links(d.path(), "fresh.json", &v);
    fsutil::write_new(&fresh, b"new\n", 0o644).unwrap();
    assert_eq!(std::fs::read(&v).unwrap(), VICTIM);
    assert_eq!(
        std::fs::symlink_metadata(&fresh)
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o644
    );
}

#[test]
fn a_symlink_at_the_target_is_replaced_not_followed() {
    let d = tempfile::tempdir().unwrap();
    let v = victim(d.path());
    // write_files into a user-owned directory: the user made the target a link to a root file.
    let target = d.path().join("registries.yaml");
    symlink(&v, &target).unwrap();
    assert!(host::write_if_changed(&target, b"mirrors: {}\n", 0o600).unwrap());
    assert_eq!(std::fs::read(&v).unwrap(), VICTIM);
    assert!(std::fs::symlink_metadata(&target)
        .unwrap()
        .file_type()
        .is_file());
    // Same bytes as the victim: still not "unchanged", since the link is never read through.
    let other = d.path().join("other");
    symlink(&v, &other).unwrap();
    assert!(host::write_if_changed(&other, VICTIM, 0o644).unwrap());
    assert!(std::fs::symlink_metadata(&other)
        .unwrap()
        .file_type()
        .is_file());
}

#[test]
fn directories_the_tool_did_not_create_keep_their_mode() {
    let d = tempfile::tempdir().unwrap();
    let shared = d.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    fsutil::create_dir_mode(&shared, 0o700).unwrap();
    let mode = std::fs::metadata(&shared).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o1777, "an existing directory is not chmod-ed");
    let new = shared.join("a/b");
    fsutil::create_dir_mode(&new, 0o700).unwrap();
    let mode = std::fs::metadata(&new).unwrap().permissions().mode() & 0o7777;
    assert_eq!(
        mode, 0o700,
        "a directory created here gets exactly the mode"
    );
}

#[test]
fn a_drive_file_symlinked_outside_the_drive_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let outside = d.path().join("outside.json");
    std::fs::write(&outside, br#"{"host":{"hostname":"planted"}}"#).unwrap();
    let drive_dir = d.path().join("drive");
    std::fs::create_dir(&drive_dir).unwrap();
    symlink(&outside, drive_dir.join("kateskit.json")).unwrap();
    let e = drive::read_dir(&drive_dir, "config drive test").unwrap_err();
    assert!(
        e.contains("kateskit.json") && e.contains("is a symbolic link"),
        "{e}"
    );
    // NoCloud files follow the same rule.
    let nocloud = d.path().join("nocloud");
    std::fs::create_dir(&nocloud).unwrap();
    symlink("/etc/hostname", nocloud.join("meta-data")).unwrap();
    let e = drive::read_dir(&nocloud, "config drive test").unwrap_err();
    assert!(
        e.contains("meta-data") && e.contains("symbolic link"),
        "{e}"
    );
}

#[test]
fn a_drive_file_linked_to_dev_zero_is_a_clear_error_not_a_hang() {
    let d = tempfile::tempdir().unwrap();
    symlink("/dev/zero", d.path().join("user-data")).unwrap();
    let dir = d.path().to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(drive::read_dir(&dir, "config drive test"));
    });
    let r = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("reading the drive finished within 5 s");
    let e = r.unwrap_err();
    assert!(
        e.contains("user-data") && e.contains("symbolic link"),
        "{e}"
    );
}

#[test]
fn an_oversized_drive_file_is_refused_before_parsing() {
    let d = tempfile::tempdir().unwrap();
    let big = vec![b' '; fsutil::DRIVE_FILE_MAX as usize + 1];
    std::fs::write(d.path().join("kateskit.json"), big).unwrap();
    let e = drive::read_dir(d.path(), "config drive test").unwrap_err();
    assert!(
        e.contains("kateskit.json")
            && e.contains(&format!("{}-byte limit", fsutil::DRIVE_FILE_MAX)),
        "{e}"
    );
}

/// `kubeconfig --merge PATH` where PATH is a link to a root-only file: refused, nothing read
/// through the link and nothing written.
#[test]
fn kubeconfig_merge_refuses_a_symlinked_kubeconfig() {
    let dir = cluster_common::example_cluster("homelab");
    let v = victim(dir.path());
    let link = dir.path().join("config");
    symlink(&v, &link).unwrap();
    let out = cluster_common::kateskit()
        .arg("kubeconfig")
        .arg(dir.path())
        .arg("--merge")
        .arg(&link)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is a symbolic link"), "{err}");
    assert!(
        !err.contains("root:*"),
        "the link target's bytes are not shown: {err}"
    );
    assert_eq!(std::fs::read(&v).unwrap(), VICTIM);
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
}
