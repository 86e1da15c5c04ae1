//! `kateskit netboot status --state DIR [--json] [--mac MAC]`: reads the state directory the
//! server writes, so it works whether or not the server runs.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use kateskit::netboot::fleet::{self, approve, view, FleetState};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The netboot server's state directory (`netboot serve --state`).
    #[arg(long, value_name = "DIR")]
    pub state: PathBuf,
    /// Print the rows (with their timelines) as one JSON document.
    #[arg(long)]
    pub json: bool,
    /// Also print this machine's boot timeline.
    #[arg(long, value_name = "MAC")]
    pub mac: Option<String>,
}

impl StatusArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        if !self.state.is_dir() {
            anyhow::bail!(
                "{} is not a directory: pass the --state directory `kateskit netboot serve` uses",
                self.state.display()
            );
        }
        let st = FleetState::load(&self.state).context("reading the fleet state")?;
        let approvals = approve::read_all(&self.state).context("reading the approvals")?;
        let mut rows = view::nodes(&st, &approvals);
        let one =
            match &self.mac {
                Some(m) => {
                    let mac = fleet::parse_mac(m)?;
                    let r = rows.iter().find(|r| r.mac == mac).cloned().with_context(|| {
                    format!("{mac}: the server has not seen this machine and no approval names it")
                })?;
                    Some(r)
                }
                None => None,
            };
        if self.json {
            if let Some(r) = one {
                rows = vec![r];
            }
            println!("{}", serde_json::to_string_pretty(&rows)?);
        } else {
            print!("{}", view::table(&rows));
            if let Some(r) = one {
                println!();
                print!("{}", view::timeline(&r));
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
