//! `kateskit agent health`: the boot's health gate (kateskit-health.service runs it before
//! boot-complete.target).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use kateskit::agent::health::{self, duration};
use kateskit::agent::AgentEnv;

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// How long the checks may take to pass (e.g. 90s, 10m); then the gate fails.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = duration::parse)]
    pub timeout: std::time::Duration,
    /// Upgrade state directory; the verdict goes to STATE/health.json.
    #[arg(long, value_name = "DIR", default_value = kateskit::slots::state::DEFAULT_DIR)]
    pub state: PathBuf,
    /// Print the verdict as JSON (what health.json holds).
    #[arg(long)]
    pub json: bool,
}

impl HealthArgs {
    pub fn run(self, env: &AgentEnv) -> anyhow::Result<ExitCode> {
        let opts = health::Options {
            timeout: self.timeout,
            state_dir: env.path(&self.state),
            efivars: kateskit::slots::efivars::dir(None),
        };
        let report = health::run(env, &opts)?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", health::summary(&report));
        }
        Ok(if report.passed {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}
