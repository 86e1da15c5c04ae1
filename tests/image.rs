//! `kateskit image` against fixtures made by xorriso, sgdisk, mkfs.vfat and mtools
//! (tests/fixtures/regen.sh), checked with the same tools.

mod image_common;

use std::path::Path;
use std::process::Command;

use image_common::*;
use kateskit::image::{customize, embed};

/// Area bytes as xorriso extracts them from the ISO tree.
fn xorriso_extract(iso: &Path, out: &Path) -> Vec<u8> {
    run(Command::new("xorriso")
        .args(["-no_rc", "-osirrox", "on", "-indev"])
        .arg(iso)
        .args(["-extract", "/kateskit/embed.img"])
        .arg(out));
    std::fs::read(out).unwrap()
}

fn json_value(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn iso_in_place_stamp_is_visible_to_xorriso_and_touches_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let (_, json) = node_config(dir.path());
    let iso = fixture_copy(dir.path(), "embed.iso");
    let pristine = sha256_file(&iso);
    kateskit()
        .args(["image", "customize"])
        .arg(&iso)
        .arg("--node-config")
        .arg(&json)
        .args([
            "--karg",
            "ip=dhcp",
            "--karg",
            "kateskit.debug=1",
            "--in-place",
        ])
        .assert()
        .success();

    let (carrier, raw) = customize::read_raw(&iso).unwrap();
    let extracted = xorriso_extract(&iso, &dir.path().join("x.img"));
    assert_eq!(extracted, raw, "xorriso sees exactly the stamped bytes");
    let got = embed::read_area(&extracted).unwrap().expect("stamped");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(got.node_config_json.as_deref().unwrap())
            .unwrap(),
        json_value(&json)
    );
    assert_eq!(got.kargs, ["ip=dhcp", "kateskit.debug=1"]);
    assert_ne!(sha256_file(&iso), pristine);
    assert_eq!(
        sha256_with_zeroed(&iso, carrier.extent.offset, carrier.extent.len),
        pristine,
        "bytes outside the area changed"
    );

    // The filesystem still reads: isoinfo lists it, and every other file extracts identically.
    let listing = run(Command::new("isoinfo").args(["-R", "-l", "-i"]).arg(&iso));
    assert!(
        listing.contains("embed.img") && listing.contains("README.txt"),
        "{listing}"
    );
    let (a, b) = (dir.path().join("tree-a"), dir.path().join("tree-b"));
    run(Command::new("xorriso")
        .args(["-no_rc", "-osirrox", "on", "-indev"])
        .arg(fixture("embed.iso"))
        .args(["-extract", "/"])
        .arg(&a));
    run(Command::new("xorriso")
        .args(["-no_rc", "-osirrox", "on", "-indev"])
        .arg(&iso)
        .args(["-extract", "/"])
        .arg(&b));
    let diff = Command::new("diff")
        .arg("-r")
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&diff.stdout);
    assert_eq!(text.lines().count(), 1, "only embed.img differs: {text}");
    assert!(text.contains("kateskit/embed.img"), "{text}");
    let media = Command::new("xorriso")
        .args(["-no_rc", "-indev"])
        .arg(&iso)
        .args(["-check_media", "--"])
        .output()
        .unwrap();
    assert!(
        media.status.success(),
        "{}",
        String::from_utf8_lossy(&media.stderr)
    );

    kateskit()
        .args(["image", "reset"])
        .arg(&iso)
        .assert()
        .success();
    assert_eq!(
        sha256_file(&iso),
        pristine,
        "reset restores the build-time bytes exactly"
    );
    kateskit()
        .args(["image", "inspect"])
        .arg(&iso)
        .assert()
        .success()
        .stdout(predicates::str::contains("empty (pristine zeros)"));
}

#[test]
fn copy_mode_leaves_the_source_alone_and_never_clobbers_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, _) = node_config(dir.path());
    let iso = fixture_copy(dir.path(), "embed.iso");
    let pristine = sha256_file(&iso);
    let out = dir.path().join("box.iso");
    let stamp = |extra: &[&str]| {
        let mut c = kateskit();
        c.args(["image", "customize"])
            .arg(&iso)
            .arg("--cluster")
            .arg(&cluster)
            .args(["--node", "box", "-o"])
            .arg(&out)
            .args(extra);
        c.assert()
    };
    // The status line names the copy method (which one depends on the filesystem).
    stamp(&[]).success().stderr(
        predicates::str::is_match(
            r"copied from .*embed\.iso \((reflink|direct I/O|copy_file_range|read/write)\)",
        )
        .unwrap(),
    );
    assert_eq!(sha256_file(&iso), pristine);
    let inspect = kateskit()
        .args(["image", "inspect", "--json"])
        .arg(&out)
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&inspect.get_output().stdout).unwrap();
    assert_eq!(v["state"], "stamped");
    assert_eq!(v["node"], "box");
    assert_eq!(v["role"], "server");
    assert_eq!(v["carrier"]["kind"], "iso");
    assert!(
        !String::from_utf8_lossy(&inspect.get_output().stdout).contains("BEGIN"),
        "inspect must not print key material"
    );

    std::fs::write(&out, b"precious").unwrap();
    stamp(&[])
        .failure()
        .stderr(predicates::str::contains("exists; pass --force"));
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    stamp(&["--force"]).success();
    let (c, _) = customize::read_raw(&out).unwrap();
    assert_eq!(
        sha256_with_zeroed(&out, c.extent.offset, c.extent.len),
        pristine
    );
    let leftovers = leftovers(dir.path());
    assert!(
        leftovers.is_empty(),
        "temp files left behind: {leftovers:?}"
    );
}

