//! Loop-device fixtures for disk tests: sparse backing files, real tools, and guards that undo
//! loop devices, mounts and LVM volume groups even when a test fails.
#![allow(dead_code)]

pub mod holder;
pub mod states;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use sha2::{Digest, Sha256};

static LOCK: Mutex<()> = Mutex::new(());

/// Serializes tests that create loop devices, LVM volume groups or mounts.
pub fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// True when the tools and privileges for loop-device tests exist; prints why not otherwise.
pub fn loop_devices_available() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping: loop-device tests need root");
        return false;
    }
    if !Path::new("/dev/loop-control").exists() {
        eprintln!("skipping: /dev/loop-control is missing (no loop driver)");
        return false;
    }
    true
}

/// True when the kernel has device-mapper (needed for active LVM volumes and open LUKS).
pub fn device_mapper_available() -> bool {
    let _ = try_run("modprobe", &["dm_mod"]);
    let misc = std::fs::read_to_string("/proc/misc").unwrap_or_default();
    let ok = misc
        .lines()
        .any(|l| l.trim_end().ends_with(" device-mapper"));
    if !ok {
        eprintln!(
            "skipping: this kernel has no device-mapper (not in /proc/misc; dm_mod not loadable)"
        );
    }
    ok
}

/// Runs a tool; panics with its output if it fails. Returns stdout.
pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .env("DM_DISABLE_UDEV", "1")
        .env("LVM_SUPPRESS_FD_WARNINGS", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a tool and returns (success, stdout+stderr) without panicking.
pub fn try_run(cmd: &str, args: &[&str]) -> (bool, String) {
    match Command::new(cmd)
        .args(args)
        .env("DM_DISABLE_UDEV", "1")
        .env("LVM_SUPPRESS_FD_WARNINGS", "1")
        .output()
    {
        Ok(out) => (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ),
        Err(e) => (false, e.to_string()),
    }
}

/// A loop device over a sparse file; detached on drop.
pub struct LoopDev {
    pub dev: PathBuf,
    pub backing: PathBuf,
    _dir: tempfile::TempDir,
}

impl LoopDev {
    /// Creates a sparse backing file of `bytes` and attaches it (with partition scanning).
    pub fn new(bytes: u64) -> LoopDev {
        let dir = tempfile::Builder::new()
            .prefix("kateskit-disk-")
            .tempdir_in("/var/tmp")
            .expect("tempdir");
        let backing = dir.path().join("disk.img");
        let f = std::fs::File::create(&backing).expect("create backing file");
        f.set_len(bytes).expect("size backing file");
        drop(f);
        let dev = run(
            "losetup",
            &["-f", "--show", "-P", backing.to_str().unwrap()],
        )
        .trim()
        .to_string();
        LoopDev {
            dev: PathBuf::from(dev),
            backing,
            _dir: dir,
        }
    }

    pub fn path(&self) -> &str {
        self.dev.to_str().unwrap()
    }

    /// Kernel name, e.g. `loop3`.
    pub fn name(&self) -> String {
        self.dev.file_name().unwrap().to_string_lossy().into_owned()
    }

    /// See [`sparse_digest`]; read from the backing file.
    pub fn digest(&self) -> String {
        sparse_digest(&self.backing)
    }
}

impl Drop for LoopDev {
    fn drop(&mut self) {
        let _ = try_run("losetup", &["-d", self.path()]);
    }
}

/// A mount made by a test; unmounted on drop (the mount point directory is kept if that fails).
pub struct MountGuard {
    pub dir: PathBuf,
}

impl MountGuard {
    pub fn new(dev: &str) -> MountGuard {
        let dir = tempfile::Builder::new()
            .prefix("kateskit-mnt-")
            .tempdir_in("/var/tmp")
            .expect("tempdir")
            .keep();
        run("mount", &[dev, dir.to_str().unwrap()]);
        MountGuard { dir }
    }
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        let dir = self.dir.to_str().unwrap();
        for _ in 0..10 {
            if try_run("umount", &[dir]).0 || !try_run("mountpoint", &["-q", dir]).0 {
                let _ = std::fs::remove_dir(&self.dir);
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        eprintln!("could not unmount {dir}; left it in place");
    }
}

/// An LVM volume group made by a test; deactivated and removed (with its PVs) on drop.
pub struct VgGuard {
    pub vg: String,
    pub pvs: Vec<String>,
}

impl Drop for VgGuard {
    fn drop(&mut self) {
        let _ = try_run("vgchange", &["-an", &self.vg]);
        let _ = try_run("vgremove", &["-f", &self.vg]);
        for pv in &self.pvs {
            let _ = try_run("pvremove", &["-ff", "-y", pv]);
        }
    }
}

/// SHA-256 over every non-zero 1 MiB chunk of the device's bytes (with its index), read
/// from the backing file. It depends on the bytes only, never on the file's extent layout,
/// and skips the holes of the sparse file so gigabytes of zeros need not be read.
pub fn sparse_digest(path: &Path) -> String {
    use std::os::unix::fs::FileExt;
    use std::os::unix::io::AsRawFd;
    const CHUNK: u64 = 1 << 20;
    let f = std::fs::File::open(path).expect("open backing file");
    let len = f.metadata().expect("stat backing file").len();
    let fd = f.as_raw_fd();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; CHUNK as usize];
    let mut next_chunk = 0u64; // first chunk not yet hashed
    let mut pos = 0u64;
    while pos < len {
        // SAFETY: lseek on an open fd has no memory-safety preconditions.
        let data = unsafe { libc::lseek(fd, pos as i64, libc::SEEK_DATA) };
        if data < 0 {
            break; // ENXIO: only a hole remains
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) } as u64;
        let first = (data as u64 / CHUNK).max(next_chunk);
        let last = hole.div_ceil(CHUNK);
        for chunk in first..last {
            let off = chunk * CHUNK;
            let n = CHUNK.min(len - off) as usize;
            f.read_exact_at(&mut buf[..n], off)
                .expect("read backing file");
            if buf[..n].iter().any(|b| *b != 0) {
                h.update(chunk.to_le_bytes());
                h.update(&buf[..n]);
            }
        }
        next_chunk = last;
        pos = hole;
    }
    h.update(len.to_le_bytes());
    hex::encode(h.finalize())
}

/// What Rook does to a disk it was given: a BlueStore OSD made by Debian's `ceph-osd --mkfs`
/// on `dev` with the given cluster fsid.
pub fn make_osd(dev: &Path, fsid: &str) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("osd");
    std::fs::create_dir(&data).unwrap();
    std::os::unix::fs::symlink(dev, data.join("block")).unwrap();
    let conf = dir.path().join("ceph.conf");
    std::fs::write(&conf, format!("[global]\nfsid = {fsid}\n")).unwrap();
    let osd_uuid = uuid::Uuid::new_v4().to_string();
    run(
        "ceph-osd",
        &[
            "-c",
            conf.to_str().unwrap(),
            "-i",
            "0",
            "--mkfs",
            "--osd-uuid",
            &osd_uuid,
            "--osd-data",
            data.to_str().unwrap(),
            "--no-mon-config",
        ],
    );
}
