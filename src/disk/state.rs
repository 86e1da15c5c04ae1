//! Classification results: what is on a disk and what blocks its use, with one-line `Display`.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use super::probe::{Signature, Table};
use super::DiskUse;

/// Which cluster a BlueStore OSD belongs to, judged by its label's `ceph_fsid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OsdCluster {
    /// The fsid is this cluster's: the declared one, or one this node recorded.
    This,
    /// A readable fsid that is none of this cluster's. Not proof of another cluster: only the
    /// owner naming it (`foreign_fsid`) makes it that.
    Other,
    /// No fsid to compare (none known, or a label that does not decode).
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
                    let what = if what.is_empty() && p.zeroed {
                        "no signature, zeros".to_string()
                    } else if what.is_empty() {
                        "no signature but data".to_string()
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
