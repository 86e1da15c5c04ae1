//! The release directory and the systemd-sysupdate path, real-tool and evaluation tiers:
//! nix/update.sh (what `system.build.kateskitUpdate` runs) cuts a real erofs made by Debian's
//! mkfs.erofs out of a fixed-size slot image, as systemd-repart splits slot A out, and
//! writes kateskit_<V>.efi, kateskit_<V>.store and SHA256SUMS; the sysupdate transfers
//! (nix/sysupdate.nix) must match those names and the boot entries `kateskit node stage`
//! writes, so both ways of installing a release leave the same disk.

mod nixtool;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use kateskit::slots::layout::{EMPTY, STORE_SLOT_TYPE};
use kateskit::slots::release::parse_sums;
use kateskit::slots::Version;
use nixtool::{eval_json, repo};

fn tools() -> bool {
    for t in ["mkfs.erofs", "fsck.erofs"] {
        if Command::new(t).arg("--help").output().is_err() {
            eprintln!(
                "skipping: {t} not found (Debian package erofs-utils; tests/run installs it)"
            );
            return false;
        }
    }
    true
}

/// An erofs of a small tree (a few blocks) in `dir/fs.erofs`.
fn erofs(dir: &Path) -> Vec<u8> {
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("abc-system/bin")).unwrap();
    std::fs::write(tree.join("abc-system/init"), "#!/bin/sh\n").unwrap();
    std::fs::write(tree.join("abc-system/bin/big"), vec![7u8; 50_000]).unwrap();
    let img = dir.join("fs.erofs");
    let out = Command::new("mkfs.erofs")
        .arg("-T0")
        .arg(&img)
        .arg(&tree)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    std::fs::read(img).unwrap()
}

fn update(dir: &Path, version: &str, part: &Path) -> Output {
    let uki = dir.join("uki.efi");
    std::fs::write(&uki, b"MZ stand-in UKI").unwrap();
    Command::new("bash")
        .arg(repo().join("nix/update.sh"))
        .arg(version)
        .arg(&uki)
        .arg(part)
        .arg(dir.join("out"))
        .output()
        .unwrap()
}

#[test]
fn the_release_is_the_uki_the_store_erofs_and_their_sums() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fs = erofs(dir.path());
    // The split partition: the erofs followed by the slot's unused (zero) tail.
    let part = dir.path().join("image.store.raw");
    let mut bytes = fs.clone();
    bytes.resize(8 << 20, 0);
    std::fs::write(&part, &bytes).unwrap();

    let out = update(dir.path(), "1.4.0", &part);
    assert!(out.status.success(), "{out:?}");
    let rel = dir.path().join("out");
    let mut names: Vec<String> = std::fs::read_dir(&rel)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["SHA256SUMS", "kateskit_1.4.0.efi", "kateskit_1.4.0.store"]
    );
    let store = std::fs::read(rel.join("kateskit_1.4.0.store")).unwrap();
    assert_eq!(
        store.len(),
        fs.len(),
        "the store is cut at the erofs size, not the slot's"
    );
    assert_eq!(store, fs);
    let fsck = Command::new("fsck.erofs")
        .arg(rel.join("kateskit_1.4.0.store"))
        .output()
        .unwrap();
    assert!(fsck.status.success(), "fsck.erofs: {fsck:?}");
    for n in ["kateskit_1.4.0.efi", "kateskit_1.4.0.store"] {
        let mode = std::fs::metadata(rel.join(n)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o444, "{n}");
    }

    // `<64 hex>  <name>`, one line per artifact, each hash that of the file.
    let sums = std::fs::read_to_string(rel.join("SHA256SUMS")).unwrap();
    let lines: Vec<(&str, &str)> = sums
        .lines()
        .map(|l| {
            l.split_once("  ")
                .expect("two spaces between hash and name")
        })
        .collect();
    assert_eq!(lines.len(), 2, "{sums}");
    for (hash, name) in lines {
        let want = hex::encode(Sha256::digest(std::fs::read(rel.join(name)).unwrap()));
        assert_eq!(hash, want, "{name}");
    }
    // What `kateskit node stage` reads from it.
    let release = parse_sums(&sums, "SHA256SUMS").unwrap();
    assert_eq!(release.version.to_string(), "1.4.0");
    assert_eq!(release.uki.name, "kateskit_1.4.0.efi");
    assert_eq!(release.store.name, "kateskit_1.4.0.store");
}

