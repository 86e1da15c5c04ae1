//! `kateskit image`: stamp, inspect and reset the embed area of generic images; write the
//! netboot carrier; download images with checksum verification.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
mod inspect;
mod pull;

use kateskit::image::customize::{self, Stamp};
use kateskit::image::{copy, cpio, embed};
use kateskit::{fsutil, nodecfg, pki};

#[derive(Debug, Subcommand)]
pub enum ImageCmd {
    /// Stamp one node's config (and extra kernel arguments) into an image's embed area.
    Customize(CustomizeArgs),
    /// Show what an image's embed area holds: empty, stamped (summary) or corrupt (which check failed).
    Inspect(InspectArgs),
    /// Return an image's embed area to its pristine build-time bytes (all zeros).
    Reset(ImageArg),
    /// Write the netboot carrier: a newc cpio holding kateskit/embed.img, loaded after the initrd.
    Initrd(InitrdArgs),
    /// Download an image, resuming partial downloads, verified by SHA-256 before it gets its name.
    Pull(pull::PullArgs),
}

#[derive(Debug, Args)]
pub struct ImageArg {
    /// Image file (ISO, raw GPT disk image, or netboot cpio).
    pub image: PathBuf,
}

/// Where the NodeConfig comes from: a rendered JSON file, or the cluster directory.
#[derive(Debug, Args)]
pub struct ConfigSource {
    /// NodeConfig JSON file (from `kateskit cluster render`).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["cluster", "node"], required_unless_present = "cluster")]
    pub node_config: Option<PathBuf>,
    /// Cluster directory (cluster.toml + secrets/) to render the node's config from.
    #[arg(long, value_name = "DIR", requires = "node")]
    pub cluster: Option<PathBuf>,
    /// Node name in cluster.toml (with --cluster).
    #[arg(long, value_name = "NAME", requires = "cluster")]
    pub node: Option<String>,
    /// Extra kernel-style argument for the agent (kateskit.*, ip=...); repeatable.
    #[arg(long = "karg", value_name = "ARG")]
    pub kargs: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CustomizeArgs {
    /// Image to stamp (ISO, raw GPT disk image, or netboot cpio).
    pub image: PathBuf,
    #[command(flatten)]
    pub source: ConfigSource,
    /// Modify IMAGE itself.
    #[arg(long, conflicts_with = "output", required_unless_present = "output")]
    pub in_place: bool,
    /// Write a stamped copy to OUT (reflinked or copied in-kernel where possible).
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Replace OUT if it exists.
    #[arg(short, long, requires = "output")]
    pub force: bool,
    /// Stamp a server's config into a netboot cpio although it travels in clear over
    /// TFTP/HTTP (ISO and raw images are not affected). Refused without it.
    #[arg(long)]
    pub allow_server_secrets: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Image file (ISO, raw GPT disk image, or netboot cpio).
    pub image: PathBuf,
    /// Print JSON on stdout (secrets are never printed).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InitrdArgs {
    #[command(flatten)]
    pub source: ConfigSource,
    /// Output cpio file (e.g. node.cpio), written atomically with mode 0600.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Replace FILE if it exists.
    #[arg(short, long)]
    pub force: bool,
    /// Write a server's config (its token; on the first server, every CA key) although the
    /// carrier travels in clear over TFTP/HTTP. Refused without it.
    #[arg(long)]
    pub allow_server_secrets: bool,
}

impl ImageCmd {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            ImageCmd::Customize(a) => customize_cmd(a),
            ImageCmd::Inspect(a) => inspect::run(a),
            ImageCmd::Reset(a) => {
                let c = customize::reset(&a.image)?;
                crate::cli::note!(
                    "{}: reset {} ({} bytes at byte {}) to zeros",
                    a.image.display(),
                    c.kind,
                    c.extent.len,
                    c.extent.offset
                );
                Ok(ExitCode::SUCCESS)
            }
            ImageCmd::Initrd(a) => initrd_cmd(a),
            ImageCmd::Pull(a) => pull::run(a),
        }
    }
}

/// Loads or renders the NodeConfig, validates it, and returns what to stamp.
fn load_stamp(src: &ConfigSource) -> anyhow::Result<Stamp> {
    Ok(load_config(src)?.0)
}

/// What to stamp into a netboot carrier: a server's config only with `allow` (it travels in
/// clear, see [`kateskit::image::cleartext`]); an agent's with a warning.
fn load_carrier_stamp(src: &ConfigSource, allow: bool) -> anyhow::Result<Stamp> {
    let (stamp, cfg) = load_config(src)?;
    match kateskit::image::cleartext::refusal(&cfg) {
        Some(why) if !allow => bail!("refusing to write a netboot carrier: {why}"),
        Some(_) => tracing::warn!(
            "node {}: the carrier holds server secrets (--allow-server-secrets)",
            cfg.node.name
        ),
        None => {
            if let Some(w) = kateskit::image::cleartext::agent_warning(&cfg) {
                tracing::warn!("{w}");
            }
        }
    }
    Ok(stamp)
}

