//! `kateskit image`: stamp, inspect and reset the embed area of generic images; write the
//! netboot carrier; download images with checksum verification.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use kateskit::image::customize::{self, AreaState, Stamp};
use kateskit::image::{copy, cpio, embed, pull};
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
    Pull(PullArgs),
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
}

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

impl ImageCmd {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            ImageCmd::Customize(a) => customize_cmd(a),
            ImageCmd::Inspect(a) => inspect_cmd(a),
            ImageCmd::Reset(a) => {
                let c = customize::reset(&a.image)?;
                eprintln!(
                    "{}: reset {} ({} bytes at byte {}) to zeros",
                    a.image.display(),
                    c.kind,
                    c.extent.len,
                    c.extent.offset
                );
                Ok(ExitCode::SUCCESS)
            }
            ImageCmd::Initrd(a) => initrd_cmd(a),
            ImageCmd::Pull(a) => pull_cmd(a),
        }
    }
}

/// Loads or renders the NodeConfig, validates it, and returns what to stamp.
fn load_stamp(src: &ConfigSource) -> anyhow::Result<Stamp> {
    let cfg = match (&src.node_config, &src.cluster, &src.node) {
        (Some(file), _, _) => {
            let text = fsutil::read_string(file)?;
            nodecfg::NodeConfig::from_json(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?
        }
        (None, Some(dir), Some(node)) => {
            let spec = super::cluster::load_spec(dir)?;
            let secrets = pki::load(dir)
                .with_context(|| format!("loading cluster secrets from {}", dir.display()))?;
            nodecfg::render(&spec, &secrets, node)?
        }
        _ => bail!("give --node-config FILE, or --cluster DIR --node NAME"),
    };
    embed::check_kargs(&src.kargs)?;
    Ok(Stamp {
        node_config_json: Some(serde_json::to_string(&cfg)?),
        kargs: src.kargs.clone(),
    })
}

fn customize_cmd(a: CustomizeArgs) -> anyhow::Result<ExitCode> {
    let stamp = load_stamp(&a.source)?;
    let (target, carrier) = match &a.output {
        None => (a.image.clone(), customize::stamp(&a.image, &stamp)?),
        Some(out) => {
            let mut carrier = None;
            let method =
                copy::copy_edit_persist(&a.image, out, a.force, |tmp| -> anyhow::Result<()> {
                    carrier = Some(customize::stamp(tmp, &stamp).map_err(|e| {
                        anyhow::anyhow!("{}: {}", a.image.display(), strip_path(&e))
                    })?);
                    Ok(())
                })?;
            tracing::info!(?method, "copy mode");
            (out.clone(), carrier.context("stamping the copy")?)
        }
    };
    eprintln!(
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

/// Summary printed by `inspect`: never the secrets, only what identifies the stamp.
#[derive(serde::Serialize)]
struct Summary {
    image: PathBuf,
    carrier: kateskit::image::Carrier,
    #[serde(flatten)]
    state: SummaryState,
}

#[derive(serde::Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
enum SummaryState {
    Empty,
    Stamped {
        cluster: Option<String>,
        node: Option<String>,
        role: Option<String>,
        config_sha256: Option<String>,
        stored_bytes: usize,
        compressed: bool,
        kargs: Vec<String>,
    },
    Corrupt {
        error: String,
    },
}

fn inspect_cmd(a: InspectArgs) -> anyhow::Result<ExitCode> {
    use sha2::Digest;
    let (carrier, state) = customize::inspect(&a.image)?;
    let state = match state {
        AreaState::Empty => SummaryState::Empty,
        AreaState::Corrupt { error } => SummaryState::Corrupt { error },
        AreaState::Stamped(e) => {
            let cfg = e
                .node_config_json
                .as_deref()
                .map(nodecfg::NodeConfig::from_json);
            let cfg = cfg.and_then(Result::ok);
            SummaryState::Stamped {
                cluster: cfg.as_ref().map(|c| c.cluster.name.clone()),
                node: cfg.as_ref().map(|c| c.node.name.clone()),
                role: cfg.as_ref().map(|c| c.node.role.as_str().to_string()),
                config_sha256: e
                    .node_config_json
                    .as_ref()
                    .map(|j| hex::encode(sha2::Sha256::digest(j.as_bytes()))),
                stored_bytes: e.stored_len,
                compressed: e.compressed,
                kargs: e.kargs,
            }
        }
    };
    let corrupt = matches!(state, SummaryState::Corrupt { .. });
    let s = Summary {
        image: a.image,
        carrier,
        state,
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        println!(
            "{}: {} at byte {} ({} bytes)",
            s.image.display(),
            s.carrier.kind,
            s.carrier.extent.offset,
            s.carrier.extent.len
        );
        match &s.state {
            SummaryState::Empty => println!("empty (pristine zeros)"),
            SummaryState::Corrupt { error } => println!("corrupt: {error}"),
            SummaryState::Stamped {
                cluster,
                node,
                role,
                config_sha256,
                stored_bytes,
                compressed,
                kargs,
            } => {
                match (cluster, node, role) {
                    (Some(c), Some(n), Some(r)) => {
                        println!("stamped: node {n} ({r}) of cluster {c}")
                    }
                    _ if config_sha256.is_some() => {
                        println!("stamped: config does not parse as a NodeConfig of this version")
                    }
                    _ => println!("stamped: kernel arguments only"),
                }
                if let Some(h) = config_sha256 {
                    println!(
                        "config: {stored_bytes} bytes stored{}, sha256 {h}",
                        if *compressed { " (zstd)" } else { "" }
                    );
                }
                println!(
                    "kargs: {}",
                    if kargs.is_empty() {
                        "(none)".to_string()
                    } else {
                        kargs.join(" ")
                    }
                );
            }
        }
    }
    Ok(if corrupt {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn initrd_cmd(a: InitrdArgs) -> anyhow::Result<ExitCode> {
    let stamp = load_stamp(&a.source)?;
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
    eprintln!(
        "{}: wrote netboot carrier ({} bytes); load it after the generic initrd",
        a.output.display(),
        data.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn pull_cmd(a: PullArgs) -> anyhow::Result<ExitCode> {
    let sha = match (&a.sha256, &a.sha256sums) {
        (Some(h), _) => pull::parse_sha256(h)?,
        (None, Some(sums)) => pull::sha256_from_sums(sums, &a.url)?,
        (None, None) => bail!("give --sha256 HEX or --sha256sums URL"),
    };
    let pb = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template(
            "{msg:>10} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    pb.set_message("download");
    let opts = pull::PullOptions {
        retries: a.retries,
        force: a.force,
        progress: Some(pb),
        ..Default::default()
    };
    let n = pull::pull(&a.url, &a.output, &sha, &opts)?;
    eprintln!("{}: {n} bytes, sha256 {sha} verified", a.output.display());
    Ok(ExitCode::SUCCESS)
}