#[test]
fn gpt_partition_stamp_keeps_table_and_esp_intact() {
    let dir = tempfile::tempdir().unwrap();
    let (_, json) = node_config(dir.path());
    let img = fixture_copy(dir.path(), "gpt.img.zst");
    let pristine = sha256_file(&img);
    kateskit()
        .args(["image", "customize"])
        .arg(&img)
        .arg("--node-config")
        .arg(&json)
        .arg("--in-place")
        .assert()
        .success();
    let (carrier, raw) = customize::read_raw(&img).unwrap();
    assert_eq!(
        carrier.extent,
        kateskit::image::Extent {
            offset: 4096 * 512,
            len: 1 << 20
        }
    );
    // dd reads the partition sgdisk made; it holds exactly the stamped area.
    let part = dir.path().join("part.img");
    run(Command::new("dd")
        .arg(format!("if={}", img.display()))
        .arg(format!("of={}", part.display()))
        .args(["bs=512", "skip=4096", "count=2048", "status=none"]));
    assert_eq!(std::fs::read(&part).unwrap(), raw);
    assert!(embed::read_area(&raw)
        .unwrap()
        .unwrap()
        .node_config_json
        .is_some());
    assert_eq!(
        sha256_with_zeroed(&img, carrier.extent.offset, carrier.extent.len),
        pristine
    );
    let verify = run(Command::new("sgdisk").arg("-v").arg(&img));
    assert!(verify.contains("No problems found"), "{verify}");
    let esp = run(Command::new("mtype")
        .arg("-i")
        .arg(format!("{}@@1M", img.display()))
        .arg("::/hello.txt"));
    assert_eq!(esp, "esp file\n");
    kateskit()
        .args(["image", "reset"])
        .arg(&img)
        .assert()
        .success();
    assert_eq!(sha256_file(&img), pristine);
}

/// `-o` names a device node (made here with mknod, the way /dev/sdX is one) or another
/// non-file: even with --force the node is left in place, never renamed over, and the message
/// points to `kateskit flash`.
#[test]
fn copy_mode_refuses_an_output_that_is_not_a_regular_file() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let (cluster, _) = node_config(dir.path());
    let iso = fixture_copy(dir.path(), "embed.iso");
    let fifo = dir.path().join("pipe");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo has no other preconditions.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let mut outs = vec![(fifo, "fifo"), (dir.path().join("sub"), "dir")];
    std::fs::create_dir(&outs[1].0).unwrap();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let node = dir.path().join("sdx");
        let c = std::ffi::CString::new(node.to_str().unwrap()).unwrap();
        // A block node for a device number no disk uses (major 7 = loop, minor 255 unattached).
        // SAFETY: as above; mknod only creates the node.
        let rc = unsafe { libc::mknod(c.as_ptr(), libc::S_IFBLK | 0o600, libc::makedev(7, 255)) };
        assert_eq!(rc, 0, "mknod: {}", std::io::Error::last_os_error());
        outs.push((node, "block"));
    } else {
        eprintln!("not root: checking a FIFO and a directory, not a block node");
    }
    for (out, what) in &outs {
        kateskit()
            .args(["image", "customize"])
            .arg(&iso)
            .arg("--cluster")
            .arg(&cluster)
            .args(["--node", "box", "--force", "-o"])
            .arg(out)
            .assert()
            .failure()
            .stderr(predicates::str::contains("is not a regular file"))
            .stderr(predicates::str::contains("kateskit flash"));
        let ft = std::fs::symlink_metadata(out).unwrap().file_type();
        let still = match *what {
            "fifo" => ft.is_fifo(),
            "dir" => ft.is_dir(),
            _ => ft.is_block_device(),
        };
        assert!(still, "{what} output was replaced");
    }
    assert!(leftovers(dir.path()).is_empty());
}
