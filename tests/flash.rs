//! Flashing: the streaming logic on regular files, then `kateskit flash` on loop devices through
//! the disk module's preflight.

mod common;
mod image_common;

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use common::{lock, loop_devices_available, run as tool, LoopDev, MountGuard};
use image_common::{fixture_copy, kateskit};
use kateskit::image::embed;
use kateskit::image::flash::{self, FlashError, FlashOptions, Overlay, HEAD};
use rand::RngCore;
use sha2::{Digest, Sha256};

const MIB: u64 = 1 << 20;
const STAMP: &str = r#"{"stamped":true}"#;

/// The GPT fixture (4 MiB) followed by 2 MiB of random bytes, so every offset is distinctive.
fn test_image(dir: &Path) -> std::path::PathBuf {
    let img = fixture_copy(dir, "gpt.img.zst");
    let mut data = std::fs::read(&img).unwrap();
    let mut noise = vec![0u8; 2 * MIB as usize];
    rand::thread_rng().fill_bytes(&mut noise);
    data.extend_from_slice(&noise);
    std::fs::write(&img, &data).unwrap();
    img
}

/// [`test_image`] with [`STAMP`] and the karg `ip=dhcp` in its embed area (LBA 4096).
fn stamped_test_image(dir: &Path) -> std::path::PathBuf {
    let img = test_image(dir);
    let area = embed::build_area(embed::GPT_AREA_SIZE, Some(STAMP), &["ip=dhcp".into()]).unwrap();
    File::options()
        .write(true)
        .open(&img)
        .unwrap()
        .write_all_at(&area, 4096 * 512)
        .unwrap();
    img
}

/// An 8 MiB target that held something else (0xAA bytes), open for reading and writing: what
/// a failed flash must not leave bootable.
fn old_target(dir: &Path) -> (std::path::PathBuf, File) {
    let path = dir.join("target.bin");
    std::fs::write(&path, vec![0xAAu8; 8 * MIB as usize]).unwrap();
    let f = File::options().read(true).write(true).open(&path).unwrap();
    (path, f)
}

fn read_range(path: &Path, offset: u64, len: u64) -> Vec<u8> {
    let mut buf = vec![0u8; len as usize];
    File::open(path)
        .unwrap()
        .read_exact_at(&mut buf, offset)
        .unwrap();
    buf
}

#[test]
fn regular_file_target_equals_image_and_hash_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let img = test_image(dir.path());
    let target_path = dir.path().join("target.bin");
    let target = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&target_path)
        .unwrap();
    target.set_len(8 * MIB).unwrap();
    let report = flash::flash(
        &File::open(&img).unwrap(),
        &target,
        8 * MIB,
        &FlashOptions::default(),
    )
    .unwrap();
    let data = std::fs::read(&img).unwrap();
    assert_eq!(report.bytes, data.len() as u64);
    assert_eq!(report.sha256, hex::encode(Sha256::digest(&data)));
    assert_eq!(read_range(&target_path, 0, data.len() as u64), data);

    let small = flash::flash(
        &File::open(&img).unwrap(),
        &target,
        MIB,
        &FlashOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(small, FlashError::TooSmall { target, .. } if target == MIB),
        "{small}"
    );
}

#[test]
fn image_of_odd_length_lands_exactly() {
    // An ISO is a whole number of 2 KiB sectors, not of 4 KiB pages; the direct writes stop at
    // the last whole block and the rest goes through the page cache.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let img = dir.path().join("odd.img");
    let mut data = vec![0u8; (6 * MIB + 2048 + 3) as usize];
    rand::thread_rng().fill_bytes(&mut data);
    std::fs::write(&img, &data).unwrap();
    let (target_path, target) = old_target(dir.path());
    let report = flash::flash(
        &File::open(&img).unwrap(),
        &target,
        8 * MIB,
        &FlashOptions::default(),
    )
    .unwrap();
    assert_eq!(report.sha256, hex::encode(Sha256::digest(&data)));
    assert!(read_range(&target_path, 0, data.len() as u64) == data);
    assert!(read_range(&target_path, data.len() as u64, 4096)
        .iter()
        .all(|&b| b == 0xAA));
}

