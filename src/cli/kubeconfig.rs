//! `kateskit kubeconfig`: an admin kubeconfig for the cluster's API endpoint.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use kateskit::{fsutil, nodecfg, pki};

/// Largest existing kubeconfig `--merge` reads (real ones with hundreds of contexts are far below).
const KUBECONFIG_MAX: u64 = 64 * 1024 * 1024;

#[derive(Debug, Args)]
pub struct KubeconfigCmd {
    /// Cluster directory holding cluster.toml and secrets/.
    pub dir: PathBuf,
    /// Write a new kubeconfig to FILE (refuses to overwrite; use --merge for an existing one).
    #[arg(short, long, value_name = "FILE", conflicts_with = "merge")]
    pub output: Option<PathBuf>,
    /// Merge into an existing kubeconfig (e.g. ~/.kube/config), replacing only this cluster's
    /// entries and keeping every other context.
    #[arg(long, value_name = "PATH")]
    pub merge: Option<PathBuf>,
    /// With --merge: also make this cluster the current context.
    #[arg(long, requires = "merge")]
    pub switch_context: bool,
    /// Validity of the admin certificate, in days.
    #[arg(long, default_value_t = 365)]
    pub days: i64,
}

impl KubeconfigCmd {
    pub fn run(self) -> anyhow::Result<()> {
        let spec = super::cluster::load_spec(&self.dir)?;
        let secrets = pki::load(&self.dir).context("loading cluster secrets")?;
        super::cluster::note_generated(&secrets);
        let admin = pki::kubeconfig::mint_admin(&secrets, self.days)
            .context("minting admin certificate")?;
        let url = format!("https://{}:6443", nodecfg::api_endpoint(&spec)?);
        let new = pki::kubeconfig::render(
            &spec.cluster.name,
            &url,
            &secrets.tls["server-ca.crt"],
            &admin,
        );
        match (self.output, self.merge) {
            (Some(out), _) => {
                let text = serde_yaml_ng::to_string(&new)?;
                fsutil::write_new(&out, text.as_bytes(), 0o600)
                    .with_context(|| format!("writing {}", out.display()))?;
                super::note!("wrote {} (context {})", out.display(), spec.cluster.name);
            }
            (None, Some(path)) => {
                // O_NOFOLLOW: a symlink at the kubeconfig path is refused, not read through.
                let existing = match fsutil::read_nofollow(&path, KUBECONFIG_MAX)? {
                    Some(t) => serde_yaml_ng::from_slice(&t)
                        .with_context(|| format!("parsing {}", path.display()))?,
                    None => serde_yaml_ng::Value::Null,
                };
                let merged = pki::kubeconfig::merge(existing, &new, self.switch_context)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                let text = serde_yaml_ng::to_string(&merged)?;
                fsutil::write_atomic(&path, text.as_bytes(), 0o600)
                    .with_context(|| format!("writing {}", path.display()))?;
                super::note!(
                    "merged context {} into {}",
                    spec.cluster.name,
                    path.display()
                );
            }
            (None, None) => print!("{}", serde_yaml_ng::to_string(&new)?),
        }
        Ok(())
    }
}
