//! Fuzz harnesses: one function per parser of untrusted bytes, shared by the cargo-fuzz targets
//! in `fuzz/` and by the test that replays `fuzz/regressions/<target>/` on every `cargo test`.
//! Each returns normally for any input; a panic (or a failed assertion about the result) is a
//! bug in the parser.
//!
//! Adding a parser (for example a k3os config mapper) means one function here, one line in
//! [`TARGETS`] and a three-line file in `fuzz/fuzz_targets/`; `tests/fuzz.sh` runs every
//! target that `cargo fuzz list` reports.

mod dhcp;
mod flat;
mod sparse;
mod wire;

pub use dhcp::dhcp;
pub use flat::flat;
pub use sparse::{seed_for_image, SparseImage};
pub use wire::{tftp, zero_map};

use crate::agent::ladder::cmdline;

use crate::agent::ladder::drive;

use crate::agent::ladder::effective;

use crate::agent::ladder::merge;
use crate::disk::bluestore;
use crate::image::{self, cpio, embed, ImageSource};

/// A harness: takes any bytes, panics only on a bug.
pub type Harness = fn(&[u8]);

/// Every harness by target name (the names of the binaries in `fuzz/Cargo.toml`).
pub const TARGETS: &[(&str, Harness)] = &[
    ("cmdline", cmdline),
    ("merge", merge),
    ("locate", locate),
    ("embed", embed_area),
    ("bluestore", bluestore),
    ("cpio", cpio),
    ("nocloud", nocloud),
    ("k3os", k3os),
    ("nocloud_write_files", nocloud_write_files),
    ("flat", flat),
    ("dhcp", dhcp),
    ("tftp", tftp),
    ("zero_map", zero_map),
];

/// The harness for `name`.
pub fn target(name: &str) -> Option<Harness> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// Kernel command line parser: never panics; every `kateskit.*` leaf it produces is attributed.
pub fn cmdline(data: &[u8]) {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    // Linux accepts every line: only a broken `kateskit.*` argument may be refused.
    let args = match cmdline::split(line, "fuzz") {
        Ok(args) => args,
        Err(e) => {
            assert!(
                line.contains("kateskit."),
                "refused a line without kateskit.*: {e}"
            );
            return;
        }
    };
    if let Ok(mut layer) = cmdline::layer(&args, "fuzz") {
        for p in merge::leaf_paths(&layer.tree) {
            assert!(layer.origin.contains_key(&p), "leaf {p} has no origin");
        }
        cmdline::coerce(&mut layer.tree, Some(&effective::agent_shape()));
    }
}

/// Config merge: for up to four JSON layers (separated by U+0001), every leaf of the result has
/// exactly one source, and resolving returns an error instead of panicking.
pub fn merge(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut merged = merge::Merged::new();
    for (i, part) in text.split('\u{1}').enumerate().take(4) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(part) else {
            return;
        };
        if !v.is_object() {
            return;
        }
        merged.push(&merge::Layer::uniform(v, &format!("layer{i}")));
    }
    let leaves = merge::leaf_paths(&merged.tree);
    assert_eq!(leaves.len(), merged.origin.len(), "origins vs leaves");
    for p in &leaves {
        assert!(merged.origin.contains_key(p), "leaf {p} has no origin");
    }
    let _ = effective::resolve(merged);
}

/// `image::locate` over the input as a [`SparseImage`] (a small input stands for a disk of any
/// size, so huge LBAs and extents are reachable) and over the raw bytes. A found extent lies
/// inside the image, and its area is then parsed as well.
pub fn locate(data: &[u8]) {
    let _ = image::locate_bytes(data);
    let img = SparseImage::decode(data);
    let Ok(c) = image::locate_in(&img) else {
        return;
    };
    let end = c.extent.offset.checked_add(c.extent.len);
    assert!(
        end.is_some_and(|e| e <= img.byte_len().unwrap_or(0)),
        "extent {:?} outside a {}-byte image",
        c.extent,
        img.byte_len().unwrap_or(0)
    );
    // locate checked the length against the carrier's area size (at most 1 MiB).
    let mut area = vec![0u8; c.extent.len as usize];
    img.read_exact_at(&mut area, c.extent.offset)
        .expect("a located extent is readable");
    let _ = embed::read_area(&area);
}

/// `embed::read_area` on a full-size area built from the input: a flags byte, a `u16 LE`
/// length n, n bytes for the start of the config part, the rest for the start of the karg
/// part. Flag bit 0 picks the GPT carrier size; bits 1 and 2 give the config and karg headers
/// valid checksums, so mutations reach decompression and UTF-8 decoding instead of a CRC.
pub fn embed_area(data: &[u8]) {
    let [flags, n0, n1, rest @ ..] = data else {
        return;
    };
    let flags = *flags;
    let n = usize::from(u16::from_le_bytes([*n0, *n1])).min(rest.len());
    let (config, kargs) = rest.split_at(n);
    let size = if flags & 1 == 0 {
        embed::ISO_AREA_SIZE
    } else {
        embed::GPT_AREA_SIZE
    };
    let mut area = vec![0u8; size];
    let split = size - embed::KARG_REGION_SIZE;
    let n = config.len().min(split);
    area[..n].copy_from_slice(&config[..n]);
    let m = kargs.len().min(embed::KARG_REGION_SIZE);
    area[split..split + m].copy_from_slice(&kargs[..m]);
    if flags & 2 != 0 {
        fix_checksums(&mut area[..split]);
    }
    if flags & 4 != 0 {
        fix_checksums(&mut area[split..]);
    }
    if let Ok(Some(e)) = embed::read_area(&area) {
        assert!(e.stored_len <= size, "stored length beyond the area");
    }
}

