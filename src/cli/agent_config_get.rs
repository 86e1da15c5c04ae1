//! `kateskit agent config get PATH [--json]`: one effective value of the last run.

use std::process::ExitCode;

use clap::Args;
use kateskit::agent::{ladder::flat::query, AgentEnv};

/// Print one effective value from /run/kateskit/config (the last run's tree), as its file
/// holds it: lists one item per line.
#[derive(Debug, Args)]
pub struct GetCmd {
    /// The value's path in the tree, keys joined by `/` (`host/hostname`,
    /// `node/labels/topology.kubernetes.io%2Fzone`).
    pub path: String,
    /// Print `{"path", "value", "source"}` with the value typed by the schema.
    #[arg(long)]
    pub json: bool,
}

impl GetCmd {
    pub fn run(self, env: &AgentEnv) -> anyhow::Result<ExitCode> {
        let got = query::get(env, &self.path)?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&got)?);
        } else {
            print!("{}", got.text);
        }
        Ok(ExitCode::SUCCESS)
    }
}
