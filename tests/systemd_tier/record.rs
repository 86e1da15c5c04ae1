//! What one boot of the systemd tier recorded (tests/data/systemd-tier/report.sh writes it
//! under /var/lib/kateskit-test/boot-N/ before powering off), read back from the disk image.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::root::{sh, Mounted};

/// What one boot recorded under /var/lib/kateskit-test/boot-N/, read back from the disk.
#[derive(Debug, Clone)]
pub struct Record {
    pub dir: PathBuf,
    pub serial: String,
}

impl Record {
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    /// A property of `systemctl show UNIT` as recorded.
    pub fn prop(&self, unit: &str, key: &str) -> String {
        self.read(&format!("unit-{unit}"))
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('=').map(str::to_string))
            .unwrap_or_default()
    }

    /// A monotonic timestamp property in microseconds (0 when it never happened).
    pub fn usec(&self, unit: &str, key: &str) -> u64 {
        self.prop(unit, key).parse().unwrap_or(0)
    }
}

/// Copies `/var/lib/kateskit-test/boot-N` and the agent's files out of the powered-off disk.
pub fn collect(img: &Path, n: u32, into: &Path, serial: String) -> Result<Record, String> {
    let m = Mounted::new(img, true)?;
    let dir = into.join(format!("boot-{n}"));
    let src = m.path(&format!("var/lib/kateskit-test/boot-{n}"));
    if !src.is_dir() {
        return Err(format!(
            "boot {n} left no record (the report unit did not run); serial:\n{serial}"
        ));
    }
    sh(Command::new("cp").arg("-a").arg(&src).arg(&dir))?;
    for (rel, name) in [
        ("var/lib/kateskit/journal.json", "agent-journal.json"),
        ("etc/kateskit/k3s.env", "k3s.env"),
        (
            "etc/systemd/timesyncd.conf.d/10-kateskit.conf",
            "timesyncd-dropin",
        ),
        ("etc/hostname", "etc-hostname"),
    ] {
        let _ = std::fs::copy(m.path(rel), dir.join(name));
    }
    let files: Vec<String> = std::fs::read_dir(m.path("etc/systemd/network"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    std::fs::write(dir.join("network-files"), files.join("\n")).map_err(|e| e.to_string())?;
    Ok(Record { dir, serial })
}
