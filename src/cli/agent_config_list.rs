//! `kateskit agent config list [PATH] [--json]`: the last run's paths and their sources.

use std::process::ExitCode;

use clap::Args;
use kateskit::agent::{ladder::flat::query, AgentEnv};

/// List every path of the last run's effective config with the source that set it
/// (`default` and `derived (...)` for the agent's own).
#[derive(Debug, Args)]
pub struct ListCmd {
    /// Only this path and the paths below it (`node`, `agent/sysctls`).
    pub path: Option<String>,
    /// Print `[{"path", "source"}, ...]`.
    #[arg(long)]
    pub json: bool,
}

impl ListCmd {
    pub fn run(self, env: &AgentEnv) -> anyhow::Result<ExitCode> {
        let entries = query::list(env, self.path.as_deref())?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&entries)?);
        } else {
            let width = entries.iter().map(|e| e.path.len()).max().unwrap_or(0);
            for e in &entries {
                println!("{:<width$}  {}", e.path, e.source);
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
