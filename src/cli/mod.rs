//! Command-line front end: one file per subcommand, each with its own `run()`.

mod agent;
mod agent_config;
mod agent_config_get;
mod agent_config_list;
mod agent_health;
mod cluster;
mod cluster_import;
mod disk;
mod flash;
mod generate;
mod image;
mod install;
mod install_guided;
mod install_source;
mod kubeconfig;
mod netboot;
mod netboot_approve;
mod netboot_doctor;
mod netboot_serve;
mod netboot_status;
mod node;
mod node_commit;
mod node_rollback;
mod node_stage;
mod node_status;
mod node_watch;
mod term;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Turn bare metal into k3s nodes: describe the cluster once, stamp per-node config into
/// generic images, and let the first-boot agent do the rest.
#[derive(Debug, Parser)]
#[command(
    name = "kateskit",
    version,
    propagate_version = true,
    help_expected = true
)]
pub struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace). Also RUST_LOG.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Cluster spec, secrets, tokens and per-node configs.
    #[command(subcommand)]
    Cluster(cluster::ClusterCmd),
    /// Inspect disks: classification as the agent's disks phase sees it.
    #[command(subcommand)]
    Disk(disk::DiskCmd),
    /// Mint an admin kubeconfig from the cluster's client CA.
    Kubeconfig(kubeconfig::KubeconfigCmd),
    /// Generic images: stamp per-node config, inspect, reset, netboot carrier, download.
    #[command(subcommand)]
    Image(image::ImageCmd),
    /// Write an image to a USB stick or disk, verified by reading it back.
    Flash(flash::FlashCmd),
    /// Install the raw image to this machine's disk, carrying the node's config over.
    Install(install::InstallCmd),
    /// The first-boot agent: turn this machine into the node its config describes.
    #[command(subcommand)]
    Agent(agent::AgentCmd),
    /// Netboot racks: approve machines, show the fleet and each machine's boot timeline.
    #[command(subcommand)]
    Netboot(netboot::NetbootCmd),
    /// This machine's A/B slots: stage a release, commit or roll back the booted one, status.
    #[command(subcommand)]
    Node(node::NodeCmd),
    /// Shell completions and man pages from these definitions (for packagers).
    #[command(subcommand, hide = true)]
    Generate(generate::GenerateCmd),
}

impl Command {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Command::Cluster(c) => c.run(),
            Command::Disk(c) => c.run(),
            Command::Kubeconfig(c) => c.run().map(|()| ExitCode::SUCCESS),
            Command::Image(c) => c.run(),
            Command::Flash(c) => c.run(),
            Command::Install(c) => c.run(),
            Command::Agent(c) => c.run(),
            Command::Netboot(c) => c.run(),
            Command::Node(c) => c.run(),
            Command::Generate(c) => c.run().map(|()| ExitCode::SUCCESS),
        }
    }
}

/// Set by `-q`: status lines on stderr ("wrote ...") are left out; warnings and errors are not.
pub static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A status line on stderr, unless `-q` was given.
macro_rules! note {
    ($($arg:tt)*) => {
        if !$crate::cli::QUIET.load(std::sync::atomic::Ordering::Relaxed) {
            eprintln!($($arg)*);
        }
    };
}
pub(crate) use note;

/// A byte-progress bar on stderr: drawn only on a terminal, never with `-q`.
pub fn progress_bar(len: u64, message: &'static str) -> indicatif::ProgressBar {
    if QUIET.load(std::sync::atomic::Ordering::Relaxed) {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(len).with_style(
        indicatif::ProgressStyle::with_template(
            "{msg:>10} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    pb.set_message(message);
    pb
}

/// Logs go to stderr so stdout stays clean for JSON and tokens.
pub fn init_logging(verbose: u8, quiet: bool) {
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (_, 0) => "warn",
        (_, 1) => "info",
        (_, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap's own consistency checks, including help text on every argument.
    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
