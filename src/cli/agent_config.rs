//! `kateskit agent config get|list`: query the effective config the last agent run wrote.

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    Get(super::agent_config_get::GetCmd),
    List(super::agent_config_list::ListCmd),
}

impl ConfigCmd {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let env = kateskit::agent::AgentEnv::from_env();
        match self {
            ConfigCmd::Get(c) => c.run(&env),
            ConfigCmd::List(c) => c.run(&env),
        }
    }
}
