//! `kateskit node`: this machine's A/B slots (docs/upgrades.md, "Node commands"). One file
//! per subcommand; the flags naming the disk, ESP and state directory are shared.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use kateskit::slots::{efivars, esp, stage::Paths, state};

#[derive(Debug, Subcommand)]
pub enum NodeCmd {
    /// Download a release, verify it, write it to the inactive slot and give it a boot entry
    /// with a boot counter (it boots next, once per try, until committed).
    Stage(super::node_stage::StageArgs),
    /// Bless the booted entry (drop its boot counter): run after the health gate passed.
    Commit(super::node_commit::CommitArgs),
    /// Mark the booted entry bad so the other slot boots next.
    Rollback(super::node_rollback::RollbackArgs),
    /// Booted version, slots, boot entries and their states, the last upgrade.
    Status(super::node_status::StatusArgs),
    /// Act on this Node's upgrade requests (fetch, stage, reboot) and report each step and
    /// every boot's outcome on the Node: the long-running kateskit-upgrade.service.
    Watch(super::node_watch::WatchArgs),
}

impl NodeCmd {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            NodeCmd::Stage(a) => a.run(),
            NodeCmd::Commit(a) => a.run(),
            NodeCmd::Rollback(a) => a.run(),
            NodeCmd::Status(a) => a.run(),
            NodeCmd::Watch(a) => a.run(),
        }
    }
}

/// Where the slots, the ESP and the upgrade state are.
#[derive(Debug, Args)]
pub struct PathArgs {
    /// The boot disk (default: the disk holding the partition mounted at /).
    #[arg(long, value_name = "DEV")]
    pub disk: Option<PathBuf>,
    /// Where the ESP is mounted.
    #[arg(long, value_name = "DIR", default_value = esp::DEFAULT_ESP)]
    pub esp: PathBuf,
    /// Upgrade state directory (downloads in staging/, state.json).
    #[arg(long, value_name = "DIR", default_value = state::DEFAULT_DIR)]
    pub state: PathBuf,
}

impl PathArgs {
    pub fn paths(&self) -> Paths {
        Paths {
            disk: self.disk.clone(),
            esp: self.esp.clone(),
            state: self.state.clone(),
            efivars: efivars::dir(None),
        }
    }
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
