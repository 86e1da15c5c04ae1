//! Another process holding a lock on a device, the way ceph-osd (OFD write lock) or
//! systemd-style tools (`flock`) do. The OFD holder is this test binary re-run as a helper:
//! each test file using it declares `#[test] fn lock_holder_helper() { serve_if_asked() }`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const ENV: &str = "KATESKIT_TEST_HOLD_OFD";

/// A child process holding a lock; killed on drop.
pub struct Holder {
    pub child: Child,
}

impl Holder {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// An OFD write lock over the whole device, held by a helper process.
    pub fn ofd(dev: &str) -> Holder {
        let exe = std::env::current_exe().expect("test binary path");
        let mut cmd = Command::new(exe);
        cmd.args([
            "--exact",
            "lock_holder_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ENV, dev);
        Holder::start(&mut cmd)
    }

    /// `flock --no-fork -x DEV sleep 60` from util-linux.
    pub fn flock(dev: &str) -> Holder {
        let mut cmd = Command::new("flock");
        // --no-fork: the lock holder is the child itself, so killing it frees the lock.
        cmd.args([
            "--no-fork",
            "-x",
            "-n",
            dev,
            "sh",
            "-c",
            "echo locked; exec sleep 60",
        ]);
        Holder::start(&mut cmd)
    }

    fn start(cmd: &mut Command) -> Holder {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn lock holder");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let line = line.unwrap_or_default();
                if line.contains("locked") {
                    let _ = tx.send(());
                }
            }
        });
        let mut h = Holder { child };
        if rx.recv_timeout(Duration::from_secs(20)).is_err() {
            let _ = h.child.kill();
            panic!("lock holder did not report its lock within 20 s");
        }
        h
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// In the helper process: take the OFD write lock named by the environment, say so, and hold it
/// for at most 60 s (the parent kills it sooner).
pub fn serve_if_asked() {
    let Ok(dev) = std::env::var(ENV) else { return };
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&dev)
        .expect("open device to lock");
    // SAFETY: an all-zero flock is valid; F_OFD_SETLK reads it during the call only.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    let rc = unsafe {
        libc::fcntl(
            std::os::unix::io::AsRawFd::as_raw_fd(&f),
            libc::F_OFD_SETLK,
            &fl,
        )
    };
    assert_eq!(rc, 0, "F_OFD_SETLK: {}", std::io::Error::last_os_error());
    println!("locked {dev}");
    std::thread::sleep(Duration::from_secs(60));
}
