//! `kateskit install` on loop devices (root): the raw image lands on the disk with the node's
//! config already in its KATESKIT-EMBED partition, taken from --node-config or from the live
//! medium's embed area (stamped kernel arguments included); an ISO is refused untouched.

mod common;
mod image_common;

use std::os::unix::fs::FileExt;

use common::{lock, loop_devices_available, LoopDev};
use image_common::{
    fixture_copy, install_onto, kateskit, node_config_without_install_disk as node_config,
    sha256_with_zeroed,
};
use kateskit::image::embed;

const MIB: u64 = 1 << 20;

fn area_on(dev: &LoopDev, offset: u64) -> Vec<u8> {
    let f = std::fs::File::open(&dev.dev).unwrap();
    let mut buf = vec![0u8; embed::GPT_AREA_SIZE];
    f.read_exact_at(&mut buf, offset).unwrap();
    buf
}

fn device_bytes(dev: &LoopDev, len: u64) -> Vec<u8> {
    let f = std::fs::File::open(&dev.dev).unwrap();
    let mut buf = vec![0u8; len as usize];
    f.read_exact_at(&mut buf, 0).unwrap();
    buf
}

#[test]
fn install_writes_the_image_with_the_config_in_its_embed_partition() {
    if !loop_devices_available() {
        return;
    }
    let _l = lock();
    let tmp = tempfile::tempdir().unwrap();
    let image = fixture_copy(tmp.path(), "gpt.img.zst");
    let image_len = std::fs::metadata(&image).unwrap().len();
    let offset =
        kateskit::install::embed_offset(&std::fs::File::open(&image).unwrap(), &image).unwrap();
    let (_, json) = node_config(tmp.path());
    let dev = LoopDev::new(image_len + 8 * MIB);
    install_onto(dev.path())
        .arg("--image")
        .arg(&image)
        .arg("--node-config")
        .arg(&json)
        .assert()
        .success();
    let got = embed::read_area_required(&area_on(&dev, offset)).unwrap();
    assert_eq!(
        got.node_config_json.unwrap(),
        std::fs::read_to_string(&json).unwrap()
    );
    // Outside the area the disk holds exactly the image.
    let disk = tmp.path().join("disk.bin");
    std::fs::write(&disk, device_bytes(&dev, image_len)).unwrap();
    assert_eq!(
        sha256_with_zeroed(&disk, offset, embed::GPT_AREA_SIZE as u64),
        sha256_with_zeroed(&image, offset, embed::GPT_AREA_SIZE as u64)
    );
    // The generic image itself was not modified.
    let pristine = std::fs::read(&image).unwrap();
    assert!(
        pristine[offset as usize..offset as usize + embed::GPT_AREA_SIZE]
            .iter()
            .all(|b| *b == 0)
    );
}

#[test]
fn install_carries_the_live_mediums_config_and_kernel_arguments() {
    if !loop_devices_available() {
        return;
    }
    let _l = lock();
    let tmp = tempfile::tempdir().unwrap();
    let image = fixture_copy(tmp.path(), "gpt.img.zst");
    let image_len = std::fs::metadata(&image).unwrap().len();
    let offset =
        kateskit::install::embed_offset(&std::fs::File::open(&image).unwrap(), &image).unwrap();
    let (_, json) = node_config(tmp.path());
    let text = std::fs::read_to_string(&json).unwrap();
    let kargs = vec!["ip=192.0.2.50::192.0.2.1:255.255.255.0:box:eth0:off".to_string()];
    // The live ISO's 256 KiB area, as the agent would find it.
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("iso/kateskit")).unwrap();
    std::fs::write(
        root.join("iso/kateskit/embed.img"),
        embed::build_area(embed::ISO_AREA_SIZE, Some(&text), &kargs).unwrap(),
    )
    .unwrap();
    let dev = LoopDev::new(image_len + 8 * MIB);
    kateskit()
        .env("KATESKIT_ROOT", &root)
        .args([
            "install",
            "--yes",
            "--allow-bios-firmware",
            "--no-boot-entry",
            "--device",
            dev.path(),
        ])
        .arg("--image")
        .arg(&image)
        .assert()
        .success()
        .stderr(predicates::str::contains("iso/kateskit/embed.img"));
    let got = embed::read_area_required(&area_on(&dev, offset)).unwrap();
    assert_eq!(got.node_config_json.as_deref(), Some(text.as_str()));
    assert_eq!(got.kargs, kargs);
}

#[test]
fn install_refuses_an_iso_and_a_missing_image_without_touching_the_disk() {
    if !loop_devices_available() {
        return;
    }
    let _l = lock();
    let tmp = tempfile::tempdir().unwrap();
    let iso = fixture_copy(tmp.path(), "embed.iso");
    let dev = LoopDev::new(16 * MIB);
    let before = dev.digest();
    let out = install_onto(dev.path())
        .arg("--image")
        .arg(&iso)
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("install needs the raw disk image"), "{err}");
    let out = install_onto(dev.path())
        .arg("--image")
        .arg(tmp.path().join("missing.img"))
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("pass --image or set KATESKIT_INSTALL_IMAGE"),
        "{err}"
    );
    assert_eq!(dev.digest(), before);
}
