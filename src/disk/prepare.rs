//! Preparing declared OSD disks: classify every disk, decide with the wipe policy (a plan that
//! only reads), and only when no disk is refused, wipe those the plan says to wipe. Fail closed:
//! one refusal (or one disk that cannot be classified) means nothing is written to any disk.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::classify::read_content;
use super::policy::{self, Action, Refusal};
use super::wipe::{wipe, WipeLog};
use super::{
    classify_with, open_for_write, sysfs, Classification, ClassifyOptions, DiskError, OSD_MIN_SIZE,
};
use crate::spec::OsdDisk;

/// Where devices and their udev properties are found (a test points these at stand-ins).
#[derive(Debug, Clone)]
pub struct DiskEnv {
    /// Replaces `/dev` in declared paths (KATESKIT_DEV_DIR).
    pub dev_dir: PathBuf,
    /// udev database used for serial numbers.
    pub udev_data_dir: PathBuf,
    /// Issue BLKDISCARD while wiping (where the disk supports it). Off, wipes rely on their
    /// own writes only, the path every disk without discard support takes.
    pub discard: bool,
}

impl DiskEnv {
    pub fn new(dev_dir: &Path) -> DiskEnv {
        DiskEnv {
            dev_dir: dev_dir.to_path_buf(),
            udev_data_dir: PathBuf::from(sysfs::UDEV_DATA_DIR),
            discard: true,
        }
    }
}

/// Which fsids mark this cluster's OSDs: the declared one (`secrets.ceph_fsid`, which Rook
/// adopts from the pre-seeded mon secret) and any this node positively recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CephKnowledge {
    pub declared: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recorded: Vec<String>,
}

impl CephKnowledge {
    /// Requires the declared fsid to be a UUID: an empty or garbled one would make every OSD,
    /// this cluster's included, look like another cluster's.
    pub fn new(declared: &str, recorded: Vec<String>) -> Result<CephKnowledge, PrepareError> {
        let fsid = uuid::Uuid::parse_str(declared)
            .map_err(|_| PrepareError::InvalidFsid(declared.to_string()))?;
        Ok(CephKnowledge {
            declared: fsid.hyphenated().to_string(),
            recorded,
        })
    }

    pub fn fsids(&self) -> Vec<String> {
        let mut v = vec![self.declared.clone()];
        v.extend(self.recorded.iter().cloned());
        v
    }

    fn options(&self, env: &DiskEnv) -> ClassifyOptions {
        ClassifyOptions {
            this_fsids: self.fsids(),
            min_size: OSD_MIN_SIZE,
            udev_data_dir: env.udev_data_dir.clone(),
        }
    }
}

/// What was done to a disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Taken {
    Accepted,
    Kept,
    Wiped,
}

impl Taken {
    pub fn as_str(self) -> &'static str {
        match self {
            Taken::Accepted => "accepted",
            Taken::Kept => "kept",
            Taken::Wiped => "wiped",
        }
    }
}

/// One disk's journal record: state before, action, wipe details, state after.
#[derive(Debug, Clone, Serialize)]
pub struct DiskReport {
    pub by_id: String,
    pub before: Classification,
    pub action: Taken,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wipe: Option<WipeLog>,
    pub after: Classification,
}

/// One disk of a plan: what it holds and what the policy decided. Nothing has been written.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedDisk {
    pub by_id: String,
    #[serde(skip)]
    pub path: PathBuf,
    /// Absent when the disk could not be classified (the decision then says why).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Classification>,
    pub decision: Action,
}

/// The decisions for every declared disk, made by reading only.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub knowledge: CephKnowledge,
    pub disks: Vec<PlannedDisk>,
}

/// Why preparing stopped.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("{} of {total} declared OSD disk(s) refused; nothing was written to any disk:\n  {}", refusals.len(), list(refusals))]
    Refused {
        refusals: Vec<Refusal>,
        total: usize,
    },
    /// The disk error is part of the message (the agent journals `to_string()`), so it is not
    /// also a `source`, which would print it twice in an error chain.
    #[error("{by_id}: {error}")]
    Disk { by_id: String, error: DiskError },
    #[error("the cluster's Ceph fsid {0:?} is not a UUID; without it no OSD can be recognised as this cluster's (check secrets.ceph_fsid)")]
    InvalidFsid(String),
    #[error("{by_id} changed after it was classified (was {before}, now {now}); it was not wiped")]
    Changed {
        by_id: String,
        before: String,
        now: String,
    },
    #[error("{0}")]
    State(String),
}

fn list(refusals: &[Refusal]) -> String {
    refusals
        .iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join("\n  ")
}

