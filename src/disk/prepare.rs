//! The agent's disks phase: classify every declared OSD disk, decide with the wipe policy, and
//! only when no disk is refused, wipe those the policy says to wipe. Fail closed: one refusal
//! (or one disk that cannot be classified) means nothing is written to any disk.

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

/// Why the disks phase stopped.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("{} of {total} declared OSD disk(s) refused; nothing was written to any disk:\n  {}", refusals.len(), list(refusals))]
    Refused {
        refusals: Vec<Refusal>,
        total: usize,
    },
    #[error("{by_id}: {source}")]
    Disk {
        by_id: String,
        #[source]
        source: DiskError,
    },
    #[error("the cluster's Ceph fsid {0:?} is not a UUID; without it no OSD can be recognised as this cluster's (check secrets.ceph_fsid)")]
    InvalidFsid(String),
    #[error("{by_id} changed after it was classified (was {before}, now {now}); it was not wiped")]
    Changed {
        by_id: String,
        before: String,
        now: String,
    },
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

/// Prepares the node's OSD disks with the running system's udev database.
pub fn prepare_osd_disks(
    disks: &[OsdDisk],
    ceph_fsid: &str,
    dev_dir: &Path,
) -> Result<Vec<DiskReport>, PrepareError> {
    prepare_osd_disks_with(disks, ceph_fsid, &DiskEnv::new(dev_dir))
}

/// Prepares OSD disks: check all, then act. See the module docs.
pub fn prepare_osd_disks_with(
    disks: &[OsdDisk],
    ceph_fsid: &str,
    env: &DiskEnv,
) -> Result<Vec<DiskReport>, PrepareError> {
    // An empty or garbled fsid would make every OSD, this cluster's included, look foreign.
    let fsid = uuid::Uuid::parse_str(ceph_fsid)
        .map_err(|_| PrepareError::InvalidFsid(ceph_fsid.to_string()))?;
    let ceph_fsid = fsid.hyphenated().to_string();
    let ceph_fsid = ceph_fsid.as_str();
    let opts = ClassifyOptions {
        ceph_fsid: Some(ceph_fsid.to_string()),
        min_size: OSD_MIN_SIZE,
        udev_data_dir: env.udev_data_dir.clone(),
    };
    let mut plan = Vec::new();
    let mut refusals = Vec::new();
    for d in disks {
        let path = device_path(&d.by_id, &env.dev_dir);
        let c = match classify_with(&path, &opts) {
            Ok(c) => c,
            Err(e) => {
                refusals.push(Refusal {
                    device: d.by_id.clone(),
                    reason: format!("cannot be classified: {e}"),
                    found: "nothing readable".into(),
                    allow: "attach the disk or correct by_id in cluster.toml".into(),
                });
                continue;
            }
        };
        tracing::info!(disk = %d.by_id, state = c.state, "classified OSD disk: {c}");
        if let Some((other, _, _, _)) = plan.iter().find(
            |(_, _, p, _): &&(&OsdDisk, PathBuf, Classification, Taken)| p.canonical == c.canonical,
        ) {
            refusals.push(Refusal {
                device: d.by_id.clone(),
                reason: format!("it is the same device as {}", other.by_id),
                found: c.content.to_string(),
                allow: "declare each disk once".into(),
            });
            continue;
        }
        match policy::decide(&c, &d.by_id, d.wipe, d.confirm_serial.as_deref()) {
            Action::Refuse(r) => refusals.push(r),
            Action::Accept => plan.push((d, path, c, Taken::Accepted)),
            Action::Keep => plan.push((d, path, c, Taken::Kept)),
            Action::Wipe => plan.push((d, path, c, Taken::Wiped)),
        }
    }
    if !refusals.is_empty() {
        for r in &refusals {
            tracing::error!("{r}");
        }
        return Err(PrepareError::Refused {
            refusals,
            total: disks.len(),
        });
    }

    let mut reports = Vec::new();
    for (d, path, before, taken) in plan {
        let disk_err = |source| PrepareError::Disk {
            by_id: d.by_id.clone(),
            source,
        };
        let log = match taken {
            Taken::Accepted | Taken::Kept => None,
            Taken::Wiped => {
                let disk = open_for_write(&path, OSD_MIN_SIZE).map_err(disk_err)?;
                let (now, _) =
                    read_content(disk.file(), disk.size(), disk.canonical(), Some(ceph_fsid))
                        .map_err(disk_err)?;
                if now != before.content {
                    return Err(PrepareError::Changed {
                        by_id: d.by_id.clone(),
                        before: before.content.to_string(),
                        now: now.to_string(),
                    });
                }
                let log = wipe(&disk, env.discard).map_err(disk_err)?;
                Some(log)
            }
        };
        let after = classify_with(&path, &opts).map_err(disk_err)?;
        tracing::info!(disk = %d.by_id, action = ?taken, "OSD disk ready: {after}");
        reports.push(DiskReport {
            by_id: d.by_id.clone(),
            before,
            action: taken,
            wipe: log,
            after,
        });
    }
    Ok(reports)
}
