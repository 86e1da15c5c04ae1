//! `kateskit node status`: what runs, what boots next, the last upgrade.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use kateskit::slots::status;

use super::node::{print_json, PathArgs};

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub paths: PathArgs,
    /// Print the status as JSON.
    #[arg(long)]
    pub json: bool,
}

impl StatusArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let s = status::status(&self.paths.paths()).context("reading the slot status")?;
        if self.json {
            print_json(&s)?;
            return Ok(ExitCode::SUCCESS);
        }
        let v = s
            .version
            .as_ref()
            .map_or("unknown".into(), |v| v.to_string());
        println!(
            "version:  {v} (entry {})",
            s.booted_entry.as_deref().unwrap_or("-")
        );
        if let Some(d) = &s.disk {
            println!("disk:     {}", d.display());
        }
        for sl in &s.slots {
            let run = if sl.running { " (running)" } else { "" };
            println!("slot {}:   {}{run}", sl.index, sl.name);
        }
        for e in &s.entries {
            let next = if e.next { "  <- boots next" } else { "" };
            println!("entry:    {} [{}]{next}", e.name, e.state);
        }
        if let Some(w) = &s.rolled_back_from {
            println!("rollback: {w} ran out of boot tries; this boot fell back to {v}");
        }
        if let Some(lu) = &s.last_upgrade {
            let r = serde_json::to_value(lu.result)?;
            println!(
                "last upgrade: {} -> {}: {} at {}",
                lu.from,
                lu.to,
                r.as_str().unwrap_or("?"),
                lu.at
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}
