//! The first-boot agent: gathers the config ladder, then runs idempotent, journaled phases
//! that turn a booted image into a k3s node (docs/agent.md).
//!
//! Every path is relative to a root (`KATESKIT_ROOT`), and the kernel command line, the block
//! device directory and the systemctl command can be overridden, so the agent runs as an
//! ordinary process in tests.

pub mod health;
pub mod kubeapi;
pub mod ladder;
pub mod phases;

use std::path::{Path, PathBuf};

/// Where the agent reads and writes; built once from the environment.
#[derive(Debug, Clone)]
pub struct AgentEnv {
    /// Root of the node's filesystem (`KATESKIT_ROOT`, default `/`).
    pub root: PathBuf,
    /// Kernel command line file (`KATESKIT_CMDLINE`, default `/proc/cmdline`, not under root).
    pub cmdline: PathBuf,
    /// Block device directory (`KATESKIT_DEV_DIR`, default `<root>/dev`).
    pub dev_dir: PathBuf,
    /// Command used instead of `systemctl` (`KATESKIT_SYSTEMCTL`), split on whitespace.
    pub systemctl: Vec<String>,
    /// Embed area file read instead of the standard locations (`KATESKIT_EMBED`).
    pub embed_override: Option<PathBuf>,
    /// Directory read as the config drive instead of mounting one (`KATESKIT_CONFIG_DRIVE`).
    pub drive_override: Option<PathBuf>,
    /// Command run instead of `udevadm` (`KATESKIT_UDEVADM`); empty: udev is not waited for
    /// (another root without the hook, so tests never wait on the host's udev).
    pub udevadm: Vec<String>,
    /// Command printing recent k3s log lines (`KATESKIT_K3S_LOG_CMD`).
    pub k3s_log_cmd: Vec<String>,
    /// Phase after which the process aborts, for crash tests (`KATESKIT_FAULT_AFTER`).
    pub fault_after: Option<String>,
    /// Leave the join to a later run (`agent run --before-k3s`): the unit that runs before
    /// k3s cannot wait for k3s to become Ready.
    pub defer_join: bool,
    /// Chart lock read instead of the compiled-in one (`KATESKIT_CHART_LOCK`).
    pub chart_lock: Option<PathBuf>,
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

impl AgentEnv {
    /// The defaults, with the test hooks applied in a `test-hooks` build ([`crate::hooks`])
    /// and the `KATESKIT_CHART_LOCK` setting.
    pub fn from_env() -> AgentEnv {
        use crate::hooks::{self, var};
        let root = PathBuf::from(var(hooks::ROOT).unwrap_or_else(|| "/".into()));
        AgentEnv {
            cmdline: var(hooks::CMDLINE)
                .map(PathBuf::from)
                .unwrap_or_else(|| "/proc/cmdline".into()),
            dev_dir: var(hooks::DEV_DIR)
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("dev")),
            systemctl: words(&var(hooks::SYSTEMCTL).unwrap_or_else(|| "systemctl".into())),
            embed_override: var(hooks::EMBED).map(PathBuf::from),
            drive_override: var(hooks::CONFIG_DRIVE).map(PathBuf::from),
            udevadm: match var(hooks::UDEVADM) {
                Some(cmd) => words(&cmd),
                None if root == Path::new("/") => words("udevadm"),
                None => Vec::new(),
            },
            k3s_log_cmd: words(
                &var(hooks::K3S_LOG_CMD)
                    .unwrap_or_else(|| "journalctl -u k3s -o cat -n 300 --no-pager".into()),
            ),
            fault_after: var(hooks::FAULT_AFTER),
            defer_join: false,
            chart_lock: std::env::var("KATESKIT_CHART_LOCK")
                .ok()
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            root,
        }
    }

    /// `rel` (absolute or not) placed under the root.
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        let rel = rel.as_ref();
        self.root.join(rel.strip_prefix("/").unwrap_or(rel))
    }

    /// A `/dev/...` path placed under the device directory.
    pub fn dev(&self, dev_path: &str) -> PathBuf {
        let rel = dev_path
            .strip_prefix("/dev/")
            .unwrap_or(dev_path.trim_start_matches('/'));
        self.dev_dir.join(rel)
    }

    pub fn state_dir(&self) -> PathBuf {
        self.path("var/lib/kateskit")
    }

    pub fn run_dir(&self) -> PathBuf {
        self.path("run/kateskit")
    }
}

/// An error from one agent phase: what failed, where the bad value came from, and the fix.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Fs(#[from] crate::fsutil::FsError),
    #[error("{0}")]
    Network(String),
    #[error("{0}")]
    Host(String),
    #[error("{0}")]
    Disk(String),
    #[error("{0}")]
    K3s(String),
    #[error("{0}")]
    Join(String),
}