/// Writes the SHA-256 of the payload the header claims (when it fits) and the header CRC.
fn fix_checksums(region: &mut [u8]) {
    use sha2::Digest;
    let len = u64::from_le_bytes(region[16..24].try_into().expect("8 bytes"));
    let room = (region.len() - embed::HEADER_SIZE) as u64;
    if len <= room {
        let end = embed::HEADER_SIZE + len as usize;
        let digest = sha2::Sha256::digest(&region[embed::HEADER_SIZE..end]);
        region[24..56].copy_from_slice(&digest);
    }
    let crc = crc32fast::hash(&region[0..56]);
    region[56..60].copy_from_slice(&crc.to_le_bytes());
}

/// BlueStore label decoding of a device's first bytes.
pub fn bluestore(data: &[u8]) {
    let mut buf = bluestore::MAGIC.to_vec();
    // Most inputs would fail the magic check; give every input the magic once.
    buf.extend_from_slice(data);
    let _ = bluestore::decode(data);
    let _ = bluestore::decode(&buf);
}

/// The newc cpio walk of the netboot carrier; a found member lies inside the archive.
pub fn cpio(data: &[u8]) {
    let len = data.len() as u64;
    if let Ok(e) = cpio::find_embed(data, len) {
        assert!(
            e.offset.checked_add(e.len).is_some_and(|end| end <= len),
            "member {e:?} outside a {len}-byte archive"
        );
    }
    let img = SparseImage::decode(data);
    let _ = cpio::find_embed(&img, img.byte_len().unwrap_or(0));
}

/// The config drive mappers (`kateskit.json`, NoCloud `meta-data` and cloud-config
/// `user-data`). The input is up to three files separated by 0x00; bit n of the first byte
/// says whether file n exists. A mapped layer then goes through the agent's merge and resolve.
pub fn nocloud(data: &[u8]) {
    let Some((&present, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.splitn(4, |&b| b == 0);
    let files: Vec<Option<Vec<u8>>> = (0..4)
        .map(|i| {
            let part = parts.next().unwrap_or_default();
            (present & (1 << i) != 0).then(|| part.to_vec())
        })
        .collect();
    let file = |name: &str| -> Result<Option<Vec<u8>>, String> {
        let i = match name {
            "kateskit.json" => 0,
            "meta-data" => 1,
            "user-data" => 2,
            "network-config" => 3,
            "config.yaml" => return Ok(None),
            other => panic!("mapper asked for unexpected drive file {other}"),
        };
        Ok(files[i].clone())
    };
    if let Ok((Some(layer), _warnings)) = drive::map_files(&file, "fuzz drive") {
        let mut merged = merge::Merged::new();
        merged.push(&layer);
        let _ = effective::resolve(merged);
    }
}

/// k3os mapper: any config.yaml or `k3os.*` command line either maps or is refused with an
/// error; every leaf of the mapped layer is attributed to its source.
pub fn k3os(data: &[u8]) {
    fn attributed(m: &crate::k3os::Mapped) {
        for p in merge::leaf_paths(&m.layer.tree) {
            assert!(
                m.layer.origin.keys().any(|o| p == *o
                    || p.starts_with(&format!("{o}."))
                    || p.starts_with(&format!("{o}["))),
                "leaf {p} has no origin"
            );
        }
        for u in &m.unmapped {
            assert!(!u.key.is_empty() && !u.source.is_empty());
        }
    }
    if let Ok(cfg) = crate::k3os::parse_yaml(data, "fuzz") {
        if let Ok(m) = crate::k3os::map(&cfg, "fuzz") {
            attributed(&m);
        }
    }
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(args) = cmdline::split(line, "fuzz") {
        if let Ok(Some(m)) = crate::k3os::cmdline::map(&args, "fuzz") {
            attributed(&m);
        }
    }
}

/// cloud-init write_files decoding: every entry it accepts has text or base64 content and an
/// octal mode.
pub fn nocloud_write_files(data: &[u8]) {
    use crate::agent::ladder::nocloud::{self, files};
    use base64::Engine;
    let Ok(v) = serde_yaml_ng::from_slice::<serde_yaml_ng::Value>(data) else {
        return;
    };
    let tagged = serde_yaml_ng::from_slice(&nocloud::local_binary_tags(data)).ok();
    let Ok(entries) = files::map(&v, tagged.as_ref(), "fuzz") else {
        return;
    };
    for e in entries {
        let content = e["content"].as_str().expect("content is text");
        if e.get("encoding").is_some() {
            base64::engine::general_purpose::STANDARD
                .decode(content)
                .expect("b64 content decodes");
        }
        if let Some(p) = e.get("permissions") {
            u32::from_str_radix(p.as_str().expect("mode is text"), 8).expect("octal mode");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_harness_accepts_empty_and_odd_inputs() {
        for (name, f) in TARGETS {
            for input in [&b""[..], b"\0", b"\xff\xff\xff\xff", &[0x5a; 300]] {
                f(input);
            }
            assert!(target(name).is_some());
        }
    }
}
