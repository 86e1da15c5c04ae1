//! `kateskit node stage SOURCE`: fetch, verify and write a release to the inactive slot.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use kateskit::slots::stage::{self, StageOptions, StageOutcome, DEFAULT_TRIES};

use super::node::{print_json, PathArgs};
use super::note;

#[derive(Debug, Args)]
pub struct StageArgs {
    /// Release: a directory with SHA256SUMS, the path of that SHA256SUMS, or an http(s) URL of
    /// the directory (ending in /) or of its SHA256SUMS.
    #[arg(value_name = "SOURCE")]
    pub source: String,
    /// Expected SHA-256 of the release's SHA256SUMS file itself.
    #[arg(long, value_name = "HEX")]
    pub sums_sha256: Option<String>,
    /// Boot tries of the new entry before systemd-boot falls back to the other slot.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_TRIES)]
    pub tries: u32,
    /// Only download and verify into the staging directory; write nothing to a slot.
    #[arg(long)]
    pub fetch_only: bool,
    #[command(flatten)]
    pub paths: PathArgs,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

impl StageArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let bar = |what: &'static str| super::progress_bar(0, what);
        let opts = StageOptions {
            source: self.source.clone(),
            sums_sha256: self.sums_sha256.clone(),
            tries: self.tries,
            fetch_only: self.fetch_only,
            progress: if self.json { None } else { Some(&bar) },
        };
        let out = stage::stage(&self.paths.paths(), &opts)
            .with_context(|| format!("staging {}", kateskit::redact::url(&self.source)))?;
        if self.json {
            print_json(&out)?;
        } else {
            match &out {
                StageOutcome::AlreadyRunning { version } => {
                    println!("already running {version}; nothing to stage")
                }
                StageOutcome::Fetched { version, dir } => {
                    println!("fetched and verified {version} in {}", dir.display())
                }
                StageOutcome::Staged {
                    from,
                    version,
                    slot,
                    entry,
                } => {
                    println!("staged {version} in slot partition {slot} (running {from})");
                    note!("boot entry {entry}: it boots next; `kateskit node commit` keeps it");
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
