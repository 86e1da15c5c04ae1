//! `kateskit cluster`: init, check, render, token, ingress-ca.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use kateskit::{fsutil, nodecfg, pki, spec};

#[derive(Debug, Subcommand)]
pub enum ClusterCmd {
    /// Create DIR/cluster.toml (a commented template, unless one exists) and DIR/secrets/
    /// (the k3s CA set, server and agent tokens, the Ceph fsid and keys, the Ingress CA). Never overwrites
    /// existing secrets.
    Init(InitArgs),
    /// Validate DIR/cluster.toml. Exit 0 when valid, 1 when not; warnings go to stderr.
    Check(CheckArgs),
    /// Print one node's NodeConfig JSON (apiVersion kateskit.dev/v1) on stdout.
    Render(RenderArgs),
    /// Print the cluster's join token (the server token unless --agent).
    Token(TokenArgs),
    /// Print the Ingress CA certificate (PEM) to import into browsers and OS trust stores.
    #[command(long_about = INGRESS_CA_HELP)]
    IngressCa(IngressCaArgs),
    /// Create a cluster directory from another system's configs (k3os).
    Import(super::cluster_import::ImportArgs),
}

const INGRESS_CA_HELP: &str = "\
Print the Ingress CA certificate (PEM): the root cert-manager's `kateskit-ca` issuer signs the
cluster's Ingress certificates with when no public ACME domain is set. It is made by
`cluster init`, so it can be trusted before any node boots. Only the certificate is printed,
never the key (DIR/secrets/ingress-ca.key).

Import it once per client:
  Firefox:  Settings > Privacy & Security > Certificates > View Certificates > Authorities >
            Import, choose the file, tick \"Trust this CA to identify websites\".
  Chrome, Edge and the OS store:
            Debian/Ubuntu: sudo cp FILE /usr/local/share/ca-certificates/kateskit.crt &&
                           sudo update-ca-certificates
            Fedora/RHEL:   sudo cp FILE /etc/pki/ca-trust/source/anchors/ && sudo update-ca-trust
            macOS:         sudo security add-trusted-cert -d -r trustRoot \\
                             -k /Library/Keychains/System.keychain FILE
            Windows:       certutil -addstore -f Root FILE
            (Chrome on Linux reads its own store: Settings > Privacy and security > Security >
            Manage certificates > Authorities > Import.)
  curl:     curl --cacert FILE https://auth.example.internal/";

#[derive(Debug, Args)]
pub struct IngressCaArgs {
    /// Cluster directory holding secrets/.
    pub dir: PathBuf,
    /// Write to FILE (mode 0644, atomically) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Cluster directory holding cluster.toml (and secrets/).
    pub dir: PathBuf,
    /// Print the result as JSON on stdout (file, valid, nodes, diagnostics; docs/cli-cluster.md).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Cluster directory to create or complete.
    pub dir: PathBuf,
    /// Cluster name written into the template (a DNS label).
    #[arg(long, default_value = "kateskit")]
    pub name: String,
    /// Print what was written as JSON on stdout (docs/cli-cluster.md, "cluster init --json").
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Cluster directory holding cluster.toml and secrets/.
    pub dir: PathBuf,
    /// Node to render, as named in cluster.toml.
    #[arg(long)]
    pub node: String,
    /// Leave out secrets (tokens, CA material): the part Nix can compute too.
    #[arg(long)]
    pub public: bool,
    /// Write to FILE (mode 0600, atomically) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Cluster directory holding secrets/.
    pub dir: PathBuf,
    /// Print the agent token (joins agents only) instead of the server token.
    #[arg(long)]
    pub agent: bool,
}

/// Loads and validates DIR/cluster.toml, printing warnings to stderr.
pub fn load_spec(dir: &Path) -> anyhow::Result<spec::ClusterSpec> {
    let loaded = spec::load(&dir.join("cluster.toml"))?;
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    Ok(loaded.spec)
}

