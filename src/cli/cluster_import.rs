//! `kateskit cluster import k3os CONFIG.yaml... --into DIR`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use kateskit::k3os::import;

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub from: ImportFrom,
}

#[derive(Debug, Subcommand)]
pub enum ImportFrom {
    /// Turn k3os config.yaml files (one per node) into a cluster directory: cluster.toml and
    /// `cluster init`'s secrets; a token the configs carry is kept in secrets/k3os-token for
    /// joining the live k3os cluster. Prints what was not carried over (docs/migrate-k3os.md).
    K3os(K3osArgs),
}

#[derive(Debug, Args)]
pub struct K3osArgs {
    /// k3os config.yaml files, one per node.
    #[arg(required = true, value_name = "CONFIG.yaml")]
    pub configs: Vec<PathBuf>,
    /// Cluster directory to create; refused when it already holds cluster.toml or secrets/.
    #[arg(long, value_name = "DIR")]
    pub into: PathBuf,
    /// Cluster name written into cluster.toml (a DNS label).
    #[arg(long, default_value = "k3os")]
    pub name: String,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

impl ImportArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let ImportFrom::K3os(a) = self.from;
        if !kateskit::spec::is_dns_label(&a.name) {
            anyhow::bail!(
                "--name `{}` is not a DNS label: use lower-case letters, digits and `-`",
                a.name
            );
        }
        let r = import::import(&a.configs, &a.into, &a.name)?;
        if a.json {
            println!("{}", serde_json::to_string_pretty(&r)?);
            return Ok(ExitCode::SUCCESS);
        }
        println!("wrote {}", r.dir.join("cluster.toml").display());
        for n in &r.nodes {
            println!("  node {} ({}) from {}", n.name, n.role, n.file);
        }
        if let Some(t) = &r.token_file {
            println!(
                "kept the k3os token in {} (to join the live k3os cluster: docs/migrate-k3os.md)",
                t.display()
            );
        }
        if r.not_carried.is_empty() {
            println!("everything was carried over");
        } else {
            println!("not carried over:");
            for u in &r.not_carried {
                println!("  {u}");
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
