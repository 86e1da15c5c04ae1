//! Running a requested step: `fetch` and `stage` as a child `kateskit node stage` (a crash in
//! it cannot take the watcher down, and the watcher reports it), `reboot` through systemctl.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::protocol::{Action, Request};
use crate::agent::AgentEnv;

/// Longest a fetch or stage may take (a stalled download is stopped and reported).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(3600);
/// Most of a child's output quoted in a status message.
const MESSAGE_MAX: usize = 400;

/// The `kateskit node` command the steps run: the `KATESKIT_NODE_CMD` test hook, else this
/// executable with `node`.
pub fn node_command() -> Result<Vec<String>, String> {
    if let Some(cmd) = crate::hooks::var(crate::hooks::NODE_CMD) {
        return Ok(cmd.split_whitespace().map(str::to_string).collect());
    }
    let exe =
        std::env::current_exe().map_err(|e| format!("finding the kateskit executable: {e}"))?;
    Ok(vec![exe.display().to_string(), "node".into()])
}

/// The `node stage` arguments for a request.
pub fn stage_args(req: &Request, state: &Path) -> Vec<String> {
    let mut a = vec!["stage".to_string(), req.source.clone()];
    if let Some(h) = req.sums_sha256.as_deref().filter(|h| !h.is_empty()) {
        a.extend(["--sums-sha256".into(), h.into()]);
    }
    if req.action == Action::Fetch {
        a.push("--fetch-only".into());
    }
    a.extend(["--state".into(), state.display().to_string()]);
    a
}

/// The last lines of `text`, at most [`MESSAGE_MAX`] characters, URLs redacted.
fn tail(text: &str) -> String {
    let t = text.trim();
    let start = t
        .char_indices()
        .rev()
        .nth(MESSAGE_MAX)
        .map_or(0, |(i, _)| i);
    crate::redact::text(t[start..].trim())
}

/// Runs `kateskit node ARGS`, bounded by `limit`: `Ok(stdout tail)` on exit 0, `Err(why)`.
pub fn run_node(args: &[String], limit: Duration) -> Result<String, String> {
    let cmd = node_command()?;
    let (prog, pre) = cmd.split_first().ok_or("KATESKIT_NODE_CMD is empty")?;
    let shown = format!("kateskit node {}", args.first().map_or("", String::as_str));
    let mut child = Command::new(prog)
        .args(pre)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {shown}: {e}"))?;
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let t0 = Instant::now();
    let status = loop {
        if let Some(st) = child
            .try_wait()
            .map_err(|e| format!("waiting for {shown}: {e}"))?
        {
            break Some(st);
        }
        if t0.elapsed() >= limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    match status {
        None => Err(format!(
            "{shown} did not finish within {}s and was stopped",
            limit.as_secs()
        )),
        Some(st) if st.success() => Ok(tail(&stdout)),
        Some(st) => {
            let why = if stderr.trim().is_empty() {
                &stdout
            } else {
                &stderr
            };
            Err(format!("{shown} failed ({st}): {}", tail(why)))
        }
    }
}

/// `systemctl reboot`, through the agent's systemctl (the `KATESKIT_SYSTEMCTL` test hook).
pub fn reboot(env: &AgentEnv) -> Result<(), String> {
    crate::agent::phases::systemctl(env, &["reboot"])
}