impl ClusterCmd {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            ClusterCmd::Init(a) => init(a),
            ClusterCmd::Check(a) if a.json => check_json(&a.dir),
            ClusterCmd::Check(a) => Ok(check(&a.dir)),
            ClusterCmd::Render(a) => render(a),
            ClusterCmd::IngressCa(a) => ingress_ca(a),
            ClusterCmd::Import(a) => a.run(),
            ClusterCmd::Token(a) => {
                let s = pki::load(&a.dir).context("loading cluster secrets")?;
                note_generated(&s);
                // Printing the token is this command's purpose.
                let t = if a.agent {
                    &s.agent_token
                } else {
                    &s.server_token
                };
                println!("{}", t.secret().expose());
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

fn init(a: InitArgs) -> anyhow::Result<ExitCode> {
    if !spec::is_dns_label(&a.name) {
        anyhow::bail!(
            "--name `{}` is not a DNS label: use lower-case letters, digits and `-`",
            a.name
        );
    }
    fsutil::ensure_dir(&a.dir, 0o755).with_context(|| format!("creating {}", a.dir.display()))?;
    let toml_path = a.dir.join("cluster.toml");
    let template_written = !toml_path.exists();
    if template_written {
        let text = spec::TEMPLATE.replace("@NAME@", &a.name);
        fsutil::write_new(&toml_path, text.as_bytes(), 0o644)?;
        super::note!("wrote {}", toml_path.display());
    } else {
        super::note!("keeping existing {}", toml_path.display());
    }
    let s = pki::init(&a.dir).context("creating cluster secrets")?;
    super::note!("wrote {} (CA hash {})", s.dir.display(), s.ca_hash());
    if a.json {
        let report = serde_json::json!({
            "cluster_toml": toml_path,
            "template_written": template_written,
            "secrets_dir": s.dir,
            "ca_hash": s.ca_hash(),
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(ExitCode::SUCCESS)
}

fn check(dir: &Path) -> ExitCode {
    match spec::load(&dir.join("cluster.toml")) {
        Ok(l) => {
            for w in &l.warnings {
                eprintln!("{w}");
            }
            super::note!("{}: ok ({} nodes)", l.path.display(), l.spec.nodes.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn check_json(dir: &Path) -> anyhow::Result<ExitCode> {
    let r = spec::check(&dir.join("cluster.toml"))?;
    println!("{}", serde_json::to_string_pretty(&r)?);
    Ok(if r.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Says which secrets an older cluster directory was completed with (keep them with the rest).
pub fn note_generated(s: &pki::Secrets) {
    for p in &s.generated {
        super::note!(
            "generated {} (missing in this cluster directory; keep it with the other secrets)",
            p.display()
        );
    }
    for p in &s.migrated {
        super::note!(
            "re-encoded {} as SEC1 (`EC PRIVATE KEY`, the form kube-apiserver reads); same key, CA hash unchanged",
            p.display()
        );
    }
}

fn render(a: RenderArgs) -> anyhow::Result<ExitCode> {
    let spec = load_spec(&a.dir)?;
    let cfg = if a.public {
        nodecfg::render_public(&spec, &a.node)?
    } else {
        let secrets = pki::load(&a.dir).context("loading cluster secrets")?;
        note_generated(&secrets);
        nodecfg::render(&spec, &secrets, &a.node)?
    };
    let mut json = serde_json::to_string_pretty(&cfg)?;
    json.push('\n');
    match a.output {
        Some(p) => fsutil::write_atomic(&p, json.as_bytes(), 0o600)?,
        None => std::io::stdout()
            .lock()
            .write_all(json.as_bytes())
            .context("writing to stdout")?,
    }
    Ok(ExitCode::SUCCESS)
}

fn ingress_ca(a: IngressCaArgs) -> anyhow::Result<ExitCode> {
    let s = pki::load(&a.dir).context("loading cluster secrets")?;
    note_generated(&s);
    let cert = s.ingress_ca.cert.as_bytes();
    match a.output {
        Some(p) => {
            fsutil::write_atomic(&p, cert, 0o644)?;
            super::note!("wrote {}", p.display());
        }
        None => std::io::stdout()
            .lock()
            .write_all(cert)
            .context("writing to stdout")?,
    }
    Ok(ExitCode::SUCCESS)
}
