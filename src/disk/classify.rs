//! What is on a disk, and what stops it from being used: the input to the wipe policy.

use std::fmt;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::probe::{self, Signature, Table};
use super::{bluestore, device_size, preflight, sysfs, DiskError, DiskUse, OSD_MIN_SIZE};

/// What classification compares against.
#[derive(Debug, Clone)]
pub struct ClassifyOptions {
    /// This cluster's Ceph fsid; without it an OSD's cluster is `unknown`.
    pub ceph_fsid: Option<String>,
    /// Smaller disks get a `too-small` blocker.
    pub min_size: u64,
    /// udev database directory used to read the disk's serial.
    pub udev_data_dir: PathBuf,
}

impl Default for ClassifyOptions {
    fn default() -> Self {
        ClassifyOptions {
            ceph_fsid: None,
            min_size: OSD_MIN_SIZE,
            udev_data_dir: PathBuf::from(sysfs::UDEV_DATA_DIR),
        }
    }
}

/// Which cluster a BlueStore OSD belongs to, judged by its label's `ceph_fsid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OsdCluster {
    This,
    Other,
    Unknown,
}

/// The data found on the disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Content {
    Blank,
    PartitionTable {
        table: Table,
    },
    Filesystem {
        fstype: String,
        label: Option<String>,
        uuid: Option<String>,
    },
    LvmPv {
        uuid: Option<String>,
    },
    Luks {
        version: Option<String>,
        uuid: Option<String>,
    },
    CephOsd {
        osd_uuid: Option<String>,
        osd_id: Option<String>,
        ceph_fsid: Option<String>,
        cluster: OsdCluster,
    },
    MdraidMember {
        uuid: Option<String>,
        label: Option<String>,
    },
    Other {
        signature: String,
        usage: String,
    },
}

/// Something that makes the disk unusable whatever is on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Blocker {
    InUse { uses: Vec<DiskUse> },
    BootDisk { mountpoint: String },
    TooSmall { size: u64, min: u64 },
}

/// A disk's classification. `Display` gives one human line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    /// The path as given (often `/dev/disk/by-id/...`).
    pub device: PathBuf,
    pub canonical: PathBuf,
    pub size: u64,
    pub serial: Option<String>,
    /// Short state name: a blocker (`in-use`, `boot-disk`, `too-small`) or the content state.
    pub state: &'static str,
    pub content: Content,
    pub blockers: Vec<Blocker>,
    /// Every whole-disk signature libblkid reported.
    pub signatures: Vec<Signature>,
}

impl Content {
    pub fn state(&self) -> &'static str {
        match self {
            Content::Blank => "blank",
            Content::PartitionTable { .. } => "partition-table",
            Content::Filesystem { .. } => "filesystem",
            Content::LvmPv { .. } => "lvm-pv",
            Content::Luks { .. } => "luks",
            Content::CephOsd {
                cluster: OsdCluster::This,
                ..
            } => "ceph-osd-this-cluster",
            Content::CephOsd {
                cluster: OsdCluster::Other,
                ..
            } => "ceph-osd-other-cluster",
            Content::CephOsd {
                cluster: OsdCluster::Unknown,
                ..
            } => "ceph-osd-unknown-cluster",
            Content::MdraidMember { .. } => "mdraid-member",
            Content::Other { .. } => "other-signature",
        }
    }
}

impl Blocker {
    pub fn state(&self) -> &'static str {
        match self {
            Blocker::InUse { .. } => "in-use",
            Blocker::BootDisk { .. } => "boot-disk",
            Blocker::TooSmall { .. } => "too-small",
        }
    }
}

fn opt(o: &Option<String>) -> &str {
    o.as_deref().unwrap_or("?")
}

impl fmt::Display for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Content::Blank => write!(f, "blank"),
            Content::PartitionTable { table } => {
                write!(
                    f,
                    "{} partition table with {} partition(s)",
                    table.kind,
                    table.partitions.len()
                )?;
                for p in &table.partitions {
                    let what: Vec<String> = p.signatures.iter().map(|s| s.kind.clone()).collect();
                    let what = if what.is_empty() {
                        "no signature".to_string()
                    } else {
                        what.join("+")
                    };
                    write!(f, "; #{} {} MiB {}", p.number, p.size >> 20, what)?;
                }
                Ok(())
            }
            Content::Filesystem { fstype, label, .. } => match label {
                Some(l) => write!(f, "{fstype} filesystem labelled {l:?}"),
                None => write!(f, "{fstype} filesystem"),
            },
            Content::LvmPv { uuid } => write!(f, "LVM physical volume {}", opt(uuid)),
            Content::Luks { version, .. } => write!(
                f,
                "LUKS{} encrypted volume",
                version.as_deref().unwrap_or("")
            ),
            Content::CephOsd {
                osd_id,
                ceph_fsid,
                cluster,
                ..
            } => {
                let whose = match cluster {
                    OsdCluster::This => "this cluster",
                    OsdCluster::Other => "another cluster",
                    OsdCluster::Unknown => "an unknown cluster",
                };
                write!(
                    f,
                    "Ceph BlueStore OSD {} of {whose} (fsid {})",
                    opt(osd_id),
                    opt(ceph_fsid)
                )
            }
            Content::MdraidMember { uuid, .. } => write!(f, "mdraid member of array {}", opt(uuid)),
            Content::Other { signature, usage } => write!(f, "{signature} signature ({usage})"),
        }
    }
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Blocker::InUse { uses } => {
                write!(
                    f,
                    "in use: {}",
                    uses.iter()
                        .map(|u| u.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
            Blocker::BootDisk { mountpoint } => {
                write!(f, "boot disk of the running system ({mountpoint})")
            }
            Blocker::TooSmall { size, min } => write!(f, "too small ({size} bytes < {min})"),
        }
    }
}

