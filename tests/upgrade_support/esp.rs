//! The ESP of a disk image, read and written from the host with mtools between boots
//! (`-i disk@@OFFSET`), so the tests see exactly the file names systemd-boot left.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The ESP inside a disk image file.
#[derive(Clone)]
pub struct Esp {
    pub disk: PathBuf,
    /// Byte offset of the ESP's first sector in the disk image.
    pub offset: u64,
}

fn mtools(tool: &str, esp: &Esp, args: &[&str]) -> String {
    let image = format!("{}@@{}", esp.disk.display(), esp.offset);
    let out = Command::new(tool)
        .env("MTOOLS_SKIP_CHECK", "1")
        .arg("-i")
        .arg(&image)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    assert!(
        out.status.success(),
        "{tool} -i {image} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Esp {
    /// The ESP of `disk`: the first partition of EFI System type in its GPT (read with sfdisk).
    pub fn of(disk: &Path) -> Esp {
        let out = Command::new("sfdisk")
            .arg("--json")
            .arg(disk)
            .output()
            .expect("sfdisk runs");
        assert!(out.status.success(), "sfdisk --json {}", disk.display());
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let t = &v["partitiontable"];
        let sector = t["sectorsize"].as_u64().unwrap_or(512);
        let start = t["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| {
                p["type"]
                    .as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case(ESP_TYPE))
            })
            .unwrap_or_else(|| panic!("{} has no ESP: {v}", disk.display()))["start"]
            .as_u64()
            .unwrap();
        Esp {
            disk: disk.to_path_buf(),
            offset: start * sector,
        }
    }

    /// File names in `dir` (e.g. `/EFI/Linux`), sorted.
    pub fn names(&self, dir: &str) -> Vec<String> {
        let listing = mtools("mdir", self, &["-b", &format!("::{dir}")]);
        let mut names: Vec<String> = listing
            .lines()
            .filter_map(|l| l.trim().rsplit('/').next())
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect();
        names.sort();
        names
    }

    /// Copies `file` to `to` (an ESP path such as `/EFI/Linux/kateskit_1.efi`).
    pub fn put(&self, file: &Path, to: &str) {
        mtools(
            "mcopy",
            self,
            &["-o", file.to_str().unwrap(), &format!("::{to}")],
        );
    }

    pub fn mkdir(&self, dirs: &[&str]) {
        let args: Vec<String> = dirs.iter().map(|d| format!("::{d}")).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        mtools("mmd", self, &args);
    }

    /// The text of an ESP file.
    pub fn read(&self, path: &str) -> String {
        mtools("mtype", self, &[&format!("::{path}")])
    }
}

pub const ESP_TYPE: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
