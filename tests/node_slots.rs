//! `kateskit node stage|commit|rollback|status` on a two-slot disk built with the real sgdisk,
//! mkfs.vfat, mkfs.ext4 and mtools, attached as a loop device (root). The ESP given to
//! `--esp` is a stand-in: a directory holding a copy of the image's ESP tree (mcopy), since the
//! test host may lack vfat; the QEMU tier boots the real vfat ESP with systemd-boot.
//! The boot loader is a stand-in: between commands the test renames the booted entry and
//! writes `LoaderEntrySelected` / `LoaderBootCountPath` exactly as systemd-boot 252 does
//! (measured in the QEMU tier: the selected id keeps the counter from before the decrement,
//! the count path names the renamed file). The GPT checks use sgdisk, blkid and partx.

mod common;
#[path = "upgrade_support/layout.rs"]
mod layout;

#[path = "upgrade_support/slots_node.rs"]
mod slots_node;

use std::process::Command;

use common::lock;
use layout::{run, store_bytes, SLOT_A, SLOT_B};
use slots_node::{part_dev, setup, Node};

#[test]
fn stage_from_a_dir_boot_it_commit_it() {
    if !setup() {
        return;
    }
    let _l = lock();
    let node = Node::new("1");
    let (dir, pin) = node.release("r2", "2", 300 << 10);
    let out = node.ok_json(&["stage", dir.to_str().unwrap(), "--sums-sha256", &pin]);
    assert_eq!(out["result"], "staged", "{out}");
    assert_eq!(out["slot"], SLOT_B);
    assert_eq!(out["entry"], "kateskit_2+3-0.efi");
    // The GPT as sgdisk reads it: slot B renamed, both tables valid and equal.
    assert_eq!(node.slot_name(SLOT_B), "kateskit_2");
    assert_eq!(node.slot_name(SLOT_A), "kateskit_1");
    let v = run(Command::new("sgdisk").arg("-v").arg(&node.dev));
    assert!(v.contains("No problems found"), "{v}");
    // The backup table alone (primary header and entries zeroed on a copy) names it too.
    let copy = node.tmp.path().join("backup-only.img");
    std::fs::copy(&node.layout.path, &copy).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&copy).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &[0u8; 33 * 512], 512).unwrap();
    drop(f);
    let out = Command::new("sgdisk")
        .arg("-i4")
        .arg(&copy)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let warn = String::from_utf8_lossy(&out.stderr);
    assert!(
        warn.contains("backup"),
        "sgdisk did not read the backup: {warn}{text}"
    );
    assert!(text.contains("Partition name: 'kateskit_2'"), "{text}");
    std::fs::remove_file(&copy).unwrap();
    // The kernel's view after a re-read, and libblkid's probe of the partition.
    run(Command::new("partx").args(["-u", &node.dev]));
    let label = run(Command::new("blkid")
        .args(["-p", "-s", "PART_ENTRY_NAME", "-o", "value"])
        .arg(part_dev(&node.dev, SLOT_B, node.tmp.path())));
    assert_eq!(label.trim(), "kateskit_2");
    // Slot bytes and the entry.
    assert_eq!(
        node.layout.read_at(SLOT_B, 300 << 10),
        store_bytes("2", 300 << 10)
    );
    assert_eq!(node.entries(), ["kateskit_1.efi", "kateskit_2+3-0.efi"]);
    assert_eq!(
        std::fs::read(node.uki_dir().join("kateskit_2+3-0.efi")).unwrap(),
        b"UKI of 2\n"
    );
    let st = node.ok_json(&["status"]);
    assert_eq!(st["version"], "1");
    assert_eq!(st["next_boot"], "kateskit_2+3-0.efi");
    assert_eq!(st["last_upgrade"]["result"], "staged");
    assert_eq!(st["last_upgrade"]["from"], "1");
    // The loader starts the new entry; the gate passed; commit blesses it.
    node.boot("kateskit_2+3-0.efi");
    let st = node.ok_json(&["status"]);
    assert_eq!(st["version"], "2");
    assert_eq!(st["slots"][1]["running"], true);
    assert_eq!(st["entries"][0]["name"], "kateskit_2+2-1.efi");
    assert_eq!(st["entries"][0]["state"], "trying");
    // While 2 is on trial, slot A (1, its fallback) is not overwritten.
    let (dir3, _) = node.release("r3", "3", 100 << 10);
    let before = node.disk_hash();
    let e = node.fails(&["stage", dir3.to_str().unwrap()]);
    assert!(
        e.contains("still on trial") && e.contains("node commit"),
        "{e}"
    );
    assert_eq!(node.disk_hash(), before);
    let c = node.ok_json(&["commit"]);
    assert_eq!(c["result"], "committed", "{c}");
    assert_eq!(node.entries(), ["kateskit_1.efi", "kateskit_2.efi"]);
    let st = node.ok_json(&["status"]);
    assert_eq!(st["last_upgrade"]["result"], "committed");
    assert_eq!(st["entries"][0]["state"], "good");
    // Committing again (or after systemd-bless-boot) changes nothing.
    let c = node.ok_json(&["commit"]);
    assert_eq!(c["result"], "already-good", "{c}");
    // Next upgrade overwrites slot A (version 1) and removes 1's entry, never 2's.
    node.boot("kateskit_2.efi");
    let out = node.ok_json(&["stage", dir3.join("SHA256SUMS").to_str().unwrap()]);
    assert_eq!(out["slot"], SLOT_A);
    assert_eq!(node.slot_name(SLOT_A), "kateskit_3");
    assert_eq!(node.entries(), ["kateskit_2.efi", "kateskit_3+3-0.efi"]);
}

