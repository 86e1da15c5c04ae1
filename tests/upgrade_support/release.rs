//! What a slot of VERSION is made of in the QEMU tests: a store image (bytes the UKI of VERSION
//! finds in the slot named `kateskit_<VERSION>`) and the test initramfs with the debug
//! `kateskit` binary, the busybox init and the kernel modules it needs.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::agent_support::initramfs::{agent_root, kernel_dir, pack, sh, vmlinuz};
use crate::agent_support::standin;

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
    /// The CA (certificate, key PEM) of every scenario's stand-in Kubernetes API.
    pub api_ca: (String, String),
    dir: tempfile::TempDir,
}

/// The node's name in the stand-in API and in the k3s drop-in the gate reads.
pub const NODE: &str = "a1";

pub fn parts() -> &'static Parts {
    static P: OnceLock<Parts> = OnceLock::new();
    P.get_or_init(|| {
        let kdir = kernel_dir();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        agent_root(&root, &kdir, &MODULES, INIT);
        std::fs::write(root.join("etc/kateskit/boot.sh"), BOOT).unwrap();
        let api_ca = standin::other_ca();
        gate_files(&root, &api_ca.0);
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
        }
        std::fs::remove_dir_all(&root).unwrap();
        Parts {
            kernel: vmlinuz(&kdir),
            api_ca,
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
    pub fn store(&self, version: &str) -> Vec<u8> {
        crate::layout::store_bytes(version, STORE_BYTES)
    }
}

/// What the gate reads on an agent node: the agent's last k3s configuration (role, node
/// name), the kubelet's client identity and the API's CA (the init writes the kubelet's
/// kubeconfig from them, as k3s would), and a STAND-IN `systemctl` that reports k3s active.
fn gate_files(root: &Path, ca: &str) {
    let (cert, key) = standin::client_identity();
    let files = [
        ("etc/kateskit/k3s.env", "K3S_ROLE=agent\n".to_string()),
        (
            "etc/rancher/k3s/config.yaml.d/10-kateskit.yaml",
            format!("# Written by kateskit\nnode-name: {NODE}\n"),
        ),
        ("etc/kateskit/test/server-ca.crt", ca.to_string()),
        ("etc/kateskit/test/client-kubelet.crt", cert),
        ("etc/kateskit/test/client-kubelet.key", key),
        (
            "bin/standin-systemctl",
            "#!/bin/sh\n# STAND-IN for systemctl: k3s is not in the test initramfs.\n\
             [ \"$1\" = is-active ] && echo active\nexit 0\n"
                .to_string(),
        ),
    ];
    for (rel, text) in files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
    }
    sh(std::process::Command::new("chmod")
        .arg("755")
        .arg(root.join("bin/standin-systemctl")));
}

/// zstd: a third of the size, so the UKI loads and downloads faster; the kernel unpacks it.
fn compress(from: &Path, to: &Path) {
    sh(std::process::Command::new("zstd")
        .args(["-q", "-f", "-3"])
        .arg(from)
        .arg("-o")
        .arg(to));
}
