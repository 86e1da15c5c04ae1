//! libblkid low-level probing: every superblock signature on a byte range, the partition table
//! and its partitions, and signature erasure (what `wipefs --all` does).

use std::collections::BTreeMap;
use std::os::unix::io::AsRawFd;

use libblkid_rs::{BlkidProbe, BlkidProbeRet, BlkidSafeprobeRet, BlkidSublks, BlkidSublksFlags};
use serde::Serialize;

/// One signature libblkid found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signature {
    /// `TYPE` (ext4, vfat, LVM2_member, crypto_LUKS, ceph_bluestore, linux_raid_member, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// `USAGE`: filesystem, raid, crypto or other.
    pub usage: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Byte offset of the magic within the probed range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

/// One partition of a partition table, with whatever libblkid finds inside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Partition {
    pub number: u32,
    pub start: u64,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub part_type: String,
    pub signatures: Vec<Signature>,
    /// No signature, and its first and last MiB read as zeros: nothing that could be data.
    /// (Plain dm-crypt, VeraCrypt or an application's raw data carry no signature either, but
    /// they do not start and end in zeros.)
    pub zeroed: bool,
}

/// A partition table and its partitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Table {
    /// `gpt` or `dos`.
    #[serde(rename = "type")]
    pub kind: String,
    pub partitions: Vec<Partition>,
}

type R<T> = Result<T, String>;

fn err(what: &str, e: libblkid_rs::BlkidErr) -> String {
    format!("{what}: {e}")
}

fn new_probe(fd: &impl AsRawFd, offset: u64, size: u64) -> R<BlkidProbe> {
    let mut p = BlkidProbe::new().map_err(|e| err("creating probe", e))?;
    p.set_device(fd.as_raw_fd(), offset as i64, size as i64)
        .map_err(|e| err("attaching device", e))?;
    Ok(p)
}

fn superblock_flags() -> BlkidSublksFlags {
    BlkidSublksFlags::new(vec![
        BlkidSublks::Label,
        BlkidSublks::Uuid,
        BlkidSublks::Type,
        BlkidSublks::Usage,
        BlkidSublks::Version,
        BlkidSublks::Magic,
        BlkidSublks::Badcsum,
    ])
}

fn values(p: &BlkidProbe) -> BTreeMap<String, String> {
    let n = p.numof_values().unwrap_or(0);
    (0..n as u32).filter_map(|i| p.get_value(i).ok()).collect()
}

/// Every superblock signature in `[offset, offset+size)` (size 0: to the end of the device).
/// Signatures with bad checksums are included: stale data is still data.
pub fn signatures(fd: &impl AsRawFd, offset: u64, size: u64) -> R<Vec<Signature>> {
    let mut p = new_probe(fd, offset, size)?;
    p.enable_superblocks(true)
        .map_err(|e| err("enabling superblocks", e))?;
    p.set_superblock_flags(superblock_flags())
        .map_err(|e| err("setting flags", e))?;
    p.enable_partitions(false)
        .map_err(|e| err("disabling partitions", e))?;
    let mut out = Vec::new();
    for _ in 0..64 {
        match p.do_probe().map_err(|e| err("probing", e))? {
            BlkidProbeRet::Done => break,
            BlkidProbeRet::Success => {
                let v = values(&p);
                let Some(kind) = v.get("TYPE").cloned() else {
                    continue;
                };
                out.push(Signature {
                    kind,
                    usage: v.get("USAGE").cloned().unwrap_or_default(),
                    label: v.get("LABEL").cloned(),
                    uuid: v
                        .get("UUID")
                        .cloned()
                        .or_else(|| v.get("UUID_SUB").cloned()),
                    version: v.get("VERSION").cloned(),
                    offset: v.get("SBMAGIC_OFFSET").and_then(|o| o.parse().ok()),
                });
            }
        }
    }
    Ok(out)
}

