//! What a slot of VERSION is made of in the QEMU tests: a store image (bytes the UKI of VERSION
//! finds in the slot named `kateskit_<VERSION>`), the test initramfs with the debug `kateskit`
//! binary, and the release directory (`kateskit_<V>.efi`, `kateskit_<V>.store`, SHA256SUMS)
//! that `kateskit node stage` downloads.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use crate::initramfs::{agent_root, kernel_dir, pack, vmlinuz};

/// Modules the UKI's init needs from Debian's cloud kernel (ext4 is built in).
pub const MODULES: [&str; 8] = [
    "virtio_pci",
    "virtio_blk",
    "virtio_net",
    "vfat",
    "nls_cp437",
    "nls_utf8",
    "nls_ascii",
    "efivarfs",
];
const INIT: &str = include_str!("../data/upgrade-boot-init.sh");
const BOOT: &str = include_str!("../data/upgrade-boot.sh");
/// Bytes in each store image: small, the slot is larger.
pub const STORE_BYTES: usize = 2 << 20;

/// The parts shared by every machine of a test process (built once: packing the initramfs
/// with the 23 MB binary is the slow part).
pub struct Parts {
    pub kernel: PathBuf,
    dir: tempfile::TempDir,
}

pub fn parts() -> &'static Parts {
    static P: OnceLock<Parts> = OnceLock::new();
    P.get_or_init(|| {
        let kdir = kernel_dir();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        agent_root(&root, &kdir, &MODULES, INIT);
        std::fs::write(root.join("etc/kateskit/boot.sh"), BOOT).unwrap();
        for v in ["1", "2"] {
            std::fs::write(root.join("etc/kateskit/version"), v).unwrap();
            std::fs::write(
                root.join("etc/kateskit/store-size"),
                STORE_BYTES.to_string(),
            )
            .unwrap();
            let cpio = dir.path().join(format!("initrd-{v}.cpio"));
            pack(&root, &cpio);
            compress(&cpio, &dir.path().join(format!("initrd-{v}.cpio.zst")));
            std::fs::remove_file(&cpio).unwrap();
            std::fs::write(dir.path().join(format!("store-{v}.img")), store_bytes(v)).unwrap();
        }
        std::fs::remove_dir_all(&root).unwrap();
        Parts {
            kernel: vmlinuz(&kdir),
            dir,
        }
    })
}

impl Parts {
    /// The initramfs whose /init says it is VERSION.
    pub fn initrd(&self, version: &str) -> PathBuf {
        self.dir.path().join(format!("initrd-{version}.cpio.zst"))
    }
    /// The store image of VERSION.
    pub fn store(&self, version: &str) -> PathBuf {
        self.dir.path().join(format!("store-{version}.img"))
    }
}

/// zstd: a third of the size, so the UKI loads and downloads faster; the kernel unpacks it.
fn compress(from: &Path, to: &Path) {
    crate::initramfs::sh(
        std::process::Command::new("zstd")
            .args(["-q", "-f", "-3"])
            .arg(from)
            .arg("-o")
            .arg(to),
    );
}

/// Deterministic bytes that differ per version.
fn store_bytes(version: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(STORE_BYTES);
    let mut block = Sha256::digest(format!("store of {version}").as_bytes()).to_vec();
    while out.len() < STORE_BYTES {
        out.extend_from_slice(&block);
        block = Sha256::digest(&block).to_vec();
    }
    out.truncate(STORE_BYTES);
    out
}

pub fn sha256_file(p: &Path) -> String {
    let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    hex(&Sha256::digest(&bytes))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Lays out the release of `version` in `dir` from its UKI and store image; returns the
/// SHA-256 of the SHA256SUMS file (what `--sums-sha256` pins).
pub fn release(dir: &Path, version: &str, uki: &Path, store: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let efi = format!("kateskit_{version}.efi");
    let st = format!("kateskit_{version}.store");
    std::fs::copy(uki, dir.join(&efi)).unwrap();
    std::fs::copy(store, dir.join(&st)).unwrap();
    let sums = format!(
        "{}  {efi}\n{}  {st}\n",
        sha256_file(&dir.join(&efi)),
        sha256_file(&dir.join(&st))
    );
    std::fs::write(dir.join("SHA256SUMS"), &sums).unwrap();
    hex(&Sha256::digest(sums.as_bytes()))
}
