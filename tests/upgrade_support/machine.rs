//! One UEFI machine booted again and again from the same disk: Debian's OVMF (CODE read-only,
//! this machine's own copy of VARS kept across its boots, so EFI variables persist as on real
//! firmware), QEMU TCG, `-no-reboot` so every reboot or panic ends one QEMU run and the test can
//! look at the disk between boots. User networking: the guest reaches the host's 127.0.0.1:PORT
//! at 10.0.2.2:PORT.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

/// True when QEMU and OVMF are installed; otherwise says what is missing.
pub fn tools_present() -> bool {
    for f in [OVMF_CODE, OVMF_VARS] {
        if !Path::new(f).exists() {
            assert!(std::env::var_os("CI").is_none(), "CI must have {f}");
            eprintln!("SKIP: {f} missing (apt-get install ovmf)");
            return false;
        }
    }
    let qemu = Command::new("sh")
        .args(["-c", "command -v qemu-system-x86_64"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !qemu {
        assert!(std::env::var_os("CI").is_none(), "CI must have QEMU");
        eprintln!("SKIP: qemu-system-x86_64 missing (apt-get install qemu-system-x86)");
    }
    qemu
}

/// Kills QEMU when a test ends early, however it ends.
struct Running(Child);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct Machine {
    pub name: String,
    pub disk: PathBuf,
    dir: PathBuf,
    vars: PathBuf,
    boots: usize,
}

/// What one boot (one QEMU run) left behind.
pub struct Boot {
    /// 1 for the machine's first boot.
    pub n: usize,
    /// The serial console, carriage returns and terminal escapes removed.
    pub log: String,
    pub took: Duration,
}

impl Machine {
    /// A machine with a fresh copy of OVMF's variable store, booting `disk`.
    pub fn new(dir: &Path, name: &str, disk: &Path) -> Machine {
        let vars = dir.join(format!("{name}-vars.fd"));
        std::fs::copy(OVMF_VARS, &vars).unwrap();
        Machine {
            name: name.to_string(),
            disk: disk.to_path_buf(),
            dir: dir.to_path_buf(),
            vars,
            boots: 0,
        }
    }

    /// Powers the machine on and waits (at most `bound`) until it powers off, reboots or its
    /// kernel panics (each ends the QEMU run).
    pub fn boot(&mut self, bound: Duration) -> Boot {
        self.boots += 1;
        let serial = self
            .dir
            .join(format!("{}-boot{}.log", self.name, self.boots));
        let child = Command::new("qemu-system-x86_64")
            .args(["-accel", "tcg", "-m", "512", "-smp", "1", "-no-reboot"])
            .args(["-display", "none", "-monitor", "none"])
            .arg("-drive")
            .arg(format!(
                "if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}"
            ))
            .arg("-drive")
            .arg(format!(
                "if=pflash,format=raw,unit=1,file={}",
                self.vars.display()
            ))
            .arg("-drive")
            .arg(format!(
                "if=none,id=disk,format=raw,file={}",
                self.disk.display()
            ))
            .args(["-device", "virtio-blk-pci,drive=disk"])
            // No option ROM: firmware boots the disk, never tries PXE on this NIC.
            .args(["-netdev", "user,id=net", "-device"])
            .arg("virtio-net-pci,netdev=net,romfile=")
            .arg("-serial")
            .arg(format!("file:{}", serial.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("qemu-system-x86_64 starts");
        let mut q = Running(child);
        let t0 = Instant::now();
        while q.0.try_wait().unwrap().is_none() {
            if t0.elapsed() > bound {
                panic!(
                    "{} boot {} still running after {bound:?}; serial:\n{}",
                    self.name,
                    self.boots,
                    clean(&std::fs::read_to_string(&serial).unwrap_or_default())
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let took = t0.elapsed();
        let log = clean(&std::fs::read_to_string(&serial).unwrap_or_default());
        eprintln!(
            "{} boot {}: {:.1} s\n{log}",
            self.name,
            self.boots,
            took.as_secs_f64()
        );
        Boot {
            n: self.boots,
            log,
            took,
        }
    }
}

/// Drops carriage returns and the firmware's ANSI escape sequences.
fn clean(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {}
            '\x1b' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    while let Some(&n) = chars.peek() {
                        chars.next();
                        if n.is_ascii_alphabetic() {
                            break;
                        }
                    }
                }
            }
            _ => out.push(c),
        }
    }
    out
}

impl Boot {
    /// The value the guest printed as `==NAME value==` (the last one), if any.
    pub fn marker(&self, name: &str) -> Option<&str> {
        let tag = format!("=={name} ");
        let i = self.log.rfind(&tag)? + tag.len();
        let end = self.log[i..].find("==")? + i;
        Some(self.log[i..end].trim())
    }

    /// The text between `==NAME-BEGIN==` and `==NAME-END==` (the last such section).
    pub fn section(&self, name: &str) -> Option<&str> {
        let b = format!("=={name}-BEGIN==");
        let s = self.log.rfind(&b)? + b.len();
        let e = self.log[s..].find(&format!("=={name}-END=="))? + s;
        Some(self.log[s..e].trim())
    }
}
