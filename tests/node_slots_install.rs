//! Installing and stamping keep working on the two-slot layout: a raw image built like the
//! A/B raw image (ESP, KATESKIT-EMBED, two store slots, kateskit-data; sgdisk, mkfs.vfat,
//! mkfs.ext4, mtools) is stamped by `image customize` and written by `kateskit install` to a
//! loop device, with the config in its embed partition, the ESP found as partition 1 for the
//! firmware entry, and both slots and the data partition byte for byte as in the image.

mod common;
mod image_common;
#[path = "upgrade_support/layout.rs"]
mod layout;

use std::os::unix::fs::FileExt;
use std::process::Command;

use common::{lock, loop_devices_available, LoopDev};
use image_common::{
    install_onto, kateskit, node_config_without_install_disk as node_config, sha256_with_zeroed,
};
use kateskit::image::{embed, locate, CarrierKind};
use layout::{run, Layout, LayoutOpts, MIB, SLOT_A};

fn image(dir: &std::path::Path) -> Layout {
    Layout::build(&dir.join("raw.img"), &LayoutOpts::default())
}

#[test]
fn customize_stamps_the_embed_partition_of_the_two_slot_image() {
    let tmp = tempfile::tempdir().unwrap();
    let l = image(tmp.path());
    let (_, json) = node_config(tmp.path());
    let (embed_off, embed_len) = l.parts[1];
    let c = locate(&std::fs::File::open(&l.path).unwrap()).unwrap();
    assert_eq!(c.kind, CarrierKind::Gpt);
    assert_eq!((c.extent.offset, c.extent.len), (embed_off, embed_len));
    let pristine = sha256_with_zeroed(&l.path, embed_off, embed_len);
    kateskit()
        .args(["image", "customize"])
        .arg(&l.path)
        .arg("--node-config")
        .arg(&json)
        .arg("--in-place")
        .assert()
        .success();
    let mut area = vec![0u8; embed_len as usize];
    std::fs::File::open(&l.path)
        .unwrap()
        .read_exact_at(&mut area, embed_off)
        .unwrap();
    let got = embed::read_area_required(&area).unwrap();
    assert_eq!(
        got.node_config_json.unwrap(),
        std::fs::read_to_string(&json).unwrap()
    );
    assert_eq!(sha256_with_zeroed(&l.path, embed_off, embed_len), pristine);
    let v = run(Command::new("sgdisk").arg("-v").arg(&l.path));
    assert!(v.contains("No problems found"), "{v}");
    assert_eq!(l.esp_names("EFI/Linux"), ["kateskit_1.efi"]);
}

#[test]
fn install_writes_the_two_slot_image_with_the_config() {
    if !loop_devices_available() {
        return;
    }
    let _l = lock();
    let tmp = tempfile::tempdir().unwrap();
    let l = image(tmp.path());
    let image_len = std::fs::metadata(&l.path).unwrap().len();
    let img = std::fs::File::open(&l.path).unwrap();
    let offset = kateskit::install::embed_offset(&img, &l.path).unwrap();
    assert_eq!(offset, l.parts[1].0);
    assert_eq!(
        kateskit::install::firmware::esp_partition(&img, &l.path).unwrap(),
        1
    );
    let (_, json) = node_config(tmp.path());
    let dev = LoopDev::new(image_len + 8 * MIB);
    install_onto(dev.path())
        .arg("--image")
        .arg(&l.path)
        .arg("--node-config")
        .arg(&json)
        .assert()
        .success();
    let f = std::fs::File::open(&dev.dev).unwrap();
    let mut area = vec![0u8; embed::GPT_AREA_SIZE];
    f.read_exact_at(&mut area, offset).unwrap();
    let got = embed::read_area_required(&area).unwrap();
    assert_eq!(
        got.node_config_json.unwrap(),
        std::fs::read_to_string(&json).unwrap()
    );
    // Outside the embed area the disk holds exactly the image: ESP, both slots, data.
    let mut disk = vec![0u8; image_len as usize];
    f.read_exact_at(&mut disk, 0).unwrap();
    let copy = tmp.path().join("disk.bin");
    std::fs::write(&copy, &disk).unwrap();
    let len = embed::GPT_AREA_SIZE as u64;
    assert_eq!(
        sha256_with_zeroed(&copy, offset, len),
        sha256_with_zeroed(&l.path, offset, len)
    );
    // The installed disk reads as the two-slot layout, slot A named for its version.
    let slots = kateskit::slots::layout::Layout::read(&dev.dev).unwrap();
    assert_eq!(slots.slots[0].index, SLOT_A);
    assert_eq!(slots.slots[0].name, "kateskit_1");
    assert_eq!(slots.slots[1].name, "_empty");
    // Its backup GPT sits at the image's end, not the larger disk's, until the data partition
    // grows: a slot rename still updates both tables, as sgdisk reads them.
    drop(f);
    let w = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&dev.dev)
        .unwrap();
    kateskit::image::gpt_write::rename_partition(&w, 512, 4, "kateskit_2").unwrap();
    drop(w);
    assert_eq!(layout::sgdisk_info(&dev.dev, 4).2, "kateskit_2");
    let out = Command::new("sgdisk")
        .arg("-v")
        .arg(&dev.dev)
        .output()
        .unwrap();
    let v = String::from_utf8_lossy(&out.stdout);
    assert!(!v.contains("CRC"), "{v}");
}

/// The state a crash between the two table writes of a slot rename leaves (new backup, old
/// primary), made by splicing the renamed copy's backup onto the original: sgdisk and the
/// slot reader still read the valid primary (the old name), and a second rename converges to
/// two equal, valid tables.
#[test]
fn a_crash_between_the_gpt_writes_leaves_valid_tables_and_a_rerun_converges() {
    let tmp = tempfile::tempdir().unwrap();
    let l = image(tmp.path());
    let len = std::fs::metadata(&l.path).unwrap().len();
    let renamed = tmp.path().join("renamed.img");
    std::fs::copy(&l.path, &renamed).unwrap();
    let rw = |p: &std::path::Path| {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(p)
            .unwrap()
    };
    kateskit::image::gpt_write::rename_partition(&rw(&renamed), 512, 4, "kateskit_2").unwrap();
    // Backup entries and header: the last 33 sectors.
    let tail = 33 * 512;
    let mut backup = vec![0u8; tail as usize];
    rw(&renamed).read_exact_at(&mut backup, len - tail).unwrap();
    rw(&l.path).write_all_at(&backup, len - tail).unwrap();
    let slots = kateskit::slots::layout::Layout::read(&l.path).unwrap();
    assert_eq!(slots.slots[1].name, "_empty");
    assert_eq!(layout::sgdisk_info(&l.path, 4).2, "_empty");
    let v = run(Command::new("sgdisk").arg("-v").arg(&l.path));
    // sgdisk checks the backup header against the primary's entries, so it calls the backup
    // stale and would rebuild it from the primary: the old name wins until the rerun.
    assert!(v.contains("backup partition table"), "{v}");
    kateskit::image::gpt_write::rename_partition(&rw(&l.path), 512, 4, "kateskit_2").unwrap();
    let v = run(Command::new("sgdisk").arg("-v").arg(&l.path));
    assert!(v.contains("No problems found"), "{v}");
    assert_eq!(layout::sgdisk_info(&l.path, 4).2, "kateskit_2");
    assert_eq!(
        std::fs::read(&l.path).unwrap(),
        std::fs::read(&renamed).unwrap()
    );
}
