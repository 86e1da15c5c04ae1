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
    // `box` is a server: its carrier needs the explicit allowance (see the test below).
    kateskit()
        .args(["image", "initrd", "--allow-server-secrets", "--node-config"])
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
        .args(["image", "initrd", "--allow-server-secrets", "--node-config"])
        .arg(&json)
        .arg("-o")
        .arg(&out)
        .assert()
        .failure()
        .stderr(predicates::str::contains("exists; pass --force"));
}

/// A carrier is fetched over TFTP or plain HTTP: a server's config (its token; the first
/// server's CA keys) is refused in one, by `initrd` and by `customize` of a cpio, with nothing
/// written and no secret printed; an agent's is written with a warning naming its token.
#[test]
fn a_servers_config_is_refused_in_a_netboot_carrier() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, json) = node_config(dir.path());
    let token = std::fs::read_to_string(cluster.join("secrets/token")).unwrap();
    let secret = token.trim().rsplit(':').next().unwrap().to_string();
    let out = dir.path().join("box.cpio");
    let refused = kateskit()
        .args(["image", "initrd", "--node-config"])
        .arg(&json)
        .arg("-o")
        .arg(&out)
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    for want in [
        "node box is a server",
        "every CA key",
        "kateskit netboot serve",
        "--allow-server-secrets",
    ] {
        assert!(err.contains(want), "{want:?} missing from: {err}");
    }
    assert!(
        !err.contains(&secret),
        "the refusal printed the token: {err}"
    );
    assert!(!out.exists(), "a refused carrier was written");

    // customize onto a pristine carrier: refused too, the carrier unchanged.
    let agent_dir = dir.path().join("rack");
    kateskit()
        .args(["cluster", "init"])
        .arg(&agent_dir)
        .assert()
        .success();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/rack/cluster.toml"),
        agent_dir.join("cluster.toml"),
    )
    .unwrap();
    let a1 = dir.path().join("a1.cpio");
    let made = kateskit()
        .args(["image", "initrd", "--cluster"])
        .arg(&agent_dir)
        .args(["--node", "a1", "-o"])
        .arg(&a1)
        .assert()
        .success();
    let warn = String::from_utf8_lossy(&made.get_output().stderr).into_owned();
    assert!(
        warn.contains("agent token") && warn.contains("netboot serve"),
        "no warning for an agent's carrier: {warn}"
    );
    let before = sha256_file(&a1);
    let refused = kateskit()
        .args(["image", "customize"])
        .arg(&a1)
        .args(["--in-place", "--cluster"])
        .arg(&agent_dir)
        .args(["--node", "s2"])
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(err.contains("node s2 is a server"), "{err}");
    assert!(
        err.contains("the server token") && !err.contains("every CA key"),
        "s2 is not the first server and carries no CA key: {err}"
    );
    assert_eq!(
        sha256_file(&a1),
        before,
        "the refused customize changed the carrier"
    );
    kateskit()
        .args(["image", "customize"])
        .arg(&a1)
        .args(["--in-place", "--allow-server-secrets", "--cluster"])
        .arg(&agent_dir)
        .args(["--node", "s2"])
        .assert()
        .success();
    assert_ne!(sha256_file(&a1), before);
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
