//! Helpers for tests/netboot_serve.rs: the serve process (killed on drop), stand-in
//! artifacts and curl inside a namespace.
#![allow(dead_code)]

pub mod guest;
pub mod k3s;
pub mod uefi;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::netns::Netns;

/// The serve process, stopped (SIGKILL) on drop if the test did not stop it.
pub struct Serve {
    pub child: Child,
    pub ready: String,
}

impl Serve {
    pub fn start(mut cmd: Command) -> Serve {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(out).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        let mut s = Serve { child, ready: line };
        if !s.ready.starts_with("serving ") {
            let _ = s.child.kill();
            let o = std::mem::replace(&mut s.child, Command::new("true").spawn().unwrap())
                .wait_with_output()
                .unwrap();
            panic!(
                "serve did not start: {:?} {}",
                s.ready,
                String::from_utf8_lossy(&o.stderr)
            );
        }
        s
    }

    pub fn field(&self, key: &str) -> String {
        self.ready
            .split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key}= in {:?}", self.ready))
            .to_string()
    }

    /// SIGTERM, then the exit status within 10 s.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let t0 = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "serve ignored SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn kateskit() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("kateskit"))
}

/// `vmlinuz` and `initrd.img` stand-ins, and a stand-in iPXE build for TFTP.
pub fn artifacts(dir: &Path) -> (PathBuf, PathBuf, Vec<u8>) {
    let art = dir.join("artifacts");
    let tftp = dir.join("tftp");
    std::fs::create_dir_all(&art).unwrap();
    std::fs::create_dir_all(&tftp).unwrap();
    std::fs::write(art.join("vmlinuz"), vec![0x4b; 300_000]).unwrap();
    std::fs::write(art.join("initrd.img"), vec![0x49; 200_000]).unwrap();
    let ipxe: Vec<u8> = (0..250_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(tftp.join("ipxe.efi"), &ipxe).unwrap();
    (art, tftp, ipxe)
}

pub fn curl(ns: &Netns, args: &[&str]) -> std::process::Output {
    ns.command("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
        .unwrap()
}

/// Polls `netboot status --json --mac MAC` until the timeline holds every kind in `want` or
/// `bound` runs out; returns the kinds seen last (the caller asserts on them).
pub fn wait_for_timeline(
    state: &Path,
    mac: &str,
    want: &[&str],
    bound: Duration,
    poll: Duration,
) -> Vec<String> {
    let t0 = Instant::now();
    loop {
        let out = crate::fleet_support::netboot(&[
            "status",
            "--state",
            state.to_str().unwrap(),
            "--json",
            "--mac",
            mac,
        ]);
        let rows: serde_json::Value =
            serde_json::from_str(&crate::fleet_support::ok(&out)).unwrap();
        let kinds: Vec<String> = rows[0]["timeline"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(|e| e["kind"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if want.iter().all(|w| kinds.iter().any(|k| k == w)) || t0.elapsed() > bound {
            return kinds;
        }
        std::thread::sleep(poll);
    }
}
