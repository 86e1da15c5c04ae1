//! The other carriers: the netboot cpio, plain ISO9660 names (no Rock Ridge), and a hybrid ISO
//! with an appended ESP and UEFI El Torito entry, each checked with the real tools.

mod image_common;

use std::path::Path;
use std::process::Command;

use image_common::*;
use kateskit::image::{customize, embed, CarrierKind};

fn json_value(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn initrd_carrier_unpacks_with_cpio() {
    let dir = tempfile::tempdir().unwrap();
    let (_, json) = node_config(dir.path());
    let out = dir.path().join("node.cpio");
    kateskit()
        .args(["image", "initrd", "--node-config"])
        .arg(&json)
        .args(["--karg", "kateskit.role=agent", "-o"])
        .arg(&out)
        .assert()
        .success();
    let unpack = dir.path().join("unpack");
    std::fs::create_dir(&unpack).unwrap();
    let st = Command::new("cpio")
        .args(["-id", "--quiet"])
        .current_dir(&unpack)
        .stdin(std::fs::File::open(&out).unwrap())
        .status()
        .unwrap();
    assert!(st.success());
    let area = std::fs::read(unpack.join("kateskit/embed.img")).unwrap();
    assert_eq!(area.len(), embed::ISO_AREA_SIZE);
    let got = embed::read_area(&area).unwrap().unwrap();
    assert_eq!(got.kargs, ["kateskit.role=agent"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&got.node_config_json.unwrap()).unwrap(),
        json_value(&json)
    );
    assert_eq!(std::fs::metadata(&out).unwrap().len() % 512, 0);
    // The cpio is itself a carrier: inspect and re-stamp it in place.
    kateskit()
        .args(["image", "inspect"])
        .arg(&out)
        .assert()
        .success()
        .stdout(predicates::str::contains("kargs: kateskit.role=agent"));
    kateskit()
        .args(["image", "initrd", "--node-config"])
        .arg(&json)
        .arg("-o")
        .arg(&out)
        .assert()
        .failure()
        .stderr(predicates::str::contains("exists; pass --force"));
}

#[test]
fn plain_iso9660_names_without_rock_ridge() {
    // genisoimage without -R/-J: the tree has only primary names (KATESKIT/EMBED.IMG;1).
    let dir = tempfile::tempdir().unwrap();
    let (_, json) = node_config(dir.path());
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("kateskit")).unwrap();
    std::fs::write(
        tree.join("kateskit/embed.img"),
        vec![0u8; embed::ISO_AREA_SIZE],
    )
    .unwrap();
    std::fs::write(tree.join("other.txt"), b"x").unwrap();
    let iso = dir.path().join("plain.iso");
    run(Command::new("genisoimage")
        .args(["-quiet", "-o"])
        .arg(&iso)
        .arg(&tree));
    let listing = run(Command::new("isoinfo").args(["-l", "-i"]).arg(&iso));
    assert!(listing.contains("EMBED.IMG;1"), "{listing}");
    let pristine = sha256_file(&iso);
    kateskit()
        .args(["image", "customize"])
        .arg(&iso)
        .arg("--node-config")
        .arg(&json)
        .arg("--in-place")
        .assert()
        .success();
    let (c, raw) = customize::read_raw(&iso).unwrap();
    assert!(embed::read_area(&raw).unwrap().is_some());
    assert_eq!(
        sha256_with_zeroed(&iso, c.extent.offset, c.extent.len),
        pristine
    );
    let out = Command::new("isoinfo")
        .args(["-i"])
        .arg(&iso)
        .args(["-x", "/KATESKIT/EMBED.IMG;1"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        out.stdout, raw,
        "isoinfo extracts exactly the stamped bytes"
    );
}

#[test]
fn hybrid_iso_keeps_el_torito_mbr_and_esp() {
    let dir = tempfile::tempdir().unwrap();
    let (_, json) = node_config(dir.path());
    let iso = fixture_copy(dir.path(), "hybrid.iso.zst");
    let pristine = sha256_file(&iso);
    let el_torito = |p: &Path| {
        run(Command::new("xorriso")
            .args(["-no_rc", "-indev"])
            .arg(p)
            .args(["-report_el_torito", "plain"]))
    };
    let boot_before = el_torito(&iso);
    assert!(boot_before.contains("UEFI"), "{boot_before}");
    kateskit()
        .args(["image", "customize"])
        .arg(&iso)
        .arg("--node-config")
        .arg(&json)
        .arg("--in-place")
        .assert()
        .success();
    let (c, raw) = customize::read_raw(&iso).unwrap();
    assert_eq!(
        c.kind,
        CarrierKind::Iso,
        "a hybrid ISO is stamped through its ISO9660 tree"
    );
    assert!(embed::read_area(&raw)
        .unwrap()
        .unwrap()
        .node_config_json
        .is_some());
    assert_eq!(
        sha256_with_zeroed(&iso, c.extent.offset, c.extent.len),
        pristine
    );
    assert_eq!(el_torito(&iso), boot_before);
    // MBR partition 2 is the ESP; mtools still reads the loader from it.
    let mbr = std::fs::read(&iso).unwrap();
    let e = 446 + 16;
    assert_eq!(mbr[e + 4], 0xef, "partition 2 type");
    let start = u32::from_le_bytes(mbr[e + 8..e + 12].try_into().unwrap()) as u64 * 512;
    let listing = run(Command::new("mdir")
        .arg("-i")
        .arg(format!("{}@@{start}", iso.display()))
        .arg("::/EFI/BOOT"));
    assert!(listing.contains("BOOTX64"), "{listing}");
}
