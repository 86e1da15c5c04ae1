//! The embed area: a fixed-size, zero-filled region reserved in every generic image that carries
//! one node's NodeConfig and extra kernel arguments. Byte layout: docs/embed-format.md.
//!
//! Pristine (build-time) bytes are all zeros, so "empty" needs no marker and `reset` is a zero
//! fill. The config part and the karg part each have their own header and SHA-256, so either can
//! be rewritten without touching the other.

use std::path::Path;

use sha2::{Digest, Sha256};

/// Size of the ISO and netboot carriers.
pub const ISO_AREA_SIZE: usize = 256 * 1024;
/// Size of the raw-disk GPT partition carrier.
pub const GPT_AREA_SIZE: usize = 1024 * 1024;
/// The karg part: the last 4 KiB of the area.
pub const KARG_REGION_SIZE: usize = 4096;
pub const HEADER_SIZE: usize = 64;
/// Longest karg text (space-separated arguments) the karg part holds.
pub const KARG_MAX: usize = KARG_REGION_SIZE - HEADER_SIZE;
pub const CONFIG_MAGIC: [u8; 8] = *b"KTKEMBD\x01";
pub const KARG_MAGIC: [u8; 8] = *b"KTKKARG\x01";
pub const VERSION: u16 = 1;
/// Flag bit: the stored payload is a zstd frame.
pub const FLAG_ZSTD: u16 = 1;
/// Refuse to inflate a payload beyond this (the agent reads embed areas before anything else).
const MAX_INFLATED: usize = 16 * 1024 * 1024;

/// Which part of the area a failure is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Config,
    Kargs,
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Part::Config => "config header",
            Part::Kargs => "karg header",
        })
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EmbedError {
    #[error("embed area is empty (pristine zeros); stamp it with `kateskit image customize`")]
    Empty,
    #[error("embed area truncated: {len} bytes, expected {ISO_AREA_SIZE} or {GPT_AREA_SIZE}")]
    Truncated { len: usize },
    #[error("{part}: bad magic {found} (not a KatesKit embed area, or overwritten); `kateskit image reset` clears it")]
    BadMagic { part: Part, found: String },
    #[error("{part}: format version {found} is not supported (this build reads version {VERSION}); use a newer kateskit")]
    UnsupportedVersion { part: Part, found: u16 },
    #[error("{part}: header checksum mismatch (stored crc32 {stored:08x}, computed {computed:08x}); re-stamp with `kateskit image customize`")]
    BadHeaderChecksum {
        part: Part,
        stored: u32,
        computed: u32,
    },
    #[error("{part}: payload length {len} exceeds the {room} bytes available")]
    BadLength { part: Part, len: u64, room: usize },
    #[error("{part}: payload SHA-256 mismatch (stored {stored}, computed {computed}); re-stamp with `kateskit image customize`")]
    BadChecksum {
        part: Part,
        stored: String,
        computed: String,
    },
    #[error("{part}: unknown flags {0:#06x}", .flags)]
    BadFlags { part: Part, flags: u16 },
    #[error("config payload: zstd decompression failed: {0}")]
    Decompress(String),
    #[error("{part}: payload is not UTF-8")]
    NotUtf8 { part: Part },
    #[error("config payload is {need} bytes but the area holds at most {room}; shrink the config or use a carrier with a larger area")]
    TooLarge { need: usize, room: usize },
    #[error("kernel arguments take {need} bytes but the karg area holds at most {room}")]
    KargsTooLarge { need: usize, room: usize },
    #[error("kernel argument {0:?} is empty or contains whitespace or NUL")]
    BadKarg(String),
    #[error("reading embed area {}: {kind}", path.display())]
    Io {
        path: std::path::PathBuf,
        kind: std::io::ErrorKind,
    },
}

/// What a stamped area holds. `node_config_json` is None when only kargs were stamped.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Embedded {
    pub node_config_json: Option<String>,
    pub kargs: Vec<String>,
    /// Stored payload size and whether it was zstd-compressed (for `inspect`).
    pub stored_len: usize,
    pub compressed: bool,
}

fn check_size(len: usize) -> Result<(), EmbedError> {
    if len != ISO_AREA_SIZE && len != GPT_AREA_SIZE {
        return Err(EmbedError::Truncated { len });
    }
    Ok(())
}

/// Builds one 64-byte header followed by `payload` into `region` (already zeroed).
fn put(region: &mut [u8], magic: [u8; 8], flags: u16, payload: &[u8]) {
    region[0..8].copy_from_slice(&magic);
    region[8..10].copy_from_slice(&VERSION.to_le_bytes());
    region[10..12].copy_from_slice(&flags.to_le_bytes());
    region[16..24].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    region[24..56].copy_from_slice(&Sha256::digest(payload));
    let crc = crc32fast::hash(&region[0..56]);
    region[56..60].copy_from_slice(&crc.to_le_bytes());
    region[HEADER_SIZE..HEADER_SIZE + payload.len()].copy_from_slice(payload);
}