#[test]
fn a_slot_without_a_whole_erofs_is_refused_naming_it() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("zeros.store.raw");
    std::fs::write(&part, vec![0u8; 1 << 20]).unwrap();
    let out = update(dir.path(), "1.4.0", &part);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!("{}: no erofs superblock", part.display())),
        "{err}"
    );
    assert!(!dir.path().join("out").exists(), "wrote a release anyway");

    // A slot image shorter than the file system it holds (a cut-off copy).
    let fs = erofs(dir.path());
    let short = dir.path().join("short.store.raw");
    std::fs::write(&short, &fs[..fs.len() - 4096]).unwrap();
    let out = update(dir.path(), "1.4.0", &short);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!("erofs claims {} bytes", fs.len())),
        "{err}"
    );
}

/// Matches a sysupdate.d(5) pattern: `@v` a version, `@l`/`@d` tries left/done (digits).
fn matches(pattern: &str, name: &str, version: &str) -> bool {
    if let Some(rest) = pattern.strip_prefix("@v") {
        return name
            .strip_prefix(version)
            .is_some_and(|n| matches(rest, n, version));
    }
    if let Some(rest) = pattern
        .strip_prefix("@l")
        .or_else(|| pattern.strip_prefix("@d"))
    {
        let digits = name.chars().take_while(char::is_ascii_digit).count();
        return digits > 0 && matches(rest, &name[digits..], version);
    }
    match (pattern.chars().next(), name.chars().next()) {
        (None, None) => true,
        (Some(p), Some(n)) if p == n => matches(&pattern[1..], &name[1..], version),
        _ => false,
    }
}

fn transfers() -> Option<Value> {
    let state = tempfile::tempdir().unwrap();
    eval_json(
        state.path(),
        "import ./nix/sysupdate.nix { slots = import ./nix/slots.nix; url = \"https://releases.example/kk/\"; tries = 3; }",
    )
}