#[test]
fn injected_failure_leaves_first_mib_zeroed() {
    let dir = tempfile::tempdir().unwrap();
    let img = test_image(dir.path());
    let (target_path, target) = old_target(dir.path());
    let opts = FlashOptions {
        fail_after: Some(MIB + 4096),
        progress: None,
        overlay: None,
    };
    let err = flash::flash(&File::open(&img).unwrap(), &target, 8 * MIB, &opts).unwrap_err();
    assert!(
        matches!(err, FlashError::Injected(n) if n == MIB + 4096),
        "{err}"
    );
    assert!(
        read_range(&target_path, 0, HEAD).iter().all(|&b| b == 0),
        "first MiB not zeroed"
    );
    // The write really was in progress: the bytes after HEAD up to the cut are the image's.
    assert_eq!(
        read_range(&target_path, HEAD, MIB + 4096),
        read_range(&img, HEAD, MIB + 4096)
    );
    assert!(read_range(&target_path, 2 * MIB + 4096, 4096)
        .iter()
        .all(|&b| b == 0xAA));
}

/// The node's config (an overlay: its embed area, with the tokens) rides in the stream; a
/// flash that fails after writing it leaves zeros there, not the secrets.
#[test]
fn a_failed_flash_leaves_no_overlay_bytes_behind() {
    let dir = tempfile::tempdir().unwrap();
    let img = test_image(dir.path());
    let (target_path, target) = old_target(dir.path());
    let secret = b"kateskit.token=K10overlaysecret::server:overlaysecret\n".repeat(1024);
    let at = HEAD + 64 * 1024;
    let opts = FlashOptions {
        fail_after: Some(MIB),
        progress: None,
        overlay: Some(Overlay::new(at, secret.clone())),
    };
    let err = flash::flash(&File::open(&img).unwrap(), &target, 8 * MIB, &opts).unwrap_err();
    assert!(matches!(err, FlashError::Injected(_)), "{err}");
    let end = at + secret.len() as u64;
    assert!(end < HEAD + MIB, "the overlay must lie before the cut");
    assert!(
        read_range(&target_path, at, secret.len() as u64)
            .iter()
            .all(|&b| b == 0),
        "the overlay's bytes survived the failed flash"
    );
    // The image's bytes past the overlay up to the cut were written: the cut came after it.
    assert_eq!(
        read_range(&target_path, end, HEAD + MIB - end),
        read_range(&img, end, HEAD + MIB - end)
    );
    let all = std::fs::read(&target_path).unwrap();
    assert!(
        !all.windows(16).any(|w| w == b"overlaysecret::s"),
        "a secret is left on the target"
    );
}

fn loop_ok() -> bool {
    loop_devices_available()
}

fn device_prefix_sha(dev: &str, len: u64) -> String {
    hex::encode(Sha256::digest(read_range(Path::new(dev), 0, len)))
}

