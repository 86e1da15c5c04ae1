//! Real-tool tier for the raw image's partition table: the `repartConfig` of every partition
//! is evaluated from images/raw.nix itself (nix-instantiate with stand-ins for `config`, `lib`
//! and `pkgs`; only literal attributes and the upgrade options are forced), written as one
//! `<attribute>.conf` per partition as nixpkgs' image/repart.nix does, and given to Debian's
//! systemd-repart. The table must then be the two-slot layout of docs/upgrades.md: ESP,
//! KATESKIT-EMBED (type 3b6c0d5d-..., exactly 1 MiB, zeros, unchanged from the single-slot
//! image, so `image customize` and `install` find it), two store slots of one fixed size
//! (`kateskit_<V>` and `_empty`, as the node's slots library reads them), and the data
//! partition last. File-system creation
//! (`Format=`) is left out: that is nixpkgs' part of the build (Debian's systemd 252 cannot
//! make erofs); nix_update.rs writes a real erofs into a slot and cuts the release from it.

mod nixtool;

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::Command;

use kateskit::slots::layout::{Layout, EMPTY};
use serde_json::Value;

const EMBED_TYPE: &str = "3B6C0D5D-DE39-40BD-9E6C-08B15A369D15";
const STORE_TYPE: &str = "1ABE2AD4-1252-43FC-B3E0-5EEC1C866266";
/// `Type=root` on the x86-64 host (systemd 252 has no --architecture; nixpkgs passes it).
const ROOT_X86_64: &str = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709";
const ESP_TYPE: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";

/// images/raw.nix's partitions for version 1.2.3 and 16 MiB slots.
fn repart_configs(state: &Path) -> Option<serde_json::Map<String, Value>> {
    let expr = "builtins.mapAttrs (n: p: p.repartConfig) (import ./images/raw.nix { lib = { }; pkgs = { }; modulesPath = \"/modules\";
        config.kateskit.upgrade = { version = \"1.2.3\"; slotSize = \"16M\"; espSize = \"32M\"; }; }).image.repart.partitions";
    nixtool::eval_json(state, expr).map(|v| v.as_object().unwrap().clone())
}

/// The image systemd-repart makes from those definitions (without `Format=`).
fn build(dir: &Path, parts: &serde_json::Map<String, Value>) -> std::path::PathBuf {
    let defs = dir.join("repart.d");
    std::fs::create_dir(&defs).unwrap();
    for (name, cfg) in parts {
        let mut ini = String::from("[Partition]\n");
        for (k, v) in cfg.as_object().unwrap() {
            // Format= is the build's; SplitName= is newer than systemd 252 (only a warning there).
            if k == "Format" || k == "Minimize" || k == "SplitName" {
                continue;
            }
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            ini.push_str(&format!("{k}={v}\n"));
        }
        std::fs::write(defs.join(format!("{name}.conf")), ini).unwrap();
    }
    let img = dir.join("image.raw");
    let out = Command::new("systemd-repart")
        .args([
            "--empty=create",
            "--size=auto",
            "--dry-run=no",
            "--seed=0867da16-f251-457d-a9e8-c31f9a3c220b",
        ])
        .arg(format!("--definitions={}", defs.display()))
        .arg(&img)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "systemd-repart failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    img
}

/// `sgdisk -i N` fields: (type GUID, name, first sector, size in sectors).
fn partition(img: &Path, n: usize) -> (String, String, u64, u64) {
    let info = String::from_utf8(
        Command::new("sgdisk")
            .arg("-i")
            .arg(n.to_string())
            .arg(img)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let num = |name: &str| -> u64 {
        field(name)
            .split_whitespace()
            .next()
            .unwrap_or_else(|| panic!("no {name} in:\n{info}"))
            .parse()
            .unwrap()
    };
    let ty = field("Partition GUID code:")
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    let name = field("Partition name:").trim_matches('\'').to_string();
    (ty, name, num("First sector:"), num("Partition size:"))
}

#[test]
fn raw_image_has_two_store_slots_and_the_embed_partition_unchanged() {
    if Command::new("systemd-repart")
        .arg("--version")
        .output()
        .is_err()
        || Command::new("sgdisk").arg("--version").output().is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "systemd-repart or sgdisk not found in CI (Debian packages systemd, gdisk)"
        );
        eprintln!("skipping: systemd-repart or sgdisk not found (Debian packages systemd, gdisk)");
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let Some(parts) = repart_configs(state.path()) else {
        return;
    };
    // Only slot A is split out (it is the release's .store); the others say so explicitly.
    let split: Vec<(&str, &str)> = parts
        .iter()
        .filter_map(|(n, c)| Some((n.as_str(), c.get("SplitName")?.as_str()?)))
        .collect();
    assert_eq!(
        split,
        [
            ("00-esp", "-"),
            ("20-store-a", "store"),
            ("30-store-b", "-"),
            ("40-data", "-")
        ]
    );
    assert_eq!(parts["20-store-a"]["Format"], "erofs");
    assert_eq!(parts["40-data"]["Format"], "ext4");

    let dir = tempfile::tempdir().unwrap();
    let img = build(dir.path(), &parts);
    let got: Vec<_> = (1..=5).map(|n| partition(&img, n)).collect();
    let names: Vec<&str> = got.iter().map(|p| p.1.as_str()).collect();
    assert_eq!(
        names,
        [
            "ESP",
            "KATESKIT-EMBED",
            "kateskit_1.2.3",
            "_empty",
            "kateskit-data"
        ]
    );
    let types: Vec<&str> = got.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(
        types,
        [ESP_TYPE, EMBED_TYPE, STORE_TYPE, STORE_TYPE, ROOT_X86_64]
    );
    assert_eq!(got[1].3, 2048, "embed partition is not 1 MiB");
    // Both slots exactly the configured size, so any release that fits one fits the other.
    assert_eq!(got[2].3, 16 * 2048);
    assert_eq!(got[3].3, 16 * 2048);
    assert_eq!(got[0].3, 32 * 2048);
    // In disk order, the data partition last (so it can grow to the disk).
    for w in got.windows(2) {
        assert!(w[0].2 + w[0].3 <= w[1].2, "{got:?}");
    }
    assert!(
        Command::new("sgdisk")
            .arg("-i")
            .arg("6")
            .arg(&img)
            .output()
            .map(|o| !String::from_utf8_lossy(&o.stdout).contains("Partition name:"))
            .unwrap(),
        "more than five partitions"
    );

    // The node side reads the same table: slot A holds 1.2.3, slot B nothing, same size.
    let layout = Layout::read(&img).unwrap();
    let slots: Vec<(&str, Option<String>, u64)> = layout
        .slots
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.version.as_ref().map(|v| v.to_string()),
                s.len,
            )
        })
        .collect();
    assert_eq!(
        slots,
        [
            ("kateskit_1.2.3", Some("1.2.3".to_string()), 16 << 20),
            (EMPTY, None, 16 << 20)
        ]
    );

    let mut f = std::fs::File::open(&img).unwrap();
    f.seek(SeekFrom::Start(got[1].2 * 512)).unwrap();
    let mut buf = vec![1u8; 1 << 20];
    f.read_exact(&mut buf).unwrap();
    assert!(
        buf.iter().all(|&b| b == 0),
        "embed partition is not zero-filled"
    );
}
