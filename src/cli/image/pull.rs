//! `kateskit image pull`: resumable, checksum-verified image download.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use kateskit::image::pull;

#[derive(Debug, Args)]
pub struct PullArgs {
    /// http(s) URL of the image.
    pub url: String,
    /// Destination file; the download grows in FILE.part.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Expected SHA-256 of the image (64 hex digits).
    #[arg(
        long,
        value_name = "HEX",
        required_unless_present = "sha256sums",
        conflicts_with = "sha256sums"
    )]
    pub sha256: Option<String>,
    /// URL of a SHA256SUMS file listing the image's file name.
    #[arg(long, value_name = "URL")]
    pub sha256sums: Option<String>,
    /// Replace FILE if it exists.
    #[arg(short, long)]
    pub force: bool,
    /// Attempts before giving up (with exponential backoff between them).
    #[arg(long, default_value_t = 5)]
    pub retries: u32,
}

pub fn run(a: PullArgs) -> anyhow::Result<ExitCode> {
    let sha = match (&a.sha256, &a.sha256sums) {
        (Some(h), _) => pull::parse_sha256(h)?,
        (None, Some(sums)) => pull::sha256_from_sums(sums, &a.url)?,
        (None, None) => bail!("give --sha256 HEX or --sha256sums URL"),
    };
    let pb = crate::cli::progress_bar(0, "download");
    let opts = pull::PullOptions {
        retries: a.retries,
        force: a.force,
        progress: Some(pb),
        ..Default::default()
    };
    let n = pull::pull(&a.url, &a.output, &sha, &opts)?;
    crate::cli::note!("{}: {n} bytes, sha256 {sha} verified", a.output.display());
    Ok(ExitCode::SUCCESS)
}
