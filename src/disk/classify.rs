//! What is on a disk, and what stops it from being used: the input to the wipe policy.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::probe::{self, Signature, Table};
use super::{bluestore, device_size, preflight, sysfs, DiskError, OSD_MIN_SIZE};
use super::{Blocker, Classification, Content, OsdCluster};

/// What classification compares against.
#[derive(Debug, Clone)]
pub struct ClassifyOptions {
    /// Every fsid that marks this cluster's OSDs (the declared one, and any this node
    /// recorded); without one an OSD's cluster is `unknown`.
    pub this_fsids: Vec<String>,
    /// Smaller disks get a `too-small` blocker.
    pub min_size: u64,
    /// udev database directory used to read the disk's serial.
    pub udev_data_dir: PathBuf,
}

impl Default for ClassifyOptions {
    fn default() -> Self {
        ClassifyOptions {
            this_fsids: Vec::new(),
            min_size: OSD_MIN_SIZE,
            udev_data_dir: PathBuf::from(sysfs::UDEV_DATA_DIR),
        }
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
    let (content, signatures) = read_content(&file, size, &device, &opts.this_fsids)?;

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

/// Probes an open device: the content state and every whole-disk signature.
pub(super) fn read_content(
    file: &File,
    size: u64,
    device: &Path,
    this_fsids: &[String],
) -> Result<(Content, Vec<Signature>), DiskError> {
    let probe_err = |message: String| DiskError::Probe {
        device: device.to_path_buf(),
        message,
    };
    let table = probe::partition_table(file).map_err(probe_err)?;
    let signatures = probe::signatures(file, 0, 0).map_err(probe_err)?;
    let label = read_bluestore_label(file, size, device)?;
    let content = content_of(table, &signatures, label, this_fsids);
    if content == Content::Blank && has_backup_gpt(file, size, device)? {
        // libblkid ignores a GPT whose primary header is gone; sgdisk would restore it, and
        // the partitions behind it may hold data, so this is not blank.
        let signature = "gpt-backup-header".to_string();
        return Ok((
            Content::Other {
                signature,
                usage: "partition table".into(),
            },
            signatures,
        ));
    }
    Ok((content, signatures))
}

/// True when the last logical block (512-byte or 4 KiB sectors) holds a GPT header.
fn has_backup_gpt(file: &File, size: u64, device: &Path) -> Result<bool, DiskError> {
    for sector in [512u64, 4096] {
        if size < sector * 2 {
            continue;
        }
        let mut buf = [0u8; 8];
        let offset = size - sector;
        file.read_exact_at(&mut buf, offset)
            .map_err(|source| DiskError::Read {
                device: device.to_path_buf(),
                offset,
                source,
            })?;
        if &buf == b"EFI PART" {
            return Ok(true);
        }
    }
    Ok(false)
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
    this_fsids: &[String],
) -> Content {
    if let Some(table) = table {
        return Content::PartitionTable { table };
    }
    if label.is_some() || signatures.iter().any(|s| s.kind == "ceph_bluestore") {
        let label = label.and_then(Result::ok);
        let fsid = label.as_ref().and_then(|l| l.ceph_fsid.clone());
        let known: Vec<&String> = this_fsids.iter().filter(|f| !f.trim().is_empty()).collect();
        let cluster = match &fsid {
            Some(a) if known.iter().any(|b| a.eq_ignore_ascii_case(b)) => OsdCluster::This,
            Some(_) if !known.is_empty() => OsdCluster::Other,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::bluestore::{Label, LabelError};

    fn sig(kind: &str, usage: &str) -> Signature {
        Signature {
            kind: kind.into(),
            usage: usage.into(),
            label: Some("L".into()),
            uuid: None,
            version: None,
            offset: None,
        }
    }

    fn label(fsid: &str) -> Option<Result<Label, LabelError>> {
        Some(Ok(Label {
            osd_uuid: "u".into(),
            size: 1,
            description: "main".into(),
            ceph_fsid: Some(fsid.into()),
            whoami: Some("7".into()),
            meta: Default::default(),
        }))
    }

    fn cluster_of(c: &Content) -> OsdCluster {
        match c {
            Content::CephOsd { cluster, .. } => *cluster,
            other => panic!("not an OSD: {other}"),
        }
    }

    #[test]
    fn osd_cluster_comes_from_the_label_fsid() {
        let this = &["6A0C1E62-3C1B-4E7A-9A52-0C8F3F1E2D11".to_string()][..];
        let l = || label("6a0c1e62-3c1b-4e7a-9a52-0c8f3f1e2d11");
        assert_eq!(
            cluster_of(&content_of(None, &[], l(), this)),
            OsdCluster::This
        );
        assert_eq!(
            cluster_of(&content_of(
                None,
                &[],
                l(),
                &["0d9f4b7e-8e2a-4b55-b0a4-5d2c7c9e6f00".to_string()]
            )),
            OsdCluster::Other
        );
        assert_eq!(
            cluster_of(&content_of(None, &[], l(), &[])),
            OsdCluster::Unknown
        );
        // Magic but a label that does not decode: an OSD, but nobody can say whose.
        let broken = Some(Err(LabelError::Truncated(70)));
        assert_eq!(
            cluster_of(&content_of(None, &[], broken, this)),
            OsdCluster::Unknown
        );
        // blkid saw ceph_bluestore where no label could be read.
        assert_eq!(
            cluster_of(&content_of(
                None,
                &[sig("ceph_bluestore", "other")],
                None,
                this
            )),
            OsdCluster::Unknown
        );
    }

    #[test]
    fn first_signature_decides_and_tables_win() {
        assert_eq!(content_of(None, &[], None, &[]), Content::Blank);
        let luks = content_of(
            None,
            &[sig("crypto_LUKS", "crypto"), sig("ext4", "filesystem")],
            None,
            &[],
        );
        assert_eq!(luks.state(), "luks");
        assert_eq!(
            content_of(None, &[sig("LVM2_member", "raid")], None, &[]).state(),
            "lvm-pv"
        );
        assert_eq!(
            content_of(None, &[sig("linux_raid_member", "raid")], None, &[]).state(),
            "mdraid-member"
        );
        let fs = content_of(None, &[sig("vfat", "filesystem")], None, &[]);
        assert_eq!(
            fs,
            Content::Filesystem {
                fstype: "vfat".into(),
                label: Some("L".into()),
                uuid: None
            }
        );
        assert_eq!(
            content_of(None, &[sig("swap", "other")], None, &[]).state(),
            "other-signature"
        );
        let table = Table {
            kind: "gpt".into(),
            partitions: vec![],
        };
        assert_eq!(
            content_of(Some(table), &[sig("ext4", "filesystem")], None, &[]).state(),
            "partition-table"
        );
    }
}
