//! Real-tool tier for the raw image's embed partition: the `repartConfig` of every partition
//! is evaluated from images/raw.nix itself (nix-instantiate with empty stand-ins for `config`,
//! `lib` and `pkgs`; only literal attributes are forced), written as one `<attribute>.conf`
//! per partition as nixpkgs' image/repart.nix does, and given to Debian's systemd-repart.
//! The partition table must then hold KATESKIT-EMBED: type 3b6c0d5d-..., exactly 1 MiB, zeros,
//! between the ESP and the root partition. File-system creation (`Format=`, `Minimize=`) is
//! left out: that is nixpkgs' part of the build and needs loop devices.

mod nixtool;

use std::io::{Read, Seek, SeekFrom};
use std::process::Command;

use serde_json::Value;

const EMBED_TYPE: &str = "3B6C0D5D-DE39-40BD-9E6C-08B15A369D15";

fn repart_configs(state: &std::path::Path) -> Option<serde_json::Map<String, Value>> {
    let expr = "builtins.mapAttrs (n: p: p.repartConfig) (import ./images/raw.nix { config = { }; lib = { }; pkgs = { }; modulesPath = \"/modules\"; }).image.repart.partitions";
    nixtool::eval_json(state, expr).map(|v| v.as_object().unwrap().clone())
}

#[test]
fn raw_image_embed_partition_matches_the_contract() {
    if Command::new("systemd-repart")
        .arg("--version")
        .output()
        .is_err()
        || Command::new("sgdisk").arg("--version").output().is_err()
    {
        eprintln!("skipping: systemd-repart or sgdisk not found (Debian packages systemd, gdisk)");
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let Some(parts) = repart_configs(state.path()) else {
        return;
    };
    assert_eq!(parts["10-embed"]["Label"], "KATESKIT-EMBED");

    let dir = tempfile::tempdir().unwrap();
    let defs = dir.path().join("repart.d");
    std::fs::create_dir(&defs).unwrap();
    for (name, cfg) in &parts {
        let mut ini = String::from("[Partition]\n");
        for (k, v) in cfg.as_object().unwrap() {
            if k == "Format" || k == "Minimize" {
                continue;
            }
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            ini.push_str(&format!("{k}={v}\n"));
        }
        if !cfg.as_object().unwrap().contains_key("SizeMinBytes") {
            ini.push_str("SizeMinBytes=64M\n");
        }
        std::fs::write(defs.join(format!("{name}.conf")), ini).unwrap();
    }
    let img = dir.path().join("image.raw");
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

    // Partition 2 (after the ESP, before root) is the embed area.
    let info = String::from_utf8(
        Command::new("sgdisk")
            .arg("-i")
            .arg("2")
            .arg(&img)
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
    assert!(
        field("Partition GUID code:").starts_with(EMBED_TYPE),
        "{info}"
    );
    assert_eq!(field("Partition name:"), "'KATESKIT-EMBED'");
    assert!(
        field("Partition size:").starts_with("2048 sectors"),
        "embed partition is not 1 MiB:\n{info}"
    );
    let first: u64 = field("First sector:")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let table = String::from_utf8(
        Command::new("sgdisk")
            .arg("-p")
            .arg(&img)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let names: Vec<&str> = table
        .lines()
        .filter(|l| l.trim_start().starts_with(char::is_numeric))
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    assert_eq!(names, ["ESP", "KATESKIT-EMBED", "nixos"], "{table}");

    let mut f = std::fs::File::open(&img).unwrap();
    f.seek(SeekFrom::Start(first * 512)).unwrap();
    let mut buf = vec![1u8; 1 << 20];
    f.read_exact(&mut buf).unwrap();
    assert!(
        buf.iter().all(|&b| b == 0),
        "embed partition is not zero-filled"
    );
}