fn load_config(src: &ConfigSource) -> anyhow::Result<(Stamp, nodecfg::NodeConfig)> {
    let cfg = match (&src.node_config, &src.cluster, &src.node) {
        (Some(file), _, _) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            nodecfg::NodeConfig::from_json(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?
        }
        (None, Some(dir), Some(node)) => {
            let spec = super::cluster::load_spec(dir)?;
            let secrets = pki::load(dir)
                .with_context(|| format!("loading cluster secrets from {}", dir.display()))?;
            super::cluster::note_generated(&secrets);
            nodecfg::render(&spec, &secrets, node)?
        }
        _ => bail!("give --node-config FILE, or --cluster DIR --node NAME"),
    };
    embed::check_kargs(&src.kargs)?;
    let stamp = Stamp {
        node_config_json: Some(serde_json::to_string(&cfg)?),
        kargs: src.kargs.clone(),
    };
    Ok((stamp, cfg))
}

fn customize_cmd(a: CustomizeArgs) -> anyhow::Result<ExitCode> {
    // An image that does not parse fails in the stamp below, with its own error.
    let is_cpio = std::fs::File::open(&a.image)
        .ok()
        .and_then(|f| kateskit::image::locate(&f).ok())
        .is_some_and(|c| c.kind == kateskit::image::CarrierKind::Cpio);
    let stamp = if is_cpio {
        load_carrier_stamp(&a.source, a.allow_server_secrets)?
    } else {
        load_stamp(&a.source)?
    };
    let (target, carrier) = match &a.output {
        None => (a.image.clone(), customize::stamp(&a.image, &stamp)?),
        Some(out) => {
            let mut carrier = None;
            let pb = crate::cli::progress_bar(0, "copying");
            let edit = |tmp: &std::path::Path| -> anyhow::Result<()> {
                carrier =
                    Some(customize::stamp(tmp, &stamp).map_err(|e| {
                        anyhow::anyhow!("{}: {}", a.image.display(), strip_path(&e))
                    })?);
                Ok(())
            };
            let method = copy::copy_edit_persist(&a.image, out, a.force, Some(&pb), edit)?;
            pb.finish_and_clear();
            crate::cli::note!(
                "{}: copied from {} ({method})",
                out.display(),
                a.image.display()
            );
            (out.clone(), carrier.context("stamping the copy")?)
        }
    };
    crate::cli::note!(
        "{}: stamped {} at byte {}",
        target.display(),
        carrier.kind,
        carrier.extent.offset
    );
    Ok(ExitCode::SUCCESS)
}

/// Errors from the temp copy name the temp file; report the user's image instead.
fn strip_path(e: &customize::ImageError) -> String {
    match e {
        customize::ImageError::Embed { error, .. } => error.to_string(),
        customize::ImageError::Locate { error, .. } => error.to_string(),
        other => other.to_string(),
    }
}

fn initrd_cmd(a: InitrdArgs) -> anyhow::Result<ExitCode> {
    let stamp = load_carrier_stamp(&a.source, a.allow_server_secrets)?;
    let area = embed::build_area(
        embed::ISO_AREA_SIZE,
        stamp.node_config_json.as_deref(),
        &stamp.kargs,
    )?;
    let data = cpio::write_newc(&area);
    if a.force {
        fsutil::write_atomic(&a.output, &data, 0o600)?;
    } else {
        fsutil::write_new(&a.output, &data, 0o600).map_err(|e| match e.source.kind() {
            std::io::ErrorKind::AlreadyExists => anyhow::anyhow!(
                "{} exists; pass --force to overwrite it",
                a.output.display()
            ),
            _ => e.into(),
        })?;
    }
    crate::cli::note!(
        "{}: wrote netboot carrier ({} bytes); load it after the generic initrd",
        a.output.display(),
        data.len()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap's own consistency checks (conflicts, requires, help on every argument).
    #[test]
    fn command_definitions_are_consistent() {
        crate::cli::Cli::command().debug_assert();
        let mut cmd = crate::cli::Cli::command();
        let image = cmd.find_subcommand_mut("image").expect("image subcommand");
        let names: Vec<_> = image
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect();
        assert_eq!(names, ["customize", "inspect", "reset", "initrd", "pull"]);
        assert!(cmd.find_subcommand("flash").is_some());
    }
}