/// A flashed stick can be inspected where it is, but only `flash` and `install` (which check
/// that a device is not in use) write devices: `customize --in-place` and `reset` refuse one.
#[test]
fn inspect_reads_a_flashed_device_and_customize_refuses_to_write_it() {
    if !loop_ok() {
        return;
    }
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    let img = stamped_test_image(dir.path());
    let len = std::fs::metadata(&img).unwrap().len();
    let dev = LoopDev::new(16 * MIB);
    kateskit()
        .arg("flash")
        .arg(&img)
        .arg(dev.path())
        .arg("--yes")
        .assert()
        .success();
    let out = kateskit()
        .args(["image", "inspect", "--json"])
        .arg(dev.path())
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["state"], "stamped", "{v:#}");
    assert_eq!(v["carrier"]["kind"], "gpt", "{v:#}");
    assert_eq!(v["kargs"], serde_json::json!(["ip=dhcp"]), "{v:#}");
    let before = device_prefix_sha(dev.path(), len);
    let (_, json) = image_common::node_config(dir.path());
    for args in [
        vec![
            "image",
            "customize",
            dev.path(),
            "--in-place",
            "--node-config",
        ],
        vec!["image", "reset", dev.path()],
    ] {
        let mut c = kateskit();
        c.args(&args);
        if args[1] == "customize" {
            c.arg(&json);
        }
        let refused = c.assert().failure();
        let err = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
        assert!(
            err.contains("is a block device") && err.contains("kateskit flash"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(
        device_prefix_sha(dev.path(), len),
        before,
        "the device changed"
    );
}

#[test]
fn flash_to_loop_device_then_verify_and_fail_safely() {
    if !loop_ok() {
        return;
    }
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    let img = stamped_test_image(dir.path());
    let data = std::fs::read(&img).unwrap();
    let dev = LoopDev::new(16 * MIB);
    kateskit()
        .arg("flash")
        .arg(&img)
        .arg(dev.path())
        .arg("--yes")
        .assert()
        .success()
        .stderr(predicates::str::contains("verified"));
    assert_eq!(
        device_prefix_sha(dev.path(), data.len() as u64),
        hex::encode(Sha256::digest(&data)),
        "device differs from image"
    );
    let gpt = tool("sgdisk", &["-p", dev.path()]);
    assert!(gpt.contains("KATESKIT-EMBED"), "{gpt}");
    // Read the stamp back from a block device covering exactly the partition, as the agent
    // reads /dev/disk/by-partlabel/KATESKIT-EMBED. An offset loop device stands in for the
    // partition node because kernels built without GPT support (CONFIG_EFI_PARTITION) never
    // create one.
    let part = tool(
        "losetup",
        &[
            "-f",
            "--show",
            "-o",
            &(4096 * 512).to_string(),
            "--sizelimit",
            &MIB.to_string(),
            dev.path(),
        ],
    )
    .trim()
    .to_string();
    let got = embed::read_path(Path::new(&part));
    common::try_run("losetup", &["-d", &part]);
    let got = got.unwrap().expect("stamped partition");
    assert_eq!(got.node_config_json.as_deref(), Some(STAMP));
    assert_eq!(got.kargs, ["ip=dhcp"]);

    // A second flash that dies mid-write leaves the device unbootable, not half-bootable.
    let img2 = test_image(dir.path());
    kateskit()
        .arg("flash")
        .arg(&img2)
        .arg(dev.path())
        .arg("--yes")
        .env(flash::FAIL_AFTER_ENV, (2 * MIB).to_string())
        .assert()
        .failure()
        .stderr(predicates::str::contains("first MiB was zeroed"))
        .stderr(predicates::str::contains("injected failure"));
    assert!(
        read_range(Path::new(dev.path()), 0, HEAD)
            .iter()
            .all(|&b| b == 0),
        "first MiB not zeroed on the device"
    );
    assert_eq!(
        read_range(Path::new(dev.path()), HEAD, 2 * MIB),
        read_range(&img2, HEAD, 2 * MIB)
    );
}

#[test]
fn refuses_mounted_device_and_unconfirmed_runs() {
    if !loop_ok() {
        return;
    }
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    let img = test_image(dir.path());
    let dev = LoopDev::new(16 * MIB);
    tool(
        "mkfs.ext4",
        &[
            "-q",
            "-E",
            "lazy_itable_init=0,lazy_journal_init=0",
            dev.path(),
        ],
    );
    {
        let _m = MountGuard::new(dev.path());
        // Mounting itself writes the superblock, so compare around the refused flash only.
        let before = dev.digest();
        kateskit()
            .arg("flash")
            .arg(&img)
            .arg(dev.path())
            .arg("--yes")
            .assert()
            .failure()
            .stderr(predicates::str::contains("in use"))
            .stderr(predicates::str::contains(dev.path()));
        assert_eq!(
            dev.digest(),
            before,
            "refused flash changed the mounted device"
        );
    }
    let before = dev.digest();
    // No terminal and no --yes: refuse before writing anything, and say what is on the device.
    kateskit()
        .arg("flash")
        .arg(&img)
        .arg(dev.path())
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "stdin is not a terminal; pass --yes",
        ))
        .stderr(predicates::str::contains("on it now:"));
    assert_eq!(dev.digest(), before);
    // Too small: the image does not fit.
    let tiny = LoopDev::new(2 * MIB);
    kateskit()
        .arg("flash")
        .arg(&img)
        .arg(tiny.path())
        .arg("--yes")
        .assert()
        .failure()
        .stderr(predicates::str::contains("smaller than the required"));
}

/// A GPT image for 512-byte sectors is refused on a 4096-byte-sector disk, which stays as it
/// was; the same image on a 512-byte disk is fine (covered above).
#[test]
fn refuses_an_image_whose_gpt_sector_size_differs_from_the_disk() {
    if !loop_ok() {
        return;
    }
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    let img = test_image(dir.path());
    let backing = dir.path().join("4kn.img");
    File::create(&backing).unwrap().set_len(16 * MIB).unwrap();
    let dev = tool(
        "losetup",
        &[
            "-f",
            "--show",
            "--sector-size",
            "4096",
            backing.to_str().unwrap(),
        ],
    )
    .trim()
    .to_string();
    struct Detach(String);
    impl Drop for Detach {
        fn drop(&mut self) {
            let _ = std::process::Command::new("losetup")
                .args(["-d", &self.0])
                .status();
        }
    }
    let _d = Detach(dev.clone());
    let before = std::fs::read(&backing).unwrap();
    let out = kateskit()
        .args(["flash", "--yes"])
        .arg(&img)
        .arg(&dev)
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("GPT for 512-byte sectors") && err.contains("uses 4096-byte sectors"),
        "{err}"
    );
    assert!(
        std::fs::read(&backing).unwrap() == before,
        "the disk is untouched"
    );
}
