//! `kateskit agent run|network|status|config|health|console-autologin`: the first-boot agent, its
//! early network step, its report, queries of its effective config and the live console's
//! autologin decision.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use kateskit::agent::phases;
use kateskit::agent::phases::report;
use kateskit::agent::AgentEnv;

#[derive(Debug, Subcommand)]
pub enum AgentCmd {
    /// Run every phase (discover … report) against KATESKIT_ROOT; exits 1 if a phase failed,
    /// 0 when it succeeded or the machine is unconfigured (k3s then stays down).
    Run {
        /// Configure everything and queue the k3s start, but leave the join check to a later
        /// run: for the boot unit ordered before k3s.service.
        #[arg(long)]
        before_k3s: bool,
    },
    /// Write the static network of the local config sources as systemd-networkd files, before
    /// networkd starts (kateskit-network.service); the full ladder's network is `agent run`'s.
    Network {
        /// Read only the local sources (image defaults, embed area, config drive, kernel
        /// command line), never config_url: required, the only mode.
        #[arg(long)]
        local: bool,
    },
    /// Decide whether the live console logs root in: writes /run/kateskit/console-autologin
    /// only when no embed area is stamped (run before the gettys).
    ConsoleAutologin {
        /// Print the decision as JSON (`{"autologin": BOOL, "why": TEXT}`).
        #[arg(long)]
        json: bool,
    },
    /// Print the last run's status from /run/kateskit/status.json; exits 0 when ok, 1 when a
    /// phase failed, 2 when the machine is unconfigured.
    Status {
        /// Print the status JSON as written, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Query the last run's effective config (/run/kateskit/config): one value, or every path
    /// with its source.
    #[command(subcommand)]
    Config(super::agent_config::ConfigCmd),
    /// The boot's health gate: k3s active, this Node Ready, on servers the etcd member healthy
    /// and the API's /readyz answering, retried until --timeout; writes STATE/health.json and
    /// exits 0 when it passed, 1 when not.
    Health(super::agent_health::HealthArgs),
}

impl AgentCmd {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let mut env = AgentEnv::from_env();
        match self {
            AgentCmd::Config(c) => c.run(),
            AgentCmd::Health(a) => a.run(&env),
            AgentCmd::Run { before_k3s } => {
                env.defer_join = before_k3s;
                let (journal, _state) = phases::run(&env).context("writing the agent journal")?;
                let ok = journal
                    .phases
                    .iter()
                    .all(|p| p.outcome != phases::Outcome::Failed);
                Ok(if ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                })
            }
            AgentCmd::Network { local } => {
                if !local {
                    anyhow::bail!("`kateskit agent network` needs --local: the network of the full config ladder (with config_url) is applied by `kateskit agent run`");
                }
                let done = kateskit::agent::phases::network_local::apply(&env)
                    .context("writing the network of the local config sources")?;
                eprintln!("kateskit: {}", done.summary());
                Ok(ExitCode::SUCCESS)
            }
            AgentCmd::ConsoleAutologin { json } => {
                let d = kateskit::agent::phases::report::console::decide(&env);
                kateskit::agent::phases::report::console::apply(&env, &d)
                    .context("writing the console autologin marker")?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&d)?);
                } else {
                    println!("kateskit: {}", d.why);
                }
                Ok(ExitCode::SUCCESS)
            }
            AgentCmd::Status { json } => {
                let path = env.run_dir().join(report::STATUS);
                let text = std::fs::read_to_string(&path).with_context(|| {
                    format!(
                        "reading {} (has `kateskit agent run` run on this boot?)",
                        path.display()
                    )
                })?;
                let status: report::Status = serde_json::from_str(&text)
                    .with_context(|| format!("parsing {}", path.display()))?;
                if json {
                    print!("{text}");
                } else {
                    print!("{}", report::banner(&status));
                }
                Ok(match (status.ok, status.state.as_str()) {
                    (true, _) => ExitCode::SUCCESS,
                    (false, "unconfigured") => ExitCode::from(2),
                    (false, _) => ExitCode::FAILURE,
                })
            }
        }
    }
}
