//! Waits for udev before the disks phase: a slow HBA's disks appear, and their
//! `/dev/disk/by-id/` links with them, some time after the agent starts, and an OSD disk
//! declared by its by-id name would otherwise be refused as missing. Bounded twice:
//! `udevadm settle --timeout`, and the agent stops waiting for the command a little later in
//! case it hangs. A timeout or a missing udevadm is a warning; the disk checks that follow
//! still refuse a disk that is not there.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::agent::AgentEnv;

/// How long udev may take (seconds), passed to `udevadm settle --timeout=`.
pub const TIMEOUT_SECS: u64 = 60;
/// Extra time the agent gives the command itself before it stops waiting.
const GRACE: Duration = Duration::from_secs(5);

/// Runs `<udevadm> settle --timeout=<secs>`; `Some(warning)` when it did not settle.
pub fn settle(env: &AgentEnv, secs: u64) -> Option<String> {
    let (cmd, pre) = env.udevadm.split_first()?;
    let arg = format!("--timeout={secs}");
    let shown = format!("{cmd} settle {arg}");
    let mut child = match Command::new(cmd)
        .args(pre)
        .args(["settle", &arg])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            return Some(format!(
                "{shown}: {e}; disks are checked without waiting for udev (by-id links of slow \
                 controllers may be missing)"
            ))
        }
    };
    let deadline = Instant::now() + Duration::from_secs(secs) + GRACE;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return None,
            Ok(Some(status)) => {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                return Some(format!(
                    "{shown} ended with {status}{}: udev had not finished; disks are checked as \
                     they are now",
                    if err.trim().is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", err.trim())
                    }
                ));
            }
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Some(format!(
                    "{shown} did not return within {}s; stopped waiting, disks are checked as \
                     they are now",
                    deadline_secs(secs)
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Some(format!("{shown}: waiting for it: {e}")),
        }
    }
}

fn deadline_secs(secs: u64) -> u64 {
    secs + GRACE.as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_with(cmd: &str) -> AgentEnv {
        let mut e = AgentEnv::from_env();
        e.udevadm = cmd.split_whitespace().map(str::to_string).collect();
        e
    }

    #[test]
    fn a_settled_udev_is_silent_and_the_timeout_is_passed() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("args");
        let script = d.path().join("udevadm");
        std::fs::write(
            &script,
            format!("#!/bin/sh\necho \"$*\" > {}\n", log.display()),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(settle(&env_with(&script.display().to_string()), 7), None);
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "settle --timeout=7\n"
        );
    }

    #[test]
    fn a_timeout_a_failure_and_a_missing_tool_are_warnings() {
        let w = settle(&env_with("false"), 3).unwrap();
        assert!(w.contains("false settle --timeout=3 ended with"), "{w}");
        let w = settle(&env_with("/nonexistent/udevadm"), 3).unwrap();
        assert!(w.contains("without waiting for udev"), "{w}");
        // A command that ignores its timeout is stopped by the agent's own bound.
        let d = tempfile::tempdir().unwrap();
        let hang = d.path().join("udevadm");
        std::fs::write(&hang, "#!/bin/sh\nexec sleep 30\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hang, std::fs::Permissions::from_mode(0o755)).unwrap();
        let t = Instant::now();
        let w = settle(&env_with(&hang.display().to_string()), 0).unwrap();
        assert!(w.contains("did not return within 5s"), "{w}");
        assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    }
}
