//! `kateskit upgrade`: parses the flags, draws per-node progress, prints the final table or the
//! JSON report. The rollout itself is `kateskit::upgrade`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use clap::Args;
use kateskit::duration;
use kateskit::upgrade::{self, Options, Progress, Report};

/// Roll a release across the cluster, node by node, through the Kubernetes API.
///
/// Steps: read SOURCE's SHA256SUMS (a local release is verified file by file), check every
/// target node is Ready, skip nodes already on the release, ask every node to fetch and verify
/// the release (before anything is cordoned), then per node: cordon, drain through the eviction
/// API (DaemonSet and mirror pods stay), stage the release into the inactive slot, reboot, wait
/// for a new boot ID, Ready and the node's health gate on the new release, uncordon.
///
/// Safety rules: servers go first, one at a time, and never when the Ready etcd members minus
/// that one would lose quorum or it is the last Ready server; agents follow, --concurrency at a
/// time. A single control plane is refused unless --force. The first failure stops the rollout:
/// the failed node is uncordoned when it is up (it stays cordoned, and says why, when it did
/// not come back), no further node is started. Nodes cordoned by someone else stay cordoned.
/// DIR/upgrade/journal.json records every step; rerunning the same command resumes (no node is
/// rebooted twice); another release while one is unfinished needs --abandon.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct UpgradeCmd {
    /// Cluster directory (cluster.toml and secrets/): the API endpoint and admin credentials.
    #[arg(long, value_name = "DIR")]
    pub cluster: PathBuf,
    /// The release: a directory, its SHA256SUMS, or an http(s) URL of either (a directory URL
    /// ends in `/`). Every node must be able to read it at this location.
    #[arg(long, value_name = "SOURCE")]
    pub to: String,
    /// Only these nodes (comma-separated names).
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    pub nodes: Option<Vec<String>>,
    /// Agents upgraded at once (servers are always one at a time).
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// How long a node's drain may take (PDB-refused evictions are retried until then).
    #[arg(long, default_value = "5m", value_name = "D", value_parser = duration::parse)]
    pub drain_timeout: Duration,
    /// How long a node may take to reboot and pass its health gate (also bounds fetch and stage).
    #[arg(long, default_value = "15m", value_name = "D", value_parser = duration::parse)]
    pub reboot_timeout: Duration,
    /// Proceed on a single control plane, or where etcd quorum would be at risk.
    #[arg(long)]
    pub force: bool,
    /// Print the plan (order, batches, skipped nodes, PDB warnings) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Give up an unfinished rollout of another release and start this one.
    #[arg(long)]
    pub abandon: bool,
    /// Print the report as one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
    /// API URL instead of the one cluster.toml gives (e.g. https://10.0.0.10:6443).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
}

impl UpgradeCmd {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let opts = Options {
            cluster_dir: self.cluster,
            source: self.to,
            nodes: self.nodes,
            concurrency: usize::from(self.concurrency),
            drain_timeout: self.drain_timeout,
            reboot_timeout: self.reboot_timeout,
            force: self.force,
            dry_run: self.dry_run,
            abandon: self.abandon,
            server: self.server,
        };
        let progress = Lines::new(!self.json && std::io::stderr().is_terminal());
        let report = upgrade::run(&opts, &progress)?;
        progress.clear();
        if self.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print_report(&report);
        }
        Ok(if report.failed() {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        })
    }
}

/// One bar per node on a terminal, plain lines otherwise.
struct Lines {
    bars: Option<(
        indicatif::MultiProgress,
        Mutex<HashMap<String, indicatif::ProgressBar>>,
    )>,
}

impl Lines {
    fn new(tty: bool) -> Lines {
        let quiet = super::QUIET.load(std::sync::atomic::Ordering::Relaxed);
        Lines {
            bars: (tty && !quiet)
                .then(|| (indicatif::MultiProgress::new(), Mutex::new(HashMap::new()))),
        }
    }

    fn clear(&self) {
        if let Some((m, _)) = &self.bars {
            let _ = m.clear();
        }
    }
}

impl Progress for Lines {
    fn node(&self, node: &str, step: &str) {
        match &self.bars {
            Some((m, bars)) => {
                let mut bars = bars.lock().expect("bars");
                let bar = bars.entry(node.to_string()).or_insert_with(|| {
                    let b = m.add(indicatif::ProgressBar::new_spinner());
                    b.set_style(
                        indicatif::ProgressStyle::with_template("{spinner} {prefix:<16} {msg}")
                            .expect("static template"),
                    );
                    b.set_prefix(node.to_string());
                    b.enable_steady_tick(Duration::from_millis(120));
                    b
                });
                bar.set_message(step.to_string());
            }
            None => super::note!("{node}: {step}"),
        }
    }

    fn note(&self, text: &str) {
        match &self.bars {
            Some((m, _)) => {
                let _ = m.println(text);
            }
            None => super::note!("{text}"),
        }
    }
}

fn print_report(r: &Report) {
    if !r.batches.is_empty() && r.rollout.is_none() {
        println!("plan for {} ({}):", r.version, r.source);
        for (i, b) in r.batches.iter().enumerate() {
            println!("  batch {}: {}", i + 1, b.join(", "));
        }
    }
    for s in &r.skipped {
        println!("  skip {}: {}", s.node, s.reason);
    }
    for w in &r.warnings {
        println!("warning: {w}");
    }
    if !r.nodes.is_empty() {
        println!(
            "{:<16} {:<7} {:<14} {:<14} {:<12} {:>7}",
            "NODE", "ROLE", "FROM", "TO", "RESULT", "TIME"
        );
        for n in &r.nodes {
            println!(
                "{:<16} {:<7} {:<14} {:<14} {:<12} {:>6.1}s",
                n.node,
                n.role,
                n.from.as_deref().unwrap_or("unknown"),
                n.to,
                n.result.as_str(),
                n.seconds
            );
        }
    }
    println!("{}", r.message);
}
