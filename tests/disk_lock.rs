//! Every whole-disk writer locks before it writes: a device under another process's OFD write
//! lock (ceph-osd's guard) or `flock` (systemd's convention) is refused with the holder named,
//! and a link that moves between resolving and opening is refused. Runs as root on loop devices.

mod common;
mod image_common;

use common::holder::{serve_if_asked, Holder};
use common::{lock, loop_devices_available, LoopDev};
use image_common::{fixture_copy, kateskit};
use kateskit::disk::{open_for_write, open_resolved, resolve, DiskError};

const MIB: u64 = 1 << 20;

/// The helper process of [`Holder::ofd`]; a no-op in a normal test run.
#[test]
fn lock_holder_helper() {
    serve_if_asked();
}

fn assert_locked(err: DiskError, holder: &Holder, what: &str) {
    let text = err.to_string();
    assert!(matches!(err, DiskError::Locked { .. }), "{text}");
    assert!(text.contains(&format!("(pid {})", holder.pid())), "{text}");
    assert!(text.contains(what), "{text}");
}

#[test]
fn refuses_a_device_under_an_ofd_write_lock_and_names_the_holder() {
    if !loop_devices_available() {
        return;
    }
    let _l = lock();
    let dir = tempfile::tempdir().unwrap();
    let img = fixture_copy(dir.path(), "gpt.img.zst");
    let dev = LoopDev::new(16 * MIB);
    let before = dev.digest();
    let holder = Holder::ofd(dev.path());
    assert_locked(
        open_for_write(&dev.dev, 0).unwrap_err(),
        &holder,
        "with an OFD write lock",
    );
    let out = kateskit()
        .args(["flash", "--yes"])
        .arg(&img)
        .arg(dev.path())
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains(&format!("(pid {}) with an OFD write lock", holder.pid())),
        "{err}"
    );
    assert_eq!(dev.digest(), before, "refused flash changed the device");
    drop(holder);
    open_for_write(&dev.dev, 0).expect("free again once the holder is gone");
}

#[test]
fn refuses_a_device_under_flock_and_names_the_holder() {
    if !loop_devices_available() {
        return;
    }
    let _l = lock();
    let dir = tempfile::tempdir().unwrap();
    let img = fixture_copy(dir.path(), "gpt.img.zst");
    let dev = LoopDev::new(16 * MIB);
    let before = dev.digest();
    let holder = Holder::flock(dev.path());
    assert_locked(
        open_for_write(&dev.dev, 0).unwrap_err(),
        &holder,
        "with an exclusive flock",
    );
    let out = kateskit()
        .args(["flash", "--yes"])
        .arg(&img)
        .arg(dev.path())
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("with an exclusive flock"), "{err}");
    assert_eq!(dev.digest(), before, "refused flash changed the device");
}

#[test]
fn refuses_a_link_that_moved_between_resolving_and_opening() {
    if !loop_devices_available() {
        return;
    }
    let _l = lock();
    let (a, b) = (LoopDev::new(8 * MIB), LoopDev::new(8 * MIB));
    let links = tempfile::tempdir().unwrap();
    let link = links.path().join("ata-KATESKIT_MOVED");
    std::os::unix::fs::symlink(&a.dev, &link).unwrap();
    let target = resolve(&link).unwrap();
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&b.dev, &link).unwrap();
    let err = open_resolved(&target, 0).unwrap_err();
    assert!(matches!(err, DiskError::Moved { .. }), "{err}");
    assert!(err.to_string().contains("the link moved"), "{err}");
    // Resolved afresh, the same link opens (the device it names now).
    let disk = open_for_write(&link, 0).unwrap();
    assert_eq!(disk.canonical(), b.dev.as_path());
}