/// The partition table on the device, if any, with each partition's own signatures.
pub fn partition_table(fd: &impl AsRawFd) -> R<Option<Table>> {
    let mut p = new_probe(fd, 0, 0)?;
    p.enable_superblocks(false)
        .map_err(|e| err("disabling superblocks", e))?;
    p.enable_partitions(true)
        .map_err(|e| err("enabling partitions", e))?;
    match p.do_safeprobe().map_err(|e| err("probing partitions", e))? {
        BlkidSafeprobeRet::Success => {}
        BlkidSafeprobeRet::None | BlkidSafeprobeRet::Ambiguous => return Ok(None),
    }
    let kind = p
        .lookup_value("PTTYPE")
        .map_err(|e| err("reading PTTYPE", e))?;
    let mut list = p
        .get_partitions()
        .map_err(|e| err("listing partitions", e))?;
    let n = list
        .number_of_partitions()
        .map_err(|e| err("counting partitions", e))?;
    let mut partitions = Vec::new();
    for i in 0..n {
        let part = list
            .get_partition(i)
            .map_err(|e| err("reading partition", e))?;
        let start = *part.get_start().as_ref() as u64 * 512;
        let size = *part.get_size().as_ref() as u64 * 512;
        partitions.push(Partition {
            number: part.get_partno().map_err(|e| err("partition number", e))?,
            start,
            size,
            name: part.get_name().ok().flatten().filter(|s| !s.is_empty()),
            part_type: part
                .get_type_string()
                .unwrap_or_else(|_| format!("0x{:x}", part.get_type())),
            signatures: if size > 0 {
                signatures(fd, start, size)?
            } else {
                Vec::new()
            },
            zeroed: false,
        });
    }
    for p in partitions.iter_mut().filter(|p| p.signatures.is_empty()) {
        let edge = SAMPLE.min(p.size);
        p.zeroed =
            reads_zeros(fd, p.start, edge)? && reads_zeros(fd, p.start + p.size - edge, edge)?;
    }
    Ok(Some(Table { kind, partitions }))
}

/// Bytes sampled at each end of a partition without a signature.
const SAMPLE: u64 = 1 << 20;

/// Whether `[offset, offset+len)` reads as zeros. A short read (beyond the device) is not zeros.
fn reads_zeros(fd: &impl AsRawFd, offset: u64, len: u64) -> R<bool> {
    let mut buf = vec![0u8; len as usize];
    let mut done = 0usize;
    while done < buf.len() {
        // SAFETY: the pointer and length describe the unread tail of `buf`.
        let n = unsafe {
            libc::pread(
                fd.as_raw_fd(),
                buf[done..].as_mut_ptr().cast(),
                buf.len() - done,
                (offset + done as u64) as libc::off_t,
            )
        };
        match n {
            0 => return Ok(false),
            n if n < 0 => {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(format!("reading {len} bytes at {offset}: {e}"));
            }
            n => done += n as usize,
        }
    }
    Ok(buf.iter().all(|b| *b == 0))
}

/// Erases every superblock signature libblkid finds in `[offset, offset+size)` by overwriting
/// its magic bytes (`blkid_do_wipe`). Returns what was erased. `fd` must be open read-write.
pub fn erase_signatures(fd: &impl AsRawFd, offset: u64, size: u64) -> R<Vec<Signature>> {
    let found = signatures(fd, offset, size)?;
    let mut p = new_probe(fd, offset, size)?;
    p.enable_superblocks(true)
        .map_err(|e| err("enabling superblocks", e))?;
    p.set_superblock_flags(superblock_flags())
        .map_err(|e| err("setting flags", e))?;
    p.enable_partitions(false)
        .map_err(|e| err("disabling partitions", e))?;
    for _ in 0..64 {
        match p.do_probe().map_err(|e| err("probing", e))? {
            BlkidProbeRet::Done => break,
            BlkidProbeRet::Success => p.do_wipe(false).map_err(|e| err("erasing signature", e))?,
        }
    }
    Ok(found)
}