/// Parses one part; Ok(None) when its header is all zeros (never stamped).
fn get(region: &[u8], magic: [u8; 8], part: Part) -> Result<Option<(u16, &[u8])>, EmbedError> {
    let h = &region[..HEADER_SIZE];
    if h.iter().all(|&b| b == 0) {
        return Ok(None);
    }
    if h[0..8] != magic {
        return Err(EmbedError::BadMagic {
            part,
            found: hex::encode(&h[0..8]),
        });
    }
    let version = u16::from_le_bytes([h[8], h[9]]);
    if version != VERSION {
        return Err(EmbedError::UnsupportedVersion {
            part,
            found: version,
        });
    }
    let stored = u32::from_le_bytes(h[56..60].try_into().expect("4 bytes"));
    let computed = crc32fast::hash(&h[0..56]);
    if stored != computed {
        return Err(EmbedError::BadHeaderChecksum {
            part,
            stored,
            computed,
        });
    }
    let flags = u16::from_le_bytes([h[10], h[11]]);
    if flags & !FLAG_ZSTD != 0 || (part == Part::Kargs && flags != 0) {
        return Err(EmbedError::BadFlags { part, flags });
    }
    let len = u64::from_le_bytes(h[16..24].try_into().expect("8 bytes"));
    let room = region.len() - HEADER_SIZE;
    if len > room as u64 {
        return Err(EmbedError::BadLength { part, len, room });
    }
    let payload = &region[HEADER_SIZE..HEADER_SIZE + len as usize];
    let computed = Sha256::digest(payload);
    if computed[..] != h[24..56] {
        return Err(EmbedError::BadChecksum {
            part,
            stored: hex::encode(&h[24..56]),
            computed: hex::encode(computed),
        });
    }
    Ok(Some((flags, payload)))
}

/// Validates kargs: one token each, no whitespace or NUL (quoting is not supported).
pub fn check_kargs(kargs: &[String]) -> Result<String, EmbedError> {
    for k in kargs {
        if k.is_empty() || k.chars().any(|c| c.is_whitespace() || c == '\0') {
            return Err(EmbedError::BadKarg(k.clone()));
        }
    }
    let text = kargs.join(" ");
    if text.len() > KARG_MAX {
        return Err(EmbedError::KargsTooLarge {
            need: text.len(),
            room: KARG_MAX,
        });
    }
    Ok(text)
}

/// Renders a complete area of `size` bytes. The JSON is zstd-compressed only when that is smaller.
pub fn build_area(
    size: usize,
    node_config_json: Option<&str>,
    kargs: &[String],
) -> Result<Vec<u8>, EmbedError> {
    check_size(size)?;
    let mut area = vec![0u8; size];
    let room = size - KARG_REGION_SIZE - HEADER_SIZE;
    if let Some(json) = node_config_json {
        let raw = json.as_bytes();
        let packed =
            zstd::bulk::compress(raw, 19).map_err(|e| EmbedError::Decompress(e.to_string()))?;
        let (flags, payload) = if packed.len() < raw.len() {
            (FLAG_ZSTD, &packed[..])
        } else {
            (0, raw)
        };
        if payload.len() > room {
            return Err(EmbedError::TooLarge {
                need: payload.len(),
                room,
            });
        }
        put(
            &mut area[..size - KARG_REGION_SIZE],
            CONFIG_MAGIC,
            flags,
            payload,
        );
    }
    if !kargs.is_empty() {
        let text = check_kargs(kargs)?;
        put(
            &mut area[size - KARG_REGION_SIZE..],
            KARG_MAGIC,
            0,
            text.as_bytes(),
        );
    }
    Ok(area)
}

/// Reads an area: Ok(None) when pristine, otherwise the config and kargs, fully verified.
pub fn read_area(bytes: &[u8]) -> Result<Option<Embedded>, EmbedError> {
    check_size(bytes.len())?;
    let split = bytes.len() - KARG_REGION_SIZE;
    let config = get(&bytes[..split], CONFIG_MAGIC, Part::Config)?;
    let kargs = get(&bytes[split..], KARG_MAGIC, Part::Kargs)?;
    if config.is_none() && kargs.is_none() {
        return Ok(None);
    }
    let (mut stored_len, mut compressed, mut json) = (0, false, None);
    if let Some((flags, payload)) = config {
        stored_len = payload.len();
        compressed = flags & FLAG_ZSTD != 0;
        let raw = if compressed {
            zstd::bulk::decompress(payload, MAX_INFLATED)
                .map_err(|e| EmbedError::Decompress(e.to_string()))?
        } else {
            payload.to_vec()
        };
        json =
            Some(String::from_utf8(raw).map_err(|_| EmbedError::NotUtf8 { part: Part::Config })?);
    }
    let kargs = match kargs {
        Some((_, text)) => std::str::from_utf8(text)
            .map_err(|_| EmbedError::NotUtf8 { part: Part::Kargs })?
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        None => Vec::new(),
    };
    Ok(Some(Embedded {
        node_config_json: json,
        kargs,
        stored_len,
        compressed,
    }))
}

/// Like [`read_area`] but treats a pristine area as [`EmbedError::Empty`].
pub fn read_area_required(bytes: &[u8]) -> Result<Embedded, EmbedError> {
    read_area(bytes)?.ok_or(EmbedError::Empty)
}

/// Reads the area from a file holding exactly the area (`/run/kateskit/embed.img`,
/// `/iso/kateskit/embed.img`) or a partition device (`/dev/disk/by-partlabel/KATESKIT-EMBED`).
pub fn read_path(path: &Path) -> Result<Option<Embedded>, EmbedError> {
    use std::io::Read;
    let io = |e: std::io::Error| EmbedError::Io {
        path: path.to_path_buf(),
        kind: e.kind(),
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    // A partition device reports size 0 in metadata, so read up to the larger carrier size.
    let mut buf = Vec::with_capacity(GPT_AREA_SIZE);
    f.by_ref()
        .take(GPT_AREA_SIZE as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(io)?;
    read_area(&buf)
}
