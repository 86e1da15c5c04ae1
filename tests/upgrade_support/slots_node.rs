//! The node of the `kateskit node` tests: a two-slot disk (layout.rs) on a loop device, a
//! directory standing in for its mounted ESP (a copy of the image's ESP tree; the test host
//! may have no vfat), efivars and state directories, and a stand-in for systemd-boot that
//! renames the booted entry and writes `LoaderEntrySelected` / `LoaderBootCountPath` as
//! systemd-boot 252 does. Needs `mod common` and `mod layout` in the including test.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::loop_devices_available;
use crate::layout::{run, sgdisk_info, store_bytes, write_release, Layout, LayoutOpts};
use kateskit::slots::efivars::{encode, LOADER_GUID};
use sha2::{Digest, Sha256};

/// A node: the disk image on a loop device, its ESP (a directory stand-in), efivars and state
/// directories.
pub struct Node {
    pub dev: String,
    pub layout: Layout,
    pub esp: PathBuf,
    pub efivars: PathBuf,
    pub state: PathBuf,
    pub tmp: tempfile::TempDir,
}

/// The node of partition `n` of loop device `dev`: /dev/loopNpK when udev made it, else one
/// made here (mknod) from the kernel's numbers in sysfs (no udev in containers).
pub fn part_dev(dev: &str, n: u32, dir: &Path) -> PathBuf {
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
    pub fn new(a_version: &str) -> Node {
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

    pub fn esp(&self) -> &Path {
        &self.esp
    }

    pub fn uki_dir(&self) -> PathBuf {
        self.esp().join("EFI/Linux")
    }

    pub fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.uki_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// Plays systemd-boot starting `file` (in EFI/Linux): a counted entry loses a try and
    /// gains a done before it starts; the variables say what was selected and booted.
    pub fn boot(&self, file: &str) {
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

    pub fn kateskit(&self, args: &[&str]) -> Output {
        self.kateskit_env(args, &[])
    }

    /// `kateskit node ARGS` with extra environment variables.
    pub fn kateskit_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_kateskit"))
            .envs(env.iter().copied())
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

    pub fn ok_json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.kateskit(&a);
        assert!(out.status.success(), "node {args:?} failed");
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.kateskit(args);
        assert!(!out.status.success(), "node {args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// SHA-256 of the whole disk and of every file (name and bytes) under the ESP.
    pub fn disk_hash(&self) -> String {
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

    pub fn slot_name(&self, n: u32) -> String {
        sgdisk_info(Path::new(&self.dev), n).2
    }

    pub fn release(&self, name: &str, version: &str, store_len: usize) -> (PathBuf, String) {
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

/// True when the loop-device tier can run (root); the tools it needs must then exist.
pub fn setup() -> bool {
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
