//! `kateskit node stage|commit|rollback|status` on a two-slot disk built with the real sgdisk,
//! mkfs.vfat, mkfs.ext4 and mtools, attached as a loop device (root). The ESP given to
//! `--esp` is a stand-in: a directory holding a copy of the image's ESP tree (mcopy), since the
//! test host may lack vfat; the QEMU tier boots the real vfat ESP with systemd-boot.
//! The boot loader is a stand-in: between commands the test renames the booted entry and
//! writes `LoaderEntrySelected` / `LoaderBootCountPath` exactly as systemd-boot 252 does
//! (measured in the QEMU tier: the selected id keeps the counter from before the decrement,
//! the count path names the renamed file). The GPT checks use sgdisk, blkid and partx.

mod common;
mod http_peer;
#[path = "upgrade_support/layout.rs"]
mod layout;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{lock, loop_devices_available};
use kateskit::slots::efivars::{encode, LOADER_GUID};
use layout::{run, sgdisk_info, store_bytes, write_release, Layout, LayoutOpts, SLOT_A, SLOT_B};
use sha2::{Digest, Sha256};

/// A node: the disk image on a loop device, its ESP mounted, efivars and state directories.
struct Node {
    dev: String,
    layout: Layout,
    esp: PathBuf,
    efivars: PathBuf,
    state: PathBuf,
    tmp: tempfile::TempDir,
}

