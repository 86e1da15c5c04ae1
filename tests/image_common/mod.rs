//! Shared helpers for the image, flash and pull tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

pub fn kateskit() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("kateskit").expect("kateskit binary")
}

/// `kateskit install` onto `dev` without a prompt, a firmware check or a boot entry: how the
/// tests install onto a loop device.
pub fn install_onto(dev: &str) -> assert_cmd::Command {
    let mut c = kateskit();
    c.args([
        "install",
        "--yes",
        "--allow-bios-firmware",
        "--no-boot-entry",
        "--device",
        dev,
    ]);
    c
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Copies a fixture into `dir` (decompressing `.zst`) and returns the copy's path.
pub fn fixture_copy(dir: &Path, name: &str) -> PathBuf {
    let src = fixture(name);
    match name.strip_suffix(".zst") {
        Some(base) => {
            let out = dir.join(base);
            let data = zstd::decode_all(std::fs::File::open(&src).expect("open fixture"))
                .expect("decompress fixture");
            std::fs::write(&out, data).expect("write fixture copy");
            out
        }
        None => {
            let out = dir.join(name);
            std::fs::copy(&src, &out).expect("copy fixture");
            out
        }
    }
}

/// Temp files an image command leaves in `dir` (`.kateskit*`); must be none after any run.
pub fn leftovers(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".kateskit")
        })
        .collect()
}

pub fn sha256_file(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).expect("read for hash")))
}

/// SHA-256 of a file with `len` bytes at `offset` replaced by zeros.
pub fn sha256_with_zeroed(path: &Path, offset: u64, len: u64) -> String {
    let mut data = std::fs::read(path).expect("read for hash");
    data[offset as usize..(offset + len) as usize].fill(0);
    hex::encode(Sha256::digest(&data))
}

/// Runs a tool and returns stdout; panics with stderr on failure.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A cluster dir (secrets from `cluster init`, spec from examples/homelab) and the rendered
/// NodeConfig JSON of its node `box`. Secrets live only in the temp dir.
pub fn node_config(dir: &Path) -> (PathBuf, PathBuf) {
    let cluster = dir.join("cluster");
    kateskit()
        .arg("cluster")
        .arg("init")
        .arg(&cluster)
        .assert()
        .success();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/homelab/cluster.toml"),
        cluster.join("cluster.toml"),
    )
    .expect("copy example");
    let json = dir.join("box.json");
    kateskit()
        .args(["cluster", "render"])
        .arg(&cluster)
        .args(["--node", "box", "-o"])
        .arg(&json)
        .assert()
        .success();
    (cluster, json)
}

/// [`node_config`] with the node's `install_disk` removed (then install writes `--device`), and
/// `edit` applied to the NodeConfig JSON.
pub fn node_config_edited(
    dir: &Path,
    edit: impl FnOnce(&mut serde_json::Value),
) -> (PathBuf, PathBuf) {
    let (cluster, json) = node_config(dir);
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("read NodeConfig"))
            .expect("NodeConfig JSON");
    v["node"]
        .as_object_mut()
        .expect("node object")
        .remove("install_disk");
    edit(&mut v);
    std::fs::write(&json, serde_json::to_string(&v).expect("serialize")).expect("write NodeConfig");
    (cluster, json)
}

pub fn node_config_without_install_disk(dir: &Path) -> (PathBuf, PathBuf) {
    node_config_edited(dir, |_| {})
}

/// The GPT fixture grown to `mib` MiB: the tail is zeros up to the backup GPT, which
/// `sgdisk -e` moves to the new end, so the image has one large zero run in its middle.
pub fn fixture_with_zero_run(dir: &Path, mib: u64) -> PathBuf {
    let image = fixture_copy(dir, "gpt.img.zst");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&image)
        .unwrap()
        .set_len(mib << 20)
        .unwrap();
    let o = Command::new("sgdisk")
        .arg("-e")
        .arg(&image)
        .output()
        .unwrap();
    assert!(o.status.success(), "sgdisk -e: {o:?}");
    image
}

/// The zero map of the file at `path`, as `kateskit netboot serve` builds it.
pub fn zero_map_of(path: &Path) -> kateskit::image::zero_map::ZeroMap {
    let mut f = std::fs::File::open(path).unwrap();
    kateskit::image::zero_map::ZeroMap::scan(&mut f, kateskit::image::zero_map::BLOCK).unwrap()
}