#[test]
fn sysupdate_installs_the_release_where_node_stage_does() {
    let Some(t) = transfers() else { return };
    let names: Vec<&String> = t.as_object().unwrap().keys().collect();
    // sysupdate runs the transfers in name order: the store before the UKI that mounts it.
    assert_eq!(names, ["10-kateskit-store", "20-kateskit-uki"]);
    let (store, uki) = (&t["10-kateskit-store"], &t["20-kateskit-uki"]);
    for tr in [store, uki] {
        assert_eq!(tr["Source"]["Type"], "url-file");
        assert_eq!(tr["Source"]["Path"], "https://releases.example/kk/");
        // The running version (os-release IMAGE_VERSION) is never overwritten.
        assert_eq!(tr["Transfer"]["ProtectVersion"], "%A");
        assert_eq!(tr["Target"]["InstancesMax"], 2);
    }
    let v = "1.4.0";
    // The sources are the files update.sh writes.
    assert!(matches(
        store["Source"]["MatchPattern"].as_str().unwrap(),
        "kateskit_1.4.0.store",
        v
    ));
    assert!(matches(
        uki["Source"]["MatchPattern"].as_str().unwrap(),
        "kateskit_1.4.0.efi",
        v
    ));
    // The store goes to a slot partition of the store type, named as the UKI mounts it.
    assert_eq!(store["Target"]["Type"], "partition");
    assert_eq!(
        store["Target"]["MatchPartitionType"],
        "1abe2ad4-1252-43fc-b3e0-5eec1c866266"
    );
    let label = store["Target"]["MatchPattern"].as_str().unwrap();
    assert!(matches(label, "kateskit_1.4.0", v));
    assert!(!matches(label, "_empty", v));
    // The UKI lands in ESP/EFI/Linux as staging names it (kateskit_<V>+<tries>-0.efi), and
    // each later name (tried, bad, blessed) is still recognised as this version's.
    assert_eq!(uki["Target"]["Path"], "/EFI/Linux");
    assert_eq!(uki["Target"]["PathRelativeTo"], "boot");
    assert_eq!(uki["Target"]["TriesLeft"], 3);
    assert_eq!(uki["Target"]["TriesDone"], 0);
    let pats: Vec<&str> = uki["Target"]["MatchPattern"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    let first = pats[0]
        .replace("@v", v)
        .replace("@l", &uki["Target"]["TriesLeft"].to_string())
        .replace("@d", &uki["Target"]["TriesDone"].to_string());
    assert_eq!(first, "kateskit_1.4.0+3-0.efi", "the name sysupdate writes");
    for name in [
        "kateskit_1.4.0+3-0.efi",
        "kateskit_1.4.0+0-3.efi",
        "kateskit_1.4.0+2.efi",
        "kateskit_1.4.0.efi",
    ] {
        assert!(
            pats.iter().any(|p| matches(p, name, v)),
            "{name} not matched by {pats:?}"
        );
    }
    assert!(!pats.iter().any(|p| matches(p, "kateskit_1.4.1.efi", v)));
    assert_eq!(json!(pats.len()), json!(3));
}

#[test]
fn the_pattern_matcher_is_strict() {
    assert!(matches("a_@v+@l-@d.efi", "a_1+3-0.efi", "1"));
    assert!(!matches("a_@v+@l-@d.efi", "a_1+-0.efi", "1"));
    assert!(!matches("a_@v.efi", "a_2.efi", "1"));
    assert!(!matches("a_@v.efi", "a_1.efix", "1"));
}

/// nix/slots.nix (the image side) and the slots library (the node side) name the same things
/// and accept the same versions; the image side also keeps the GPT name within 36 characters.
#[test]
fn the_image_and_the_node_agree_on_names_and_versions() {
    let candidates = [
        "1.0",
        "2~rc1",
        "a^b-c",
        "0.1.0.20261201211650",
        "1.0_rc",
        "1+2",
        "-1",
        "",
        "1/2",
        ".1",
        "v1",
        "1..2",
        "123456789012345678901234567",
        "1234567890123456789012345678",
    ];
    let list = candidates
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(" ");
    let state = tempfile::tempdir().unwrap();
    let Some(v) = eval_json(
        state.path(),
        &format!(
            "let s = import ./nix/slots.nix; in {{ inherit (s) storeType emptyLabel maxImageVersion;
               label = s.storeLabel \"V\"; uki = s.ukiName \"V\"; store = s.storeName \"V\";
               problems = map (v: s.versionProblem v) [ {list} ]; }}"
        ),
    ) else {
        return;
    };
    assert_eq!(v["storeType"], STORE_SLOT_TYPE.to_string());
    assert_eq!(v["emptyLabel"], EMPTY);
    assert_eq!(v["label"], "kateskit_V");
    assert_eq!(v["uki"], "kateskit_V.efi");
    assert_eq!(v["store"], "kateskit_V.store");
    let max = v["maxImageVersion"].as_u64().unwrap() as usize;
    assert_eq!(max, 36 - "kateskit_".len());
    for (c, p) in candidates.iter().zip(v["problems"].as_array().unwrap()) {
        let node = Version::parse(c).is_ok();
        let image = p.is_null();
        assert_eq!(
            image,
            node && c.len() <= max,
            "{c:?}: image says {p}, node parse ok: {node}"
        );
    }
}
