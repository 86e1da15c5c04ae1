//! `kateskit node commit`: bless the booted entry.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use kateskit::slots::commit::{self, CommitOutcome};

use super::node::{print_json, PathArgs};

#[derive(Debug, Args)]
pub struct CommitArgs {
    #[command(flatten)]
    pub paths: PathArgs,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

impl CommitArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let out = commit::commit(&self.paths.paths()).context("committing the booted entry")?;
        if self.json {
            print_json(&out)?;
        } else {
            match &out {
                CommitOutcome::Committed { version, from, to } => {
                    println!("committed {version}: {from} -> {to}")
                }
                CommitOutcome::AlreadyGood { version, entry } => {
                    println!("{version} is already committed ({entry} has no boot counter)")
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
