//! The banner on every console the kernel was given. An image boots with `console=tty0
//! console=ttyS0,...`: the kernel prints to both, but `/dev/console` (and a unit's
//! `StandardOutput=console`) reaches only the last one, so a VGA-only machine would never show
//! the banner. The active consoles are listed in `/sys/class/tty/console/active`; each gets
//! the banner written to its device, opened non-blocking and given a bounded time, so a serial
//! line held by flow control or a console that vanished cannot stall the agent.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::agent::AgentEnv;

/// sysfs file naming the active consoles, relative to the root.
pub const ACTIVE: &str = "sys/class/tty/console/active";
/// How long one console may take to accept the banner.
pub const PER_CONSOLE: Duration = Duration::from_secs(2);

/// The devices to write to: each name in [`ACTIVE`] under the device directory, in order,
/// once each; `/dev/console` alone when the file cannot be read on the real root.
pub fn targets(env: &AgentEnv) -> Vec<PathBuf> {
    match std::fs::read_to_string(env.path(ACTIVE)) {
        Ok(text) => {
            let mut out: Vec<PathBuf> = Vec::new();
            for name in text.split_whitespace() {
                // Kernel tty names only (tty0, ttyS0, hvc0, ttyAMA0): never a path.
                if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    continue;
                }
                let dev = env.dev(name);
                if !out.contains(&dev) {
                    out.push(dev);
                }
            }
            out
        }
        Err(_) if env.root == std::path::Path::new("/") => vec!["/dev/console".into()],
        Err(_) => Vec::new(),
    }
}

/// Writes `text` to one device within `limit`; the reason when it could not.
pub fn write_bounded(dev: &std::path::Path, text: &[u8], limit: Duration) -> Result<(), String> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc_flags())
        .open(dev)
        .map_err(|e| format!("opening {}: {e}", dev.display()))?;
    let deadline = Instant::now() + limit;
    let mut rest = text;
    while !rest.is_empty() {
        match f.write(rest) {
            Ok(0) => return Err(format!("{} accepts no more output", dev.display())),
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(format!(
                        "{} took no output for {}s (flow control, or nothing reading it)",
                        dev.display(),
                        limit.as_secs()
                    ));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("writing {}: {e}", dev.display())),
        }
    }
    Ok(())
}

/// `O_NONBLOCK | O_NOCTTY`: never wait for a carrier or for the line, never become the
/// agent's controlling terminal.
fn libc_flags() -> i32 {
    libc::O_NONBLOCK | libc::O_NOCTTY
}

/// Writes the banner to every active console; one warning per console that did not take it.
pub fn show(env: &AgentEnv, text: &str) -> Vec<String> {
    targets(env)
        .iter()
        .filter_map(|dev| write_bounded(dev, text.as_bytes(), PER_CONSOLE).err())
        .map(|e| format!("console banner: {e}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(root: &std::path::Path) -> AgentEnv {
        AgentEnv {
            root: root.into(),
            dev_dir: root.join("dev"),
            ..AgentEnv::from_env()
        }
    }

    #[test]
    fn every_active_console_once_and_no_paths() {
        let d = tempfile::tempdir().unwrap();
        let e = env(d.path());
        assert!(
            targets(&e).is_empty(),
            "another root without sysfs: nothing"
        );
        std::fs::create_dir_all(d.path().join("sys/class/tty/console")).unwrap();
        std::fs::write(e.path(ACTIVE), "tty0 ttyS0 ../../etc/passwd tty0\n").unwrap();
        assert_eq!(
            targets(&e),
            vec![d.path().join("dev/tty0"), d.path().join("dev/ttyS0")]
        );
    }

    fn mkfifo(p: &std::path::Path) {
        let ok = std::process::Command::new("mkfifo")
            .arg(p)
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// A FIFO whose buffer is full and whose reader never reads stands in for a serial line
    /// held by flow control: the write gives up within its bound.
    #[test]
    fn a_console_that_takes_nothing_is_given_up_in_bounded_time() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("ttyS0");
        mkfifo(&fifo);
        let _reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc_flags())
            .open(&fifo)
            .unwrap();
        let mut w = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc_flags())
            .open(&fifo)
            .unwrap();
        while w.write(&[0u8; 4096]).is_ok() {}
        let t = Instant::now();
        let err = write_bounded(&fifo, b"banner", Duration::from_millis(300)).unwrap_err();
        assert!(err.contains("took no output"), "{err}");
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        // No reader at all: opening fails at once instead of waiting for one.
        let lonely = d.path().join("tty1");
        mkfifo(&lonely);
        let err = write_bounded(&lonely, b"banner", Duration::from_secs(5)).unwrap_err();
        assert!(err.contains("opening"), "{err}");
    }
}
