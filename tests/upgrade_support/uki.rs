//! Unified kernel images (UKIs) as the production slots are: Debian's kernel, an initramfs, a
//! command line and an os-release joined onto systemd's `linuxx64.efi.stub` with `objcopy`.
//! systemd-boot lists such a file in `ESP/EFI/Linux/` as a Type #2 entry and boots it with the
//! stub, which hands the kernel its built-in command line and initrd.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian's systemd-boot 252 (`systemd-boot-efi`).
pub const STUB: &str = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";
pub const SYSTEMD_BOOT: &str = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi";

/// What one UKI is made of.
pub struct Uki<'a> {
    pub kernel: &'a Path,
    pub initrd: &'a Path,
    /// The kernel command line built into the image (the stub ignores loader options then).
    pub cmdline: &'a str,
    /// `VERSION_ID` of the embedded os-release; systemd-boot shows it in its menu.
    pub version: &'a str,
}

/// True when the stub, systemd-boot and binutils are installed; otherwise says what is missing.
pub fn tools_present() -> bool {
    for f in [STUB, SYSTEMD_BOOT, "/usr/bin/objcopy", "/usr/bin/objdump"] {
        if !Path::new(f).exists() {
            assert!(std::env::var_os("CI").is_none(), "CI must have {f}");
            eprintln!("SKIP: {f} missing (apt-get install systemd-boot-efi binutils)");
            return false;
        }
    }
    true
}

/// One section of a PE image as `objdump -h` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub name: String,
    pub size: u64,
    pub vma: u64,
}

/// The sections of a PE image, read with the real `objdump -h`.
pub fn sections(image: &Path) -> Vec<Section> {
    let out = Command::new("objdump")
        .arg("-h")
        .arg(image)
        .output()
        .unwrap_or_else(|e| panic!("objdump -h {}: {e}", image.display()));
    assert!(out.status.success(), "objdump -h {}", image.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // "Idx Name Size VMA LMA File-off Algn": rows start with the index.
            if f.len() < 7 || f[0].parse::<u32>().is_err() {
                return None;
            }
            Some(Section {
                name: f[1].to_string(),
                size: u64::from_str_radix(f[2], 16).ok()?,
                vma: u64::from_str_radix(f[3], 16).ok()?,
            })
        })
        .collect()
}

fn align(n: u64, to: u64) -> u64 {
    n.div_ceil(to) * to
}

impl Uki<'_> {
    /// Writes the UKI to `out`. The added sections go after the stub's last one, each at its
    /// own 64 KiB-aligned address so none overlaps another (the stub finds them by name).
    pub fn build(&self, out: &Path) {
        const ALIGN: u64 = 0x10000;
        let dir = tempfile::tempdir().unwrap();
        let osrel = dir.path().join("os-release");
        std::fs::write(
            &osrel,
            format!(
                "ID=kateskit\nNAME=KatesKit\nVERSION_ID={v}\nPRETTY_NAME=\"KatesKit {v}\"\n",
                v = self.version
            ),
        )
        .unwrap();
        let cmdline = dir.path().join("cmdline");
        std::fs::write(&cmdline, self.cmdline).unwrap();
        let stub_end = sections(Path::new(STUB))
            .iter()
            .map(|s| s.vma + s.size)
            .max()
            .expect("the stub has sections");
        let parts: [(&str, PathBuf); 4] = [
            (".osrel", osrel),
            (".cmdline", cmdline),
            (".linux", self.kernel.to_path_buf()),
            (".initrd", self.initrd.to_path_buf()),
        ];
        let mut cmd = Command::new("objcopy");
        let mut at = align(stub_end, ALIGN);
        for (name, file) in &parts {
            let len = std::fs::metadata(file)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
                .len();
            cmd.arg("--add-section")
                .arg(format!("{name}={}", file.display()))
                .arg("--change-section-vma")
                .arg(format!("{name}={at:#x}"));
            at = align(at + len, ALIGN);
        }
        cmd.arg(STUB).arg(out);
        let o = cmd.output().expect("objcopy runs");
        assert!(
            o.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// Asserts that `uki` holds every added section after the stub's own, none overlapping.
pub fn assert_layout(uki: &Path) {
    let mut s = sections(uki);
    for name in [".osrel", ".cmdline", ".linux", ".initrd"] {
        assert!(
            s.iter().any(|x| x.name == name),
            "{} lacks {name}: {s:?}",
            uki.display()
        );
    }
    s.sort_by_key(|x| x.vma);
    for w in s.windows(2) {
        assert!(w[0].vma + w[0].size <= w[1].vma, "overlap: {w:?}");
    }
}
