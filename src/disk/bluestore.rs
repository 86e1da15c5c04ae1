//! Ceph BlueStore device label (`bluestore_bdev_label_t`), decoded to learn which cluster an
//! OSD belongs to.
//!
//! Layout at the start of the device (Ceph `os/bluestore/bluestore_types.cc`):
//! `"bluestore block device\n"`, the OSD UUID as 36 text characters and `"\n"` (60 bytes in
//! all), then Ceph's versioned encoding: `u8 struct_v, u8 compat_v, u32 len`, the 16-byte
//! OSD UUID, `u64 size`, `utime_t btime` (2 × u32), `string description` and
//! `map<string,string> meta` (strings are `u32 len` + bytes, all little-endian). `meta`
//! carries `ceph_fsid` and `whoami`. Newer Ceph releases also write copies at 1, 10, 100
//! and 1000 GiB.

use std::collections::BTreeMap;

use serde::Serialize;

/// Text that opens every BlueStore label.
pub const MAGIC: &[u8] = b"bluestore block device\n";
/// Bytes of a label area; zeroing this much at each position removes the label.
pub const LABEL_SIZE: u64 = 4096;
/// Offsets where Ceph writes (copies of) the label.
pub const LABEL_POSITIONS: &[u64] = &[0, 1 << 30, 10 << 30, 100 << 30, 1000 << 30];

const PREAMBLE: usize = 60;

/// The parts of a BlueStore label KatesKit cares about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Label {
    pub osd_uuid: String,
    pub size: u64,
    pub description: String,
    /// Cluster fsid from the label's metadata, if present.
    pub ceph_fsid: Option<String>,
    /// OSD id (`whoami`), if present.
    pub whoami: Option<String>,
    #[serde(skip)]
    pub meta: BTreeMap<String, String>,
}

/// Why a label could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("no BlueStore magic")]
    NoMagic,
    #[error("BlueStore label truncated at byte {0}")]
    Truncated(usize),
    #[error("BlueStore label has unsupported compat version {0}")]
    Compat(u8),
    #[error("BlueStore label field is not UTF-8")]
    NotUtf8,
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], LabelError> {
        let stop = self
            .pos
            .checked_add(n)
            .filter(|s| *s <= self.end)
            .ok_or(LabelError::Truncated(self.pos))?;
        let out = &self.buf[self.pos..stop];
        self.pos = stop;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, LabelError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, LabelError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, LabelError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn string(&mut self) -> Result<String, LabelError> {
        let len = self.u32()? as usize;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| LabelError::NotUtf8)
    }
}

/// True when the buffer starts with the BlueStore magic.
pub fn has_magic(buf: &[u8]) -> bool {
    buf.starts_with(MAGIC)
}

/// Decodes a label from the first bytes of a device (4 KiB is plenty).
pub fn decode(buf: &[u8]) -> Result<Label, LabelError> {
    if !has_magic(buf) {
        return Err(LabelError::NoMagic);
    }
    let mut c = Cursor {
        buf,
        pos: PREAMBLE,
        end: buf.len(),
    };
    let _struct_v = c.u8()?;
    let compat = c.u8()?;
    if compat > 2 {
        return Err(LabelError::Compat(compat));
    }
    let len = c.u32()? as usize;
    c.end = c
        .pos
        .checked_add(len)
        .filter(|e| *e <= buf.len())
        .ok_or(LabelError::Truncated(c.pos))?;
    let uuid = uuid::Uuid::from_slice(c.take(16)?).map_err(|_| LabelError::Truncated(c.pos))?;
    let size = c.u64()?;
    let _btime = c.u64()?;
    let description = c.string()?;
    let count = c.u32()?;
    let mut meta = BTreeMap::new();
    for _ in 0..count {
        let k = c.string()?;
        let v = c.string()?;
        meta.insert(k, v);
    }
    Ok(Label {
        osd_uuid: uuid.hyphenated().to_string(),
        size,
        description,
        ceph_fsid: meta.get("ceph_fsid").cloned(),
        whoami: meta.get("whoami").cloned(),
        meta,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put_str(out: &mut Vec<u8>, s: &str) {
        out.extend((s.len() as u32).to_le_bytes());
        out.extend(s.as_bytes());
    }

    /// Encodes a label the way Ceph's `bluestore_bdev_label_t::encode` does.
    fn encode(uuid: &str, fsid: &str) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend(uuid::Uuid::parse_str(uuid).unwrap().as_bytes());
        body.extend(6_442_450_944u64.to_le_bytes());
        body.extend([1, 0, 0, 0, 2, 0, 0, 0]);
        put_str(&mut body, "main");
        body.extend(3u32.to_le_bytes());
        for (k, v) in [
            ("ceph_fsid", fsid),
            ("kv_backend", "rocksdb"),
            ("whoami", "0"),
        ] {
            put_str(&mut body, k);
            put_str(&mut body, v);
        }
        let mut out = Vec::new();
        out.extend(MAGIC);
        out.extend(uuid.as_bytes());
        out.push(b'\n');
        out.extend([2, 1]);
        out.extend((body.len() as u32).to_le_bytes());
        out.extend(body);
        out.resize(4096, 0);
        out
    }

    #[test]
    fn decodes_fsid_and_osd_id() {
        let buf = encode(
            "dd73e57a-c8d6-4bfd-a4a6-79cb881aef4b",
            "62b5dd82-316d-4503-8ea1-c2cd7bd63f6e",
        );
        let l = decode(&buf).unwrap();
        assert_eq!(l.osd_uuid, "dd73e57a-c8d6-4bfd-a4a6-79cb881aef4b");
        assert_eq!(l.size, 6_442_450_944);
        assert_eq!(l.description, "main");
        assert_eq!(
            l.ceph_fsid.as_deref(),
            Some("62b5dd82-316d-4503-8ea1-c2cd7bd63f6e")
        );
        assert_eq!(l.whoami.as_deref(), Some("0"));
        assert_eq!(
            l.meta.get("kv_backend").map(String::as_str),
            Some("rocksdb")
        );
    }

    #[test]
    fn rejects_missing_magic_and_truncation() {
        assert_eq!(decode(&[0u8; 4096]), Err(LabelError::NoMagic));
        let buf = encode(
            "dd73e57a-c8d6-4bfd-a4a6-79cb881aef4b",
            "62b5dd82-316d-4503-8ea1-c2cd7bd63f6e",
        );
        assert!(matches!(decode(&buf[..100]), Err(LabelError::Truncated(_))));
        let mut lying = buf.clone();
        lying[62..66].copy_from_slice(&100_000u32.to_le_bytes());
        assert!(matches!(decode(&lying), Err(LabelError::Truncated(_))));
    }
}
