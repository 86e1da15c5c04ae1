//! `kateskit disk`: look at disks the way the agent's disks phase will.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use kateskit::disk::{self, ClassifyOptions};
use kateskit::nodecfg::NodeConfig;

#[derive(Debug, Subcommand)]
pub enum DiskCmd {
    /// Classify disks (read-only): blank, partition table, filesystem, LVM PV, LUKS, Ceph OSD of
    /// this or another cluster, mdraid member, in use, boot disk, too small.
    Inspect(InspectArgs),
    /// Prepare a node's Ceph OSD disks exactly as the agent's disks phase does: classify every
    /// declared disk and decide with its wipe policy. Prints the plan and writes nothing unless
    /// --apply is given; with --apply it wipes only when no disk is refused.
    Prepare(PrepareArgs),
}

#[derive(Debug, Args)]
pub struct PrepareArgs {
    /// NodeConfig JSON of this node (with secrets: the cluster's ceph_fsid is needed).
    #[arg(long, value_name = "FILE")]
    pub node_config: PathBuf,
    /// Directory that stands for /dev in the declared by-id paths.
    #[arg(long, value_name = "DIR", default_value = "/dev")]
    #[cfg_attr(feature = "test-hooks", arg(env = "KATESKIT_DEV_DIR"))]
    pub dev_dir: PathBuf,
    /// The node's state directory, where the agent records the disks it handed over to Ceph
    /// (read for the same knowledge the agent has; updated only with --apply).
    #[arg(long, value_name = "DIR", default_value = "/var/lib/kateskit")]
    #[cfg_attr(feature = "test-hooks", arg(env = "KATESKIT_STATE_DIR"))]
    pub state_dir: PathBuf,
    /// Carry the plan out: wipe the disks it says to wipe. Without it nothing is written.
    #[arg(long)]
    pub apply: bool,
    /// Print the plan (or, with --apply, the per-disk reports) as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Whole-disk devices, e.g. /dev/disk/by-id/ata-... or /dev/sdb.
    #[arg(required = true, value_name = "DEVICE")]
    pub devices: Vec<PathBuf>,
    /// Print a JSON array of classifications instead of one line per disk.
    #[arg(long)]
    pub json: bool,
    /// This cluster's Ceph fsid (NodeConfig secrets.ceph_fsid); tells this cluster's OSDs from others.
    #[arg(long, value_name = "UUID")]
    pub ceph_fsid: Option<uuid::Uuid>,
    /// Smallest acceptable disk size in bytes (Ceph's minimum by default).
    #[arg(long, value_name = "BYTES", default_value_t = disk::OSD_MIN_SIZE)]
    pub min_size: u64,
}

impl DiskCmd {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            DiskCmd::Inspect(a) => a.run(),
            DiskCmd::Prepare(a) => a.run(),
        }
    }
}

impl InspectArgs {
    fn run(self) -> anyhow::Result<ExitCode> {
        let opts = ClassifyOptions {
            this_fsids: self
                .ceph_fsid
                .iter()
                .map(|u| u.hyphenated().to_string())
                .collect(),
            min_size: self.min_size,
            ..ClassifyOptions::default()
        };
        let mut out = Vec::new();
        for dev in &self.devices {
            let c = disk::classify_with(dev, &opts)
                .with_context(|| format!("inspecting {}", dev.display()))?;
            out.push(c);
        }
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&out).context("encoding classifications as JSON")?
            );
        } else {
            for c in &out {
                println!("{c}");
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

impl PrepareArgs {
    fn run(self) -> anyhow::Result<ExitCode> {
        let path = &self.node_config;
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let cfg =
            NodeConfig::from_json(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let secrets = cfg.secrets.as_ref().with_context(|| {
            format!(
                "{} has no secrets; render it without --public to get secrets.ceph_fsid",
                path.display()
            )
        })?;
        let env = disk::DiskEnv::new(&self.dev_dir);
        let outcome = disk::prepare_node(
            &cfg.storage.osd_disks,
            &secrets.ceph_fsid,
            &self.state_dir,
            &env,
            self.apply,
        )
        .with_context(|| format!("preparing the OSD disks of node {}", cfg.node.name))?;
        match outcome {
            disk::NodeDisks::Planned(plan) => print_plan(&plan, self.json),
            disk::NodeDisks::Applied(reports) => {
                if self.json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&reports)
                            .context("encoding reports as JSON")?
                    );
                } else {
                    for r in &reports {
                        println!(
                            "{} {}: {} -> {}",
                            r.by_id,
                            r.action.as_str(),
                            r.before.content,
                            r.after.content
                        );
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

/// Prints a dry run; exits 1 when any disk would be refused (so --apply would write nothing).
fn print_plan(plan: &disk::Plan, json: bool) -> anyhow::Result<ExitCode> {
    use kateskit::disk::policy::Action;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(plan).context("encoding the plan as JSON")?
        );
    } else {
        for d in &plan.disks {
            let found = d
                .before
                .as_ref()
                .map(|c| c.content.to_string())
                .unwrap_or_else(|| "not readable".into());
            match &d.decision {
                Action::Accept => println!("{}: would accept ({found})", d.by_id),
                Action::Keep => println!("{}: would keep ({found})", d.by_id),
                Action::Wipe => println!("{}: would WIPE ({found})", d.by_id),
                Action::Refuse(r) => println!("{}: refused: {r}", d.by_id),
            }
        }
    }
    let refused = plan.refusals().len();
    if refused > 0 {
        eprintln!(
            "{refused} disk(s) refused: --apply would write nothing; fix cluster.toml as shown"
        );
        return Ok(ExitCode::from(1));
    }
    if !json {
        eprintln!("dry run: nothing was written; run again with --apply to carry this out");
    }
    Ok(ExitCode::SUCCESS)
}