impl fmt::Display for Classification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.device.display())?;
        if self.device != self.canonical {
            write!(f, " -> {}", self.canonical.display())?;
        }
        write!(
            f,
            " ({:.1} GiB, serial {}): {}",
            self.size as f64 / (1u64 << 30) as f64,
            opt(&self.serial),
            self.content
        )?;
        for b in &self.blockers {
            write!(f, "; {b}")?;
        }
        Ok(())
    }
}

/// Classifies a disk with default options (no cluster fsid, 5 GiB minimum).
pub fn classify(path: &Path) -> Result<Classification, DiskError> {
    classify_with(path, &ClassifyOptions::default())
}

/// Classifies a disk: reads only, never writes.
pub fn classify_with(path: &Path, opts: &ClassifyOptions) -> Result<Classification, DiskError> {
    let target = super::resolve(path)?;
    if sysfs::is_partition(&target.name) {
        let disk = sysfs::whole_disk(&target.name).unwrap_or_else(|_| "?".into());
        return Err(DiskError::Partition {
            device: target.canonical,
            name: target.name,
            disk,
        });
    }
    let device = target.canonical.clone();
    let file = File::open(&device).map_err(|source| DiskError::Open {
        device: device.clone(),
        source,
    })?;
    let size = device_size(&file).map_err(|source| DiskError::Ioctl {
        device: device.clone(),
        op: "BLKGETSIZE64",
        source,
    })?;
    let probe_err = |message: String| DiskError::Probe {
        device: device.clone(),
        message,
    };
    let table = probe::partition_table(&file).map_err(probe_err)?;
    let signatures = probe::signatures(&file, 0, 0).map_err(probe_err)?;
    let label = read_bluestore_label(&file, size, &device)?;

    let mut blockers = Vec::new();
    if let Some((_, mountpoint)) = preflight::boot_disks()
        .into_iter()
        .find(|(d, _)| *d == target.name)
    {
        blockers.push(Blocker::BootDisk { mountpoint });
    }
    let uses = preflight::uses(&target.name);
    if !uses.is_empty() {
        blockers.push(Blocker::InUse { uses });
    }
    if size < opts.min_size {
        blockers.push(Blocker::TooSmall {
            size,
            min: opts.min_size,
        });
    }
    let content = content_of(table, &signatures, label, opts.ceph_fsid.as_deref());
    Ok(Classification {
        device: target.given,
        canonical: device,
        size,
        serial: sysfs::serial(&target.name, &opts.udev_data_dir),
        state: blockers
            .first()
            .map(Blocker::state)
            .unwrap_or_else(|| content.state()),
        content,
        blockers,
        signatures,
    })
}

/// The BlueStore label at the first label position that carries the magic, if any. A label
/// whose body cannot be decoded still counts as an OSD (of an unknown cluster).
fn read_bluestore_label(
    file: &File,
    size: u64,
    device: &Path,
) -> Result<Option<Result<bluestore::Label, bluestore::LabelError>>, DiskError> {
    for &pos in bluestore::LABEL_POSITIONS
        .iter()
        .filter(|p| **p + bluestore::LABEL_SIZE <= size)
    {
        let mut buf = vec![0u8; bluestore::LABEL_SIZE as usize];
        file.read_exact_at(&mut buf, pos)
            .map_err(|source| DiskError::Read {
                device: device.to_path_buf(),
                offset: pos,
                source,
            })?;
        if bluestore::has_magic(&buf) {
            return Ok(Some(bluestore::decode(&buf)));
        }
    }
    Ok(None)
}

/// Decides the content state from probe results. Pure, so the precedence is unit-tested.
pub fn content_of(
    table: Option<Table>,
    signatures: &[Signature],
    label: Option<Result<bluestore::Label, bluestore::LabelError>>,
    ceph_fsid: Option<&str>,
) -> Content {
    if let Some(table) = table {
        return Content::PartitionTable { table };
    }
    if label.is_some() || signatures.iter().any(|s| s.kind == "ceph_bluestore") {
        let label = label.and_then(Result::ok);
        let fsid = label.as_ref().and_then(|l| l.ceph_fsid.clone());
        let cluster = match (&fsid, ceph_fsid) {
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => OsdCluster::This,
            (Some(_), Some(_)) => OsdCluster::Other,
            _ => OsdCluster::Unknown,
        };
        return Content::CephOsd {
            osd_uuid: label.as_ref().map(|l| l.osd_uuid.clone()),
            osd_id: label.as_ref().and_then(|l| l.whoami.clone()),
            ceph_fsid: fsid,
            cluster,
        };
    }
    let Some(s) = signatures.first() else {
        return Content::Blank;
    };
    match (s.kind.as_str(), s.usage.as_str()) {
        ("crypto_LUKS", _) => Content::Luks {
            version: s.version.clone(),
            uuid: s.uuid.clone(),
        },
        ("LVM2_member", _) => Content::LvmPv {
            uuid: s.uuid.clone(),
        },
        ("linux_raid_member", _) => Content::MdraidMember {
            uuid: s.uuid.clone(),
            label: s.label.clone(),
        },
        (fstype, "filesystem") => Content::Filesystem {
            fstype: fstype.to_string(),
            label: s.label.clone(),
            uuid: s.uuid.clone(),
        },
        (kind, usage) => Content::Other {
            signature: kind.to_string(),
            usage: usage.to_string(),
        },
    }
}
