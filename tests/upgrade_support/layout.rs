//! The two-slot disk of the raw image (GPT: ESP, KATESKIT-EMBED, two store slots,
//! kateskit-data) built into a sparse file with the real sgdisk, mkfs.vfat, mkfs.ext4 and
//! mtools, plus a release directory (`kateskit_<V>.efi`, `kateskit_<V>.store`, SHA256SUMS).
//! Self-contained (std, tempfile, sha2): include it with `#[path]`.
#![allow(dead_code)]

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

pub const MIB: u64 = 1 << 20;
pub const ESP_TYPE: &str = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
pub const EMBED_TYPE: &str = "3b6c0d5d-de39-40bd-9e6c-08b15a369d15";
pub const SLOT_TYPE: &str = "1abe2ad4-1252-43fc-b3e0-5eec1c866266";
pub const DATA_TYPE: &str = "4f68bce3-e8cd-4db1-96e7-fbcaf984b709";
/// Partition numbers, in the order of the raw image.
pub const ESP: u32 = 1;
pub const EMBED: u32 = 2;
pub const SLOT_A: u32 = 3;
pub const SLOT_B: u32 = 4;
pub const DATA: u32 = 5;

pub struct LayoutOpts {
    pub esp_mib: u64,
    pub slot_mib: u64,
    pub data_mib: u64,
    /// Slot A's version (GPT name `kateskit_<V>`); slot B is `_empty`.
    pub a_version: String,
    /// Bytes written at the start of slot A (its store image).
    pub a_store: Vec<u8>,
    /// Files put on the ESP (ESP path, content), after `loader/loader.conf` (`timeout 0`,
    /// `default kateskit_*`). Empty: one stand-in UKI `EFI/Linux/kateskit_<A>.efi`.
    pub esp_files: Vec<(String, Vec<u8>)>,
}

impl Default for LayoutOpts {
    fn default() -> Self {
        LayoutOpts {
            esp_mib: 34,
            slot_mib: 4,
            data_mib: 8,
            a_version: "1".into(),
            a_store: store_bytes("1", 256 << 10),
            esp_files: Vec::new(),
        }
    }
}