/// The node of partition `n` of loop device `dev`: /dev/loopNpK when udev made it, else one
/// made here (mknod) from the kernel's numbers in sysfs (no udev in containers).
fn part_dev(dev: &str, n: u32, dir: &Path) -> PathBuf {
    let name = format!("{}p{n}", dev.trim_start_matches("/dev/"));
    let std_node = Path::new("/dev").join(&name);
    if std_node.exists() {
        return std_node;
    }
    let sys = format!("/sys/class/block/{name}/dev");
    if !Path::new(&sys).exists() {
        // The scan at attach time can miss; ask the kernel for the partitions again.
        let _ = Command::new("partx").args(["-a", dev]).output();
    }
    let t0 = std::time::Instant::now();
    let text = loop {
        match std::fs::read_to_string(&sys) {
            Ok(t) => break t,
            Err(e) if t0.elapsed() > std::time::Duration::from_secs(5) => panic!("{sys}: {e}"),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    };
    let (ma, mi) = text.trim().split_once(':').unwrap();
    let node = dir.join(&name);
    let _ = std::fs::remove_file(&node);
    let c = std::ffi::CString::new(node.to_str().unwrap()).unwrap();
    // SAFETY: mknod only creates a device node at a path in the test's own directory.
    let rc = unsafe {
        libc::mknod(
            c.as_ptr(),
            libc::S_IFBLK | 0o600,
            libc::makedev(ma.parse().unwrap(), mi.parse().unwrap()),
        )
    };
    assert_eq!(
        rc,
        0,
        "mknod {}: {}",
        node.display(),
        std::io::Error::last_os_error()
    );
    node
}

impl Node {
    fn new(a_version: &str) -> Node {
        let tmp = tempfile::Builder::new()
            .prefix("kateskit-slots-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let opts = LayoutOpts {
            a_version: a_version.into(),
            a_store: store_bytes(a_version, 256 << 10),
            ..LayoutOpts::default()
        };
        let layout = Layout::build(&tmp.path().join("disk.img"), &opts);
        let dev = run(Command::new("losetup")
            .args(["-f", "--show", "-P"])
            .arg(&layout.path))
        .trim()
        .to_string();
        let efivars = tmp.path().join("efivars");
        let state = tmp.path().join("state");
        std::fs::create_dir_all(&efivars).unwrap();
        let esp = tmp.path().join("esp");
        std::fs::create_dir_all(&esp).unwrap();
        run(Command::new("mcopy")
            .args(["-s", "-i"])
            .arg(format!("{}@@{}", layout.path.display(), layout.parts[0].0))
            .args(["::/EFI", "::/loader"])
            .arg(&esp));
        let n = Node {
            dev,
            layout,
            esp,
            efivars,
            state,
            tmp,
        };
        n.boot(&format!("kateskit_{a_version}.efi"));
        n
    }

    fn esp(&self) -> &Path {
        &self.esp
    }

    fn uki_dir(&self) -> PathBuf {
        self.esp().join("EFI/Linux")
    }

    fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.uki_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// Plays systemd-boot starting `file` (in EFI/Linux): a counted entry loses a try and
    /// gains a done before it starts; the variables say what was selected and booted.
    fn boot(&self, file: &str) {
        let var = |name: &str| self.efivars.join(format!("{name}-{LOADER_GUID}"));
        std::fs::write(var("LoaderEntrySelected"), encode(file)).unwrap();
        let _ = std::fs::remove_file(var("LoaderBootCountPath"));
        let stem = file.strip_suffix(".efi").unwrap();
        if let Some((v, counter)) = stem.split_once('+') {
            let (l, d) = counter.split_once('-').unwrap_or((counter, "0"));
            let (l, d): (u32, u32) = (l.parse().unwrap(), d.parse().unwrap());
            assert!(
                l > 0,
                "systemd-boot does not pick {file} while another entry is good"
            );
            let renamed = format!("{v}+{}-{}.efi", l - 1, d + 1);
            std::fs::rename(self.uki_dir().join(file), self.uki_dir().join(&renamed)).unwrap();
            std::fs::write(
                var("LoaderBootCountPath"),
                encode(&format!("\\EFI\\Linux\\{renamed}")),
            )
            .unwrap();
        }
    }

    fn kateskit(&self, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_kateskit"))
            .arg("node")
            .args(args)
            .arg("--disk")
            .arg(&self.dev)
            .arg("--esp")
            .arg(self.esp())
            .arg("--state")
            .arg(&self.state)
            .env("KATESKIT_EFIVARS_DIR", &self.efivars)
            .output()
            .unwrap();
        eprintln!(
            "node {args:?}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn ok_json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.kateskit(&a);
        assert!(out.status.success(), "node {args:?} failed");
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.kateskit(args);
        assert!(!out.status.success(), "node {args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// SHA-256 of the whole disk and of every file (name and bytes) under the ESP.
    fn disk_hash(&self) -> String {
        let f = std::fs::File::open(&self.dev).unwrap();
        let mut h = Sha256::new();
        std::io::copy(&mut std::io::BufReader::new(f), &mut h).unwrap();
        let mut files = Vec::new();
        let mut stack = vec![self.esp.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    files.push(p);
                }
            }
        }
        files.sort();
        for p in files {
            h.update(p.to_string_lossy().as_bytes());
            h.update(std::fs::read(&p).unwrap());
        }
        hex::encode(h.finalize())
    }

    fn slot_name(&self, n: u32) -> String {
        sgdisk_info(Path::new(&self.dev), n).2
    }

    fn release(&self, name: &str, version: &str, store_len: usize) -> (PathBuf, String) {
        let dir = self.tmp.path().join(name);
        let pin = write_release(
            &dir,
            version,
            format!("UKI of {version}\n").as_bytes(),
            &store_bytes(version, store_len),
        );
        (dir, pin)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
    }
}

fn setup() -> bool {
    let ok = loop_devices_available();
    for tool in [
        "sgdisk",
        "mkfs.vfat",
        "mkfs.ext4",
        "mcopy",
        "blkid",
        "partx",
    ] {
        assert!(
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .unwrap()
                .status
                .success()
                || !ok,
            "{tool} is missing (tests/debian-packages.txt lists its package)"
        );
    }
    ok
}

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
    let (dir3, _) = node.release("r3", "3", 100 << 10);
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
fn stage_over_http_downloads_once() {
    if !setup() {
        return;
    }
    let _l = lock();
    let node = Node::new("1");
    let (dir, pin) = node.release("r2", "2", 300 << 10);
    let work = node.tmp.path().join("nginx");
    std::fs::create_dir_all(&work).unwrap();
    let Some(nginx) = http_peer::Nginx::start(node.tmp.path(), &work) else {
        return;
    };
    let proxy = http_peer::Proxy::start(nginx.port, http_peer::Fault::CutEvery(1 << 40));
    let url = format!("http://127.0.0.1:{}/r2/", proxy.port);
    let before = node.disk_hash();
    let out = node.ok_json(&["stage", &url, "--sums-sha256", &pin, "--fetch-only"]);
    assert_eq!(out["result"], "fetched", "{out}");
    assert_eq!(node.disk_hash(), before, "--fetch-only wrote to the disk");
    assert!(node.state.join("staging/2/kateskit_2.store").exists());
    let out = node.ok_json(&["stage", &format!("{url}SHA256SUMS"), "--sums-sha256", &pin]);
    assert_eq!(out["result"], "staged", "{out}");
    assert_eq!(node.slot_name(SLOT_B), "kateskit_2");
    let reqs = proxy.requests.lock().unwrap().clone();
    let gets = |name: &str| reqs.iter().filter(|r| r.contains(name)).count();
    assert_eq!(gets("kateskit_2.store"), 1, "{reqs:?}");
    assert_eq!(gets("kateskit_2.efi"), 1, "{reqs:?}");
    drop(dir);
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
