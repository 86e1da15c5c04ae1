//! Corrupt and unsuitable inputs: each gives a precise error and leaves the file byte-identical.

mod image_common;

use std::os::unix::fs::FileExt;
use std::path::Path;

use image_common::*;
use kateskit::image::embed;

/// Runs `customize --in-place` expecting failure with `needle` in stderr; the file must not change.
fn refuse(image: &Path, json: &Path, needle: &str) {
    let before = sha256_file(image);
    kateskit()
        .args(["image", "customize"])
        .arg(image)
        .arg("--node-config")
        .arg(json)
        .arg("--in-place")
        .assert()
        .failure()
        .stderr(predicates::str::contains(needle));
    assert_eq!(sha256_file(image), before, "{} changed", image.display());
}

fn poke(path: &Path, offset: u64, f: impl FnOnce(u8) -> u8) {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8];
    file.read_exact_at(&mut b, offset).unwrap();
    file.write_all_at(&[f(b[0])], offset).unwrap();
}

#[test]
fn truncated_iso_missing_file_and_unknown_format() {
    let dir = tempfile::tempdir().unwrap();
    let (_, json) = node_config(dir.path());
    let iso = fixture_copy(dir.path(), "embed.iso");
    let len = std::fs::metadata(&iso).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&iso)
        .unwrap()
        .set_len(len - 100 * 1024)
        .unwrap();
    refuse(
        &iso,
        &json,
        &format!(
            "image is truncated: needs at least {len} bytes but has {}",
            len - 100 * 1024
        ),
    );
    // Cut inside the embed extent itself (the volume size check catches it first).
    std::fs::OpenOptions::new()
        .write(true)
        .open(&iso)
        .unwrap()
        .set_len(150_000)
        .unwrap();
    refuse(&iso, &json, "image is truncated");

    let noembed = fixture_copy(dir.path(), "noembed.iso");
    refuse(
        &noembed,
        &json,
        "/kateskit/embed.img not found; this image was not built with a KatesKit embed area",
    );

    let junk = dir.path().join("junk.bin");
    std::fs::write(&junk, vec![0x5au8; 1 << 20]).unwrap();
    refuse(
        &junk,
        &json,
        "not an ISO9660 image, a GPT disk image or a newc cpio",
    );
}

#[test]
fn gpt_with_bad_header_or_entry_crc() {
    let dir = tempfile::tempdir().unwrap();
    let (_, json) = node_config(dir.path());
    let img = fixture_copy(dir.path(), "gpt.img.zst");
    poke(&img, 512 + 56, |b| b ^ 0xff); // disk GUID byte: covered by the header CRC
    refuse(&img, &json, "GPT header: CRC32 mismatch");

    let img = fixture_copy(dir.path(), "gpt.img.zst");
    poke(&img, 1024 + 128 + 56, |b| b ^ 0x01); // name of entry 2: covered by the entries CRC
    refuse(&img, &json, "GPT partition entries: CRC32 mismatch");
}

#[test]
fn payload_too_large_names_both_sizes() {
    use rand::RngCore;
    let dir = tempfile::tempdir().unwrap();
    let (_, json) = node_config(dir.path());
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let mut noise = vec![0u8; 300 * 1024];
    rand::thread_rng().fill_bytes(&mut noise);
    v["node"]["labels"]["example.com/noise"] = serde_json::Value::String(hex::encode(noise));
    let big = dir.path().join("big.json");
    std::fs::write(&big, serde_json::to_vec(&v).unwrap()).unwrap();
    let iso = fixture_copy(dir.path(), "embed.iso");
    let room = embed_room();
    refuse(
        &iso,
        &big,
        &format!("bytes but the area holds at most {room}"),
    );
    let out = kateskit()
        .args(["image", "customize"])
        .arg(&iso)
        .arg("--node-config")
        .arg(&big)
        .arg("--in-place")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let need: usize = err
        .split("config payload is ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{err}"));
    assert!(need > room, "{err}");
    // Copy mode leaves no output and no temp file.
    let out = dir.path().join("out.iso");
    kateskit()
        .args(["image", "customize"])
        .arg(&iso)
        .arg("--node-config")
        .arg(&big)
        .arg("-o")
        .arg(&out)
        .assert()
        .failure();
    assert!(!out.exists());
    assert_eq!(image_common::leftovers(dir.path()).len(), 0);
}

fn embed_room() -> usize {
    embed::ISO_AREA_SIZE - embed::KARG_REGION_SIZE - embed::HEADER_SIZE
}

#[test]
fn inspect_names_the_failed_check_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_, json) = node_config(dir.path());
    let iso = fixture_copy(dir.path(), "embed.iso");
    kateskit()
        .args(["image", "customize"])
        .arg(&iso)
        .arg("--node-config")
        .arg(&json)
        .arg("--in-place")
        .assert()
        .success();
    let area = kateskit::image::customize::read_raw(&iso)
        .unwrap()
        .0
        .extent
        .offset;
    let cases: [(u64, &str); 4] = [
        (area + 200, "config header: payload SHA-256 mismatch"),
        (area + 40, "config header: header checksum mismatch"),
        (area + 2, "config header: bad magic"),
        (area + 262144 - 4096 + 1, "karg header: bad magic"),
    ];
    for (off, needle) in cases {
        let iso2 = dir.path().join("c.iso");
        std::fs::copy(&iso, &iso2).unwrap();
        if off >= area + 262144 - 4096 {
            // Give the karg part content first so there is something to corrupt.
            kateskit()
                .args(["image", "customize"])
                .arg(&iso2)
                .arg("--node-config")
                .arg(&json)
                .args(["--karg", "ip=dhcp", "--in-place"])
                .assert()
                .success();
        }
        poke(&iso2, off, |b| b ^ 0x10);
        let before = sha256_file(&iso2);
        kateskit()
            .args(["image", "inspect"])
            .arg(&iso2)
            .assert()
            .code(2)
            .stdout(predicates::str::contains(format!("corrupt: {needle}")));
        let v: serde_json::Value = serde_json::from_slice(
            &kateskit()
                .args(["image", "inspect", "--json"])
                .arg(&iso2)
                .assert()
                .code(2)
                .get_output()
                .stdout,
        )
        .unwrap();
        assert_eq!(v["state"], "corrupt");
        assert!(v["error"].as_str().unwrap().contains(needle));
        assert_eq!(sha256_file(&iso2), before);
    }
    // A bad karg is refused before anything is written.
    let before = sha256_file(&iso);
    kateskit()
        .args(["image", "customize"])
        .arg(&iso)
        .arg("--node-config")
        .arg(&json)
        .args(["--karg", "a b", "--in-place"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("contains whitespace"));
    assert_eq!(sha256_file(&iso), before);
}

#[test]
fn a_locked_image_is_not_stamped_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    let (_, json) = node_config(dir.path());
    let iso = fixture_copy(dir.path(), "embed.iso");
    let holder = std::fs::File::open(&iso).unwrap();
    rustix::fs::flock(&holder, rustix::fs::FlockOperation::LockExclusive).unwrap();
    refuse(&iso, &json, "locking (is another kateskit modifying it?)");
    drop(holder);
    kateskit()
        .args(["image", "customize"])
        .arg(&iso)
        .arg("--node-config")
        .arg(&json)
        .arg("--in-place")
        .assert()
        .success();
}