#[test]
fn bad_artifacts_are_refused_before_anything_is_written() {
    if !setup() {
        return;
    }
    let _l = lock();
    let node = Node::new("1");
    let before = node.disk_hash();
    let (dir, pin) = node.release("r2", "2", 300 << 10);
    let store = dir.join("kateskit_2.store");
    let good = std::fs::read(&store).unwrap();
    // Altered UKI (fetched first, so nothing of this release is staged yet).
    let uki = dir.join("kateskit_2.efi");
    std::fs::write(&uki, b"UKI of 2 but altered\n").unwrap();
    let e = node.fails(&["stage", dir.to_str().unwrap()]);
    assert!(e.contains("kateskit_2.efi") && e.contains("SHA-256"), "{e}");
    assert!(!node.state.join("staging/2/kateskit_2.efi").exists());
    std::fs::write(&uki, b"UKI of 2\n").unwrap();
    // Truncated store image.
    std::fs::write(&store, &good[..good.len() / 2]).unwrap();
    let e = node.fails(&["stage", dir.to_str().unwrap()]);
    assert!(
        e.contains("kateskit_2.store") && e.contains("SHA-256"),
        "{e}"
    );
    assert!(e.contains("nothing was written"), "{e}");
    assert!(!node.state.join("staging/2/kateskit_2.store").exists());
    std::fs::write(&store, &good).unwrap();
    // SHA256SUMS not the pinned one.
    let e = node.fails(&[
        "stage",
        dir.to_str().unwrap(),
        "--sums-sha256",
        &"0".repeat(64),
    ]);
    assert!(e.contains("--sums-sha256"), "{e}");
    assert!(node
        .fails(&["stage", dir.to_str().unwrap(), "--sums-sha256", "zz"])
        .contains("SHA-256"));
    // A store image larger than the slot.
    let (big, _) = node.release("big", "2", 5 << 20);
    let e = node.fails(&["stage", big.to_str().unwrap()]);
    assert!(
        e.contains("slot partition 4") && e.contains("nothing was written"),
        "{e}"
    );
    // A bad SHA256SUMS line.
    let (bad, _) = node.release("bad", "2", 1024);
    std::fs::write(bad.join("SHA256SUMS"), "not a sums line\n").unwrap();
    let e = node.fails(&["stage", bad.to_str().unwrap()]);
    assert!(e.contains("SHA256SUMS:1:"), "{e}");
    assert_eq!(node.disk_hash(), before, "a refused stage changed the disk");
    assert_eq!(node.slot_name(SLOT_B), "_empty");
    // And the good release still stages afterwards.
    let out = node.ok_json(&["stage", dir.to_str().unwrap(), "--sums-sha256", &pin]);
    assert_eq!(out["result"], "staged");
}

