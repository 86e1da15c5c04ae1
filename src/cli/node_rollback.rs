//! `kateskit node rollback [--reboot]`: mark the booted entry bad so the other slot boots.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use kateskit::slots::commit;

use super::node::{print_json, PathArgs};
use super::note;

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Reboot (systemctl reboot) once the entry is marked.
    #[arg(long)]
    pub reboot: bool,
    #[command(flatten)]
    pub paths: PathArgs,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

impl RollbackArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let out = commit::rollback(&self.paths.paths()).context("rolling back")?;
        if self.json {
            print_json(&out)?;
        } else {
            println!(
                "marked {} bad; {} boots next ({})",
                out.from, out.to, out.next
            );
        }
        if self.reboot {
            note!("rebooting");
            let cmd = kateskit::agent::AgentEnv::from_env().systemctl;
            let status = std::process::Command::new(&cmd[0])
                .args(&cmd[1..])
                .arg("reboot")
                .status()
                .with_context(|| format!("running {} reboot", cmd.join(" ")))?;
            if !status.success() {
                anyhow::bail!("{} reboot failed: {status}", cmd.join(" "));
            }
        } else {
            note!("reboot to boot {}", out.to);
        }
        Ok(ExitCode::SUCCESS)
    }
}
