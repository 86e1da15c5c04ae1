//! `kateskit node watch`: the node's side of a rolling upgrade (kateskit-upgrade.service).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use kateskit::agent::health::duration;
use kateskit::agent::AgentEnv;

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Upgrade state directory (watch.json, the gate's health.json, downloads).
    #[arg(long, value_name = "DIR", default_value = kateskit::slots::state::DEFAULT_DIR)]
    pub state: PathBuf,
    /// How often the Node object is read.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration::parse)]
    pub interval: std::time::Duration,
}

impl WatchArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let env = AgentEnv::from_env();
        let opts = kateskit::node_watch::Options {
            state_dir: env.path(&self.state),
            interval: self.interval,
            efivars: kateskit::slots::efivars::dir(None),
        };
        kateskit::node_watch::watch(&env, &opts)?;
        Ok(ExitCode::FAILURE)
    }
}
