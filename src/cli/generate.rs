//! `kateskit generate completions|man`: shell completions and man pages made from the clap
//! definitions themselves, so they never drift from the binary. Hidden from help: packagers
//! (nix/package.nix) run it at build time; users get the installed files.

use std::path::PathBuf;

use anyhow::Context;
use clap::{CommandFactory, Subcommand, ValueEnum};

#[derive(Debug, Subcommand)]
pub enum GenerateCmd {
    /// Print a completion script for SHELL on stdout.
    Completions {
        /// Shell the script is for.
        #[arg(long, value_enum)]
        shell: Shell,
    },
    /// Write one man page per subcommand (kateskit.1, kateskit-cluster.1,
    /// kateskit-cluster-init.1, ...) into DIR, created if missing.
    Man {
        /// Directory the pages are written to.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

/// The shells whose scripts are tested and installed; clap_complete knows more, but an
/// untested script is not offered.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

impl From<Shell> for clap_complete::Shell {
    fn from(s: Shell) -> Self {
        match s {
            Shell::Bash => clap_complete::Shell::Bash,
            Shell::Zsh => clap_complete::Shell::Zsh,
            Shell::Fish => clap_complete::Shell::Fish,
        }
    }
}

impl GenerateCmd {
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            GenerateCmd::Completions { shell } => {
                let mut cmd = super::Cli::command();
                let mut out = std::io::stdout().lock();
                clap_complete::generate(
                    clap_complete::Shell::from(shell),
                    &mut cmd,
                    "kateskit",
                    &mut out,
                );
                Ok(())
            }
            GenerateCmd::Man { out } => {
                std::fs::create_dir_all(&out)
                    .with_context(|| format!("creating {}", out.display()))?;
                clap_mangen::generate_to(super::Cli::command(), &out)
                    .with_context(|| format!("writing man pages to {}", out.display()))?;
                super::note!("wrote man pages to {}", out.display());
                Ok(())
            }
        }
    }
}
