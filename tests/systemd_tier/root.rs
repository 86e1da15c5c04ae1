//! The Debian root of the systemd tier: debootstrapped once (minbase plus systemd, networkd,
//! timesyncd, udev, iproute2, sshd), cleaned of docs and caches, and cached as a tarball under
//! target/test-assets keyed on the suite and the package list; and the per-boot disk image
//! made from it with the project's binary and unit files.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

pub const SUITE: &str = "bookworm";
pub const MIRROR: &str = "http://deb.debian.org/debian";
/// What the guest needs beyond minbase: real systemd as PID 1 and the services the agent
/// drives; D-Bus because `networkctl reload` (networkd's ExecReload) goes through it, as on
/// NixOS, which always runs it. Changing the list changes the cache key.
pub const PACKAGES: [&str; 7] = [
    "systemd",
    "dbus",
    "systemd-sysv",
    "systemd-timesyncd",
    "udev",
    "iproute2",
    "openssh-server",
];

pub fn sh(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{cmd:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-assets")
}

/// The cached root tarball, built on first use (about a minute with the mirror reachable).
/// A lock file keeps two test processes from building it at once.
pub fn base_tarball() -> Result<PathBuf, String> {
    let key = hex::encode(&Sha256::digest(format!("{SUITE} {MIRROR} {}", PACKAGES.join(",")))[..6]);
    let tar = assets().join(format!("systemd-root-{SUITE}-{key}.tar"));
    if tar.exists() {
        return Ok(tar);
    }
    std::fs::create_dir_all(assets())
        .map_err(|e| format!("creating {}: {e}", assets().display()))?;
    let lock = std::fs::File::create(assets().join("systemd-root.lock"))
        .map_err(|e| format!("creating the root lock: {e}"))?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| format!("locking the root cache: {e}"))?;
    if tar.exists() {
        return Ok(tar);
    }
    let work = tempfile::tempdir_in(assets()).map_err(|e| format!("scratch dir: {e}"))?;
    let root = work.path().join("root");
    eprintln!("systemd tier: debootstrapping Debian {SUITE} into the cache (once)");
    sh(Command::new("timeout")
        .arg("900")
        .arg("debootstrap")
        .arg("--variant=minbase")
        .arg(format!("--include={}", PACKAGES.join(",")))
        .arg(SUITE)
        .arg(&root)
        .arg(MIRROR))?;
    // Docs, man pages, locales and apt's lists are not needed to boot.
    for d in [
        "usr/share/doc",
        "usr/share/man",
        "usr/share/locale",
        "var/cache/apt",
        "var/lib/apt/lists",
    ] {
        let p = root.join(d);
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    // A root cached under another key is stale now.
    if let Ok(rd) = std::fs::read_dir(assets()) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("systemd-root-") && name.ends_with(".tar") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let part = tar.with_extension("tar.part");
    sh(Command::new("tar")
        .arg("-C")
        .arg(&root)
        .args(["--numeric-owner", "-cf"])
        .arg(&part)
        .arg("."))?;
    std::fs::rename(&part, &tar).map_err(|e| format!("renaming {}: {e}", part.display()))?;
    Ok(tar)
}

/// True when the tier's tools are here; otherwise prints why it is skipped.
pub fn tools_present() -> bool {
    if !rustix::process::geteuid().is_root() {
        eprintln!("SKIP: the systemd tier needs root (loop mounts, network namespaces)");
        return false;
    }
    for tool in [
        "qemu-system-x86_64",
        "debootstrap",
        "busybox",
        "cpio",
        "mkfs.ext4",
    ] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !found {
            eprintln!("SKIP: {tool} not installed (tests/debian-packages.txt lists it)");
            return false;
        }
    }
    true
}

/// A raw ext4 disk image loop-mounted at `mnt` until dropped.
pub struct Mounted {
    pub mnt: tempfile::TempDir,
}

impl Mounted {
    pub fn new(img: &Path, read_only: bool) -> Result<Mounted, String> {
        let mnt = tempfile::tempdir().map_err(|e| e.to_string())?;
        let opts = if read_only { "loop,ro,noload" } else { "loop" };
        sh(Command::new("mount")
            .args(["-o", opts])
            .arg(img)
            .arg(mnt.path()))?;
        Ok(Mounted { mnt })
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.mnt.path().join(rel.trim_start_matches('/'))
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.mnt.path()).status();
    }
}

/// An empty sparse ext4 image of `mib` MiB holding the cached root.
pub fn disk_from_base(img: &Path, mib: u64) -> Result<(), String> {
    let tar = base_tarball()?;
    let f = std::fs::File::create(img).map_err(|e| format!("{}: {e}", img.display()))?;
    f.set_len(mib << 20).map_err(|e| e.to_string())?;
    drop(f);
    sh(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "root"])
        .arg(img))?;
    let m = Mounted::new(img, false)?;
    sh(Command::new("tar")
        .arg("-C")
        .arg(m.mnt.path())
        .args(["--numeric-owner", "-xf"])
        .arg(&tar))?;
    Ok(())
}