/// A declared `/dev/...` path, moved under `dev_dir` (`/dev/disk/by-id/x` → `<dev_dir>/disk/by-id/x`).
pub fn device_path(by_id: &str, dev_dir: &Path) -> PathBuf {
    match Path::new(by_id).strip_prefix("/dev") {
        Ok(rest) => dev_dir.join(rest),
        Err(_) => PathBuf::from(by_id),
    }
}

fn refusal(by_id: &str, reason: String, found: &str, allow: &str) -> Action {
    Action::Refuse(Refusal {
        device: by_id.to_string(),
        reason,
        found: found.to_string(),
        allow: allow.to_string(),
    })
}

/// Classifies and decides every declared disk. Reads only.
pub fn plan(disks: &[OsdDisk], know: &CephKnowledge, env: &DiskEnv) -> Plan {
    let opts = know.options(env);
    let mut out: Vec<PlannedDisk> = Vec::new();
    for d in disks {
        let path = device_path(&d.by_id, &env.dev_dir);
        let (before, decision) = match classify_with(&path, &opts) {
            Err(e) => (
                None,
                refusal(
                    &d.by_id,
                    format!("cannot be classified: {e}"),
                    "nothing readable",
                    "attach the disk or correct by_id in cluster.toml",
                ),
            ),
            Ok(c) => {
                tracing::info!(disk = %d.by_id, state = c.state, "classified OSD disk: {c}");
                let twin = out.iter().find(|p| {
                    p.before
                        .as_ref()
                        .is_some_and(|b| b.canonical == c.canonical)
                });
                let decision = match twin {
                    Some(other) => refusal(
                        &d.by_id,
                        format!("it is the same device as {}", other.by_id),
                        &c.content.to_string(),
                        "declare each disk once",
                    ),
                    None => policy::decide(&c, d),
                };
                (Some(c), decision)
            }
        };
        out.push(PlannedDisk {
            by_id: d.by_id.clone(),
            path,
            before,
            decision,
        });
    }
    Plan {
        knowledge: know.clone(),
        disks: out,
    }
}

impl Plan {
    pub fn refusals(&self) -> Vec<Refusal> {
        self.disks
            .iter()
            .filter_map(|d| match &d.decision {
                Action::Refuse(r) => Some(r.clone()),
                _ => None,
            })
            .collect()
    }

    /// Carries the plan out: refuses as a whole if any disk is refused, else wipes what it
    /// says to wipe (re-probing each disk through the locked handle first) and reports.
    pub fn apply(self, env: &DiskEnv) -> Result<Vec<DiskReport>, PrepareError> {
        let refusals = self.refusals();
        if !refusals.is_empty() {
            for r in &refusals {
                tracing::error!("{r}");
            }
            return Err(PrepareError::Refused {
                refusals,
                total: self.disks.len(),
            });
        }
        let opts = self.knowledge.options(env);
        let mut reports = Vec::new();
        for d in self.disks {
            let before = d.before.expect("classified: not refused");
            let disk_err = |error| PrepareError::Disk {
                by_id: d.by_id.clone(),
                error,
            };
            let (taken, log) = match d.decision {
                Action::Accept => (Taken::Accepted, None),
                Action::Keep => (Taken::Kept, None),
                Action::Wipe => {
                    let disk = open_for_write(&d.path, OSD_MIN_SIZE).map_err(disk_err)?;
                    let (now, _) =
                        read_content(disk.file(), disk.size(), disk.canonical(), &opts.this_fsids)
                            .map_err(disk_err)?;
                    if now != before.content {
                        return Err(PrepareError::Changed {
                            by_id: d.by_id.clone(),
                            before: before.content.to_string(),
                            now: now.to_string(),
                        });
                    }
                    (
                        Taken::Wiped,
                        Some(wipe(&disk, env.discard).map_err(disk_err)?),
                    )
                }
                Action::Refuse(_) => unreachable!("refusals returned above"),
            };
            let after = classify_with(&d.path, &opts).map_err(disk_err)?;
            tracing::info!(disk = %d.by_id, action = ?taken, "OSD disk ready: {after}");
            reports.push(DiskReport {
                by_id: d.by_id,
                before,
                action: taken,
                wipe: log,
                after,
            });
        }
        Ok(reports)
    }
}

/// Plans and applies in one go (see the module docs).
pub fn prepare_osd_disks_with(
    disks: &[OsdDisk],
    know: &CephKnowledge,
    env: &DiskEnv,
) -> Result<Vec<DiskReport>, PrepareError> {
    plan(disks, know, env).apply(env)
}
