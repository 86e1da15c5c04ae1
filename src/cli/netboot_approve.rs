//! `kateskit netboot approve MAC (--node NAME | --as agent|server) --state DIR`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use kateskit::netboot::fleet::{approve, Target};
use kateskit::spec::Role;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AsRole {
    Agent,
    Server,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["node", "as_role"])))]
pub struct ApproveArgs {
    /// The machine's MAC (52:54:00:12:34:56 or with `-`).
    pub mac: String,
    /// Make it this node of cluster.toml.
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
    /// Make it a new node of this role, named node-<last three MAC bytes>.
    #[arg(long = "as", value_name = "ROLE")]
    pub as_role: Option<AsRole>,
    /// The netboot server's state directory (`netboot serve --state`).
    #[arg(long, value_name = "DIR")]
    pub state: PathBuf,
    /// Cluster directory: when given, --node is checked against its cluster.toml now.
    #[arg(long, value_name = "DIR")]
    pub cluster: Option<PathBuf>,
}

impl ApproveArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let target = match (&self.node, self.as_role) {
            (Some(n), _) => Target::Node(n.clone()),
            (None, Some(AsRole::Agent)) => Target::As(Role::Agent),
            (None, Some(AsRole::Server)) => Target::As(Role::Server),
            (None, None) => unreachable!("clap requires one"),
        };
        if let (Some(dir), Some(n)) = (&self.cluster, &self.node) {
            let spec = super::cluster::load_spec(dir)?;
            if !spec.nodes.iter().any(|x| &x.name == n) {
                let known: Vec<&str> = spec.nodes.iter().map(|x| x.name.as_str()).collect();
                anyhow::bail!(
                    "{}: no node named `{n}` (known: {}); add it to cluster.toml or use --as agent|server",
                    dir.join("cluster.toml").display(),
                    known.join(", ")
                );
            }
        }
        if !self.state.is_dir() {
            anyhow::bail!(
                "{} is not a directory: pass the --state directory `kateskit netboot serve` uses",
                self.state.display()
            );
        }
        let a = approve::write(&self.state, &self.mac, target)
            .with_context(|| format!("approving {}", self.mac))?;
        let what = match &a.target {
            Target::Node(n) => format!("node {n}"),
            Target::As(r) => format!("a new {}", r.as_str()),
        };
        super::note!(
            "approved {} as {what}; the server serves its config at the machine's next poll",
            a.mac
        );
        Ok(ExitCode::SUCCESS)
    }
}