#[test]
fn same_version_is_a_noop_and_older_is_refused() {
    if !setup() {
        return;
    }
    let _l = lock();
    let node = Node::new("2");
    let before = node.disk_hash();
    let (same, _) = node.release("r2", "2", 1024);
    let out = node.kateskit(&["stage", same.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("already running 2"));
    assert_eq!(
        node.ok_json(&["stage", same.to_str().unwrap()])["result"],
        "already-running"
    );
    let (old, _) = node.release("r1", "1.9", 1024);
    let e = node.fails(&["stage", old.to_str().unwrap()]);
    assert!(
        e.contains("older than the running 2") && e.contains("node rollback"),
        "{e}"
    );
    assert_eq!(node.disk_hash(), before);
    assert!(
        !node.state.join("staging/1.9").exists(),
        "a refused release was downloaded"
    );
}

#[test]
fn rollback_by_command_and_by_running_out_of_tries() {
    if !setup() {
        return;
    }
    let _l = lock();
    let node = Node::new("1");
    // Nothing in the other slot: refused, nothing changed.
    let before = node.disk_hash();
    let e = node.fails(&["rollback"]);
    assert!(
        e.contains("_empty") && e.contains("nothing to roll back to"),
        "{e}"
    );
    assert_eq!(node.disk_hash(), before);
    // Staged and booted 2, then rolled back by command.
    let (dir, _) = node.release("r2", "2", 4096);
    node.ok_json(&["stage", dir.to_str().unwrap()]);
    node.boot("kateskit_2+3-0.efi");
    let r = node.ok_json(&["rollback"]);
    assert_eq!(r["marked_bad"], "kateskit_2+0-1.efi", "{r}");
    assert_eq!(r["next"], "kateskit_1.efi");
    assert_eq!(node.entries(), ["kateskit_1.efi", "kateskit_2+0-1.efi"]);
    node.boot("kateskit_1.efi");
    let st = node.ok_json(&["status"]);
    assert_eq!(st["version"], "1");
    assert_eq!(st["rolled_back_from"], "2");
    assert_eq!(st["entries"][1]["state"], "bad");
    assert_eq!(st["last_upgrade"]["result"], "rolled-back");
    // A second rollback would leave only a bad entry to boot: refused.
    let e = node.fails(&["rollback"]);
    assert!(e.contains("no bootable entry"), "{e}");

    // Automatic: staged with one try, booted once (the gate failed, no commit), the loader
    // falls back to 1; status reports the rollback and commit blesses nothing.
    let (dir3, _) = node.release("r3", "3", 4096);
    node.ok_json(&["stage", dir3.to_str().unwrap(), "--tries", "1"]);
    assert_eq!(node.entries(), ["kateskit_1.efi", "kateskit_3+1-0.efi"]);
    node.boot("kateskit_3+1-0.efi");
    assert_eq!(node.entries(), ["kateskit_1.efi", "kateskit_3+0-1.efi"]);
    node.boot("kateskit_1.efi");
    let st = node.ok_json(&["status"]);
    assert_eq!(st["rolled_back_from"], "3");
    assert_eq!(st["next_boot"], "kateskit_1.efi");
    assert_eq!(st["last_upgrade"]["to"], "3");
    assert_eq!(st["last_upgrade"]["result"], "rolled-back");
    assert_eq!(node.ok_json(&["commit"])["result"], "already-good");
    assert_eq!(
        node.ok_json(&["status"])["last_upgrade"]["result"],
        "rolled-back"
    );
}

#[test]
fn a_disk_without_two_slots_is_refused_by_name() {
    if !setup() {
        return;
    }
    let _l = lock();
    let node = Node::new("1");
    // An older single-root image: the slots' type replaced (sgdisk -t), nothing else.
    run(Command::new("sgdisk")
        .args([
            "-t3:4f68bce3-e8cd-4db1-96e7-fbcaf984b709",
            "-t4:4f68bce3-e8cd-4db1-96e7-fbcaf984b709",
        ])
        .arg(&node.dev));
    let (dir, _) = node.release("r2", "2", 4096);
    let e = node.fails(&["stage", dir.to_str().unwrap()]);
    assert!(
        e.contains(&node.dev) && e.contains("has 0 KatesKit store slots"),
        "{e}"
    );
    assert!(e.contains("reinstall"), "{e}");
}
