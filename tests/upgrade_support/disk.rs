//! The two-slot disk as the raw image lays it out (GPT: ESP, KATESKIT-EMBED, two store slots,
//! kateskit-data), made from a sparse file with the real sfdisk, mkfs.vfat, mkfs.ext4 and
//! mtools. The ESP holds systemd-boot as the removable-media loader and `loader.conf`; the
//! caller adds the UKIs.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::esp::{Esp, ESP_TYPE};
use crate::uki::SYSTEMD_BOOT;

const MIB: u64 = 1 << 20;
pub const EMBED_TYPE: &str = "3b6c0d5d-de39-40bd-9e6c-08b15a369d15";
pub const SLOT_TYPE: &str = "1abe2ad4-1252-43fc-b3e0-5eec1c866266";
pub const DATA_TYPE: &str = "4f68bce3-e8cd-4db1-96e7-fbcaf984b709";

pub struct DiskOpts<'a> {
    pub esp_mib: u64,
    pub slot_mib: u64,
    pub data_mib: u64,
    /// The version slot A holds (its GPT name `kateskit_<V>`); slot B is `_empty`.
    pub a_version: &'a str,
}

fn run(cmd: &mut Command) {
    let out = cmd
        .stdout(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes the disk to `path` and returns its ESP.
pub fn build(path: &Path, o: &DiskOpts) -> Esp {
    let total = 1 + o.esp_mib + 1 + 2 * o.slot_mib + o.data_mib + 1;
    let f = std::fs::File::create(path).unwrap();
    f.set_len(total * MIB).unwrap();
    drop(f);
    let script = format!(
        "label: gpt\n\
         start=1MiB, size={esp}MiB, type={ESP_TYPE}, name=ESP\n\
         size=1MiB, type={EMBED_TYPE}, name=KATESKIT-EMBED\n\
         size={slot}MiB, type={SLOT_TYPE}, name=kateskit_{a}\n\
         size={slot}MiB, type={SLOT_TYPE}, name=_empty\n\
         size={data}MiB, type={DATA_TYPE}, name=kateskit-data\n",
        esp = o.esp_mib,
        slot = o.slot_mib,
        data = o.data_mib,
        a = o.a_version,
    );
    let mut sfdisk = Command::new("sfdisk")
        .arg("-q")
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("sfdisk runs");
    sfdisk
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(sfdisk.wait().unwrap().success(), "sfdisk {script}");
    run(Command::new("mkfs.vfat")
        .args(["-n", "ESP", "--offset", "2048"])
        .arg(path)
        .arg((o.esp_mib * 1024).to_string()));
    let data_start = (1 + o.esp_mib + 1 + 2 * o.slot_mib) * MIB;
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "kateskit-data"])
        .arg("-E")
        .arg(format!("offset={data_start}"))
        .arg(path)
        .arg(format!("{}k", o.data_mib * 1024)));
    let esp = Esp::of(path);
    esp.mkdir(&["/EFI", "/EFI/BOOT", "/EFI/Linux", "/loader"]);
    esp.put(Path::new(SYSTEMD_BOOT), "/EFI/BOOT/BOOTX64.EFI");
    let conf = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(conf.path(), "timeout 0\ndefault kateskit_*\n").unwrap();
    esp.put(conf.path(), "/loader/loader.conf");
    esp
}

/// Byte offset and size of partition `n` (1-based) of `disk`, read with sfdisk.
pub fn partition(disk: &Path, n: usize) -> (u64, u64) {
    let out = Command::new("sfdisk")
        .arg("--json")
        .arg(disk)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let p = &v["partitiontable"]["partitions"][n - 1];
    let sector = v["partitiontable"]["sectorsize"].as_u64().unwrap_or(512);
    (
        p["start"].as_u64().unwrap() * sector,
        p["size"].as_u64().unwrap() * sector,
    )
}

/// Writes `image` at the start of partition `n` of `disk` (a store slot's content).
pub fn write_partition(disk: &Path, n: usize, image: &Path) {
    use std::io::{Seek, SeekFrom};
    let (start, size) = partition(disk, n);
    let bytes = std::fs::read(image).unwrap();
    assert!(
        bytes.len() as u64 <= size,
        "{} exceeds partition {n}",
        image.display()
    );
    let mut f = std::fs::OpenOptions::new().write(true).open(disk).unwrap();
    f.seek(SeekFrom::Start(start)).unwrap();
    f.write_all(&bytes).unwrap();
}

/// The GPT partition names of `disk` in order, read with sfdisk.
pub fn names(disk: &Path) -> Vec<String> {
    let out = Command::new("sfdisk")
        .arg("--json")
        .arg(disk)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["partitiontable"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap_or("").to_string())
        .collect()
}
