//! Harnesses for bytes a netbooting machine sends: TFTP requests (any UDP datagram on port
//! 69) and the zero map `kateskit install` downloads beside the image.

use crate::image::zero_map::ZeroMap;
use crate::netboot::http::confine;
use crate::netboot::tftp::packet::{self, Packet};

/// A TFTP datagram: reading never panics; requested options are only ever in their RFC
/// ranges; a file name the confinement accepts is a plain relative path (no `..`, `.`, empty
/// part, backslash or control character), and normalising it again changes nothing.
pub fn tftp(data: &[u8]) {
    let Ok(p) = packet::parse(data) else {
        return;
    };
    match p {
        Packet::Read { file, options, .. } => {
            if let Some(b) = options.blksize {
                assert!((8..=65464).contains(&b), "blksize {b}");
            }
            if let Some(t) = options.timeout {
                assert!(t >= 1, "timeout {t}");
            }
            if let Some(w) = options.windowsize {
                assert!(w >= 1, "windowsize {w}");
            }
            if let Ok(rel) = confine::normalise(&file) {
                assert!(!rel.starts_with('/') && !rel.contains('\\'), "{rel:?}");
                assert!(!rel.chars().any(char::is_control), "{rel:?}");
                assert!(
                    rel.split('/')
                        .all(|s| !s.is_empty() && s != "." && s != ".."),
                    "{rel:?}"
                );
                assert_eq!(confine::normalise(&rel).as_deref(), Ok(rel.as_str()));
            }
        }
        Packet::Ack(block) => assert_eq!(&data[..4], &[0, 4, (block >> 8) as u8, block as u8]),
        Packet::Error(code, _) => assert_eq!(&data[..4], &[0, 5, (code >> 8) as u8, code as u8]),
        Packet::Write | Packet::Other(_) => {}
    }
}

/// A zero map: parsing never panics; an accepted map renders to text that parses back to the
/// same map, marks no more bytes than the image has, and each run is covered whole while the
/// byte before it and the byte after it are not (runs are maximal, so a chunk is never
/// counted as zeros beyond what the map says).
pub fn zero_map(data: &[u8]) {
    let Ok(m) = ZeroMap::parse(data, "fuzz") else {
        return;
    };
    let again = ZeroMap::parse(m.render().as_bytes(), "fuzz").expect("a rendered map parses");
    assert_eq!(again, m);
    assert!(m.zero_bytes() <= m.image_len());
    for &(start, len) in m.runs() {
        assert!(m.covers(start, len), "run {start}+{len}");
        if let Some(more) = len.checked_add(1) {
            assert!(!m.covers(start, more), "run {start}+{len} is not maximal");
        }
        if let Some(before) = start.checked_sub(1) {
            assert!(!m.covers(before, 1), "byte {before} before a run");
        }
    }
    assert!(!m.covers(0, 0), "an empty range counts as zeros");
}