/// Where the parts of a built disk are.
pub struct Layout {
    pub path: PathBuf,
    /// (offset, length) in bytes of partitions 1..=5.
    pub parts: Vec<(u64, u64)>,
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Recognisable store image bytes of a version.
pub fn store_bytes(version: &str, len: usize) -> Vec<u8> {
    let seed = format!("store of {version}\n");
    seed.bytes().cycle().take(len).collect()
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// `sgdisk -i N` fields "First sector" / "Last sector" / "Partition name".
pub fn sgdisk_info(disk: &Path, n: u32) -> (u64, u64, String) {
    let out = run(Command::new("sgdisk")
        .arg("-i")
        .arg(n.to_string())
        .arg(disk));
    let field = |k: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap_or_else(|| panic!("sgdisk -i {n}: no {k}: {out}"))
            .trim()
            .to_string()
    };
    let num = |s: String| s.split_whitespace().next().unwrap().parse::<u64>().unwrap();
    let name = field("Partition name:").trim_matches('\'').to_string();
    (
        num(field("First sector:")),
        num(field("Last sector:")),
        name,
    )
}

impl Layout {
    pub fn build(path: &Path, o: &LayoutOpts) -> Layout {
        let total = 1 + o.esp_mib + 1 + 2 * o.slot_mib + o.data_mib + 1;
        std::fs::File::create(path)
            .unwrap()
            .set_len(total * MIB)
            .unwrap();
        let a = format!("kateskit_{}", o.a_version);
        let parts = [
            (ESP, o.esp_mib, ESP_TYPE, "ESP"),
            (EMBED, 1, EMBED_TYPE, "KATESKIT-EMBED"),
            (SLOT_A, o.slot_mib, SLOT_TYPE, a.as_str()),
            (SLOT_B, o.slot_mib, SLOT_TYPE, "_empty"),
            (DATA, o.data_mib, DATA_TYPE, "kateskit-data"),
        ];
        let mut cmd = Command::new("sgdisk");
        cmd.arg("-o");
        for (n, mib, ty, name) in parts {
            cmd.arg(format!("-n{n}:0:+{mib}M"))
                .arg(format!("-t{n}:{ty}"))
                .arg(format!("-c{n}:{name}"));
        }
        run(cmd.arg(path));
        let parts: Vec<(u64, u64)> = (1..=5)
            .map(|n| {
                let (first, last, _) = sgdisk_info(path, n);
                (first * 512, (last - first + 1) * 512)
            })
            .collect();
        let l = Layout {
            path: path.to_path_buf(),
            parts,
        };
        let (esp_off, esp_len) = l.parts[0];
        run(Command::new("mkfs.vfat")
            .args(["-n", "ESP", "--offset"])
            .arg((esp_off / 512).to_string())
            .arg(path)
            .arg((esp_len / 1024).to_string()));
        let (data_off, data_len) = l.parts[4];
        run(Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "kateskit-data", "-E"])
            .arg(format!("offset={data_off}"))
            .arg(path)
            .arg(format!("{}k", data_len / 1024)));
        l.write_at(SLOT_A, &o.a_store);
        l.mkdir("EFI");
        l.mkdir("EFI/BOOT");
        l.mkdir("EFI/Linux");
        l.mkdir("loader");
        l.put("loader/loader.conf", b"timeout 0\ndefault kateskit_*\n");
        if o.esp_files.is_empty() {
            let uki = format!("EFI/Linux/{a}.efi");
            l.put(&uki, format!("UKI of {}\n", o.a_version).as_bytes());
        }
        for (p, b) in &o.esp_files {
            l.put(p, b);
        }
        l
    }

    fn img(&self) -> String {
        format!("{}@@{}", self.path.display(), self.parts[0].0)
    }

    pub fn mkdir(&self, dir: &str) {
        run(Command::new("mmd")
            .arg("-i")
            .arg(self.img())
            .arg(format!("::/{dir}")));
    }

    /// Puts a file on the ESP (replacing one of that name).
    pub fn put(&self, to: &str, bytes: &[u8]) {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), bytes).unwrap();
        run(Command::new("mcopy")
            .args(["-o", "-i"])
            .arg(self.img())
            .arg(tmp.path())
            .arg(format!("::/{to}")));
    }

    /// File names in an ESP directory (mtools).
    pub fn esp_names(&self, dir: &str) -> Vec<String> {
        let out = run(Command::new("mdir")
            .args(["-b", "-i"])
            .arg(self.img())
            .arg(format!("::/{dir}")));
        let mut v: Vec<String> = out
            .lines()
            .filter_map(|l| l.trim_end_matches('/').rsplit('/').next())
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect();
        v.sort();
        v
    }

    /// Writes bytes at the start of partition `n`.
    pub fn write_at(&self, n: u32, bytes: &[u8]) {
        let (off, len) = self.parts[n as usize - 1];
        assert!(
            bytes.len() as u64 <= len,
            "{} bytes exceed partition {n}",
            bytes.len()
        );
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&self.path)
            .unwrap();
        f.write_all_at(bytes, off).unwrap();
    }

    /// The first `len` bytes of partition `n`.
    pub fn read_at(&self, n: u32, len: usize) -> Vec<u8> {
        let (off, _) = self.parts[n as usize - 1];
        let mut buf = vec![0u8; len];
        std::fs::File::open(&self.path)
            .unwrap()
            .read_exact_at(&mut buf, off)
            .unwrap();
        buf
    }
}

/// Writes a release of `version` into `dir`: UKI and store bytes, and SHA256SUMS naming both.
/// Returns the SHA-256 of SHA256SUMS.
pub fn write_release(dir: &Path, version: &str, uki: &[u8], store: &[u8]) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let (u, s) = (
        format!("kateskit_{version}.efi"),
        format!("kateskit_{version}.store"),
    );
    std::fs::write(dir.join(&u), uki).unwrap();
    std::fs::write(dir.join(&s), store).unwrap();
    let sums = format!("{}  {u}\n{}  {s}\n", sha256_hex(uki), sha256_hex(store));
    std::fs::write(dir.join("SHA256SUMS"), &sums).unwrap();
    sha256_hex(sums.as_bytes())
}
