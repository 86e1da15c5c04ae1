//! Zero maps, in the spirit of bmaptool's block maps: which block-aligned byte ranges of a raw
//! image are all zeros, so `install --image-url` can write those zeros instead of downloading
//! them. The text format is one header line `kateskit-zero-map 1 <image-length> <block-size>`
//! and then one `START LEN` line per run of zero blocks, in bytes, sorted and not overlapping,
//! block-aligned except that the last run may end at the image's end. A map needs no trust: the
//! installer hashes the zeros it assumed, so a wrong map ends in the SHA-256 mismatch.

use std::io::Read;

/// The first word of the header.
pub const MAGIC: &str = "kateskit-zero-map";
/// The only format version.
pub const VERSION: &str = "1";
/// The block size maps are built with.
pub const BLOCK: u64 = 1 << 20;
/// Largest map text accepted: every map the builder writes fits (runs of 20-digit numbers).
pub const MAX_BYTES: usize = 4 << 20;
/// Most runs accepted; the builder stops adding runs here, so its maps always parse.
pub const MAX_RUNS: usize = 65_536;
const FIX: &str =
    "regenerate the map from the image (`kateskit netboot serve` writes one), or drop \
                   --image-zeros / kateskit.install.image_zeros= to download every byte";

#[derive(Debug, thiserror::Error)]
pub enum ZeroMapError {
    #[error("{from}: the zero map is {len} bytes or more, over the {MAX_BYTES}-byte limit; {FIX}")]
    TooLarge { from: String, len: usize },
    #[error("{from}: line {line}: {why}; {FIX}")]
    Invalid {
        from: String,
        line: usize,
        why: String,
    },
}

/// A parsed or built zero map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZeroMap {
    image_len: u64,
    block: u64,
    /// `(start, len)` in bytes, sorted, not overlapping.
    runs: Vec<(u64, u64)>,
}

/// A decimal number of plain ASCII digits (no sign, no spaces), without overflow.
fn number(s: &str) -> Option<u64> {
    (!s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

impl ZeroMap {
    /// Parses map text; `source` (a URL or path, already redacted) names it in errors.
    pub fn parse(text: &[u8], source: &str) -> Result<ZeroMap, ZeroMapError> {
        let bad = |line: usize, why: String| ZeroMapError::Invalid {
            from: source.to_string(),
            line,
            why,
        };
        if text.len() > MAX_BYTES {
            return Err(ZeroMapError::TooLarge {
                from: source.to_string(),
                len: text.len(),
            });
        }
        let text = std::str::from_utf8(text).map_err(|_| bad(1, "not UTF-8 text".into()))?;
        let body = text.strip_suffix('\n').unwrap_or(text);
        let mut lines = body.split('\n');
        let header: Vec<&str> = lines.next().unwrap_or("").split(' ').collect();
        let (image_len, block) = match header.as_slice() {
            [MAGIC, VERSION, len, block] => match (number(len), number(block)) {
                (Some(l), Some(b)) => (l, b),
                _ => {
                    return Err(bad(
                        1,
                        "the image length and block size must be decimal numbers".into(),
                    ))
                }
            },
            [MAGIC, v, ..] if *v != VERSION => {
                return Err(bad(
                    1,
                    format!("version {v:?} is not supported (only {VERSION})"),
                ))
            }
            _ => {
                return Err(bad(
                    1,
                    format!("the header must be `{MAGIC} {VERSION} <image-length> <block-size>`"),
                ))
            }
        };
        if image_len == 0 {
            return Err(bad(1, "the image length is 0".into()));
        }
        if !block.is_power_of_two() || !(512..=1 << 30).contains(&block) {
            return Err(bad(
                1,
                format!("block size {block} is not a power of two from 512 to 1 GiB"),
            ));
        }
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for (i, l) in lines.enumerate() {
            let line = i + 2;
            if runs.len() == MAX_RUNS {
                return Err(bad(line, format!("more than {MAX_RUNS} runs")));
            }
            let (start, len) = match l.split(' ').collect::<Vec<_>>().as_slice() {
                [s, n] => match (number(s), number(n)) {
                    (Some(s), Some(n)) => (s, n),
                    _ => {
                        return Err(bad(
                            line,
                            format!("{l:?} is not `START LEN` in decimal bytes"),
                        ))
                    }
                },
                _ => {
                    return Err(bad(
                        line,
                        format!("{l:?} is not `START LEN` in decimal bytes"),
                    ))
                }
            };
            let end = start
                .checked_add(len)
                .ok_or_else(|| bad(line, format!("{start} + {len} overflows")))?;
            let why = if len == 0 {
                Some("an empty run".to_string())
            } else if start % block != 0 {
                Some(format!(
                    "start {start} is not a multiple of the block size {block}"
                ))
            } else if end > image_len {
                Some(format!(
                    "the run ends at {end}, past the image's end {image_len}"
                ))
            } else if end % block != 0 && end != image_len {
                Some(format!(
                    "the run ends at {end}, neither a block boundary nor the image's end"
                ))
            } else if runs.last().is_some_and(|&(s, n)| start < s + n) {
                Some(format!(
                    "the run at {start} is out of order or overlaps the one before"
                ))
            } else {
                None
            };
            if let Some(why) = why {
                return Err(bad(line, why));
            }
            // Touching runs are one run, so a chunk across both counts as covered.
            match runs.last_mut() {
                Some((s, n)) if *s + *n == start => *n += len,
                _ => runs.push((start, len)),
            }
        }
        Ok(ZeroMap {
            image_len,
            block,
            runs,
        })
    }

    /// Reads `r` to its end in `block`-sized blocks and maps the all-zero ones (merged into
    /// runs; past [`MAX_RUNS`] further runs are left out, which only downloads more).
    pub fn scan<R: Read>(r: &mut R, block: u64) -> std::io::Result<ZeroMap> {
        assert!(block.is_power_of_two() && (512..=1 << 30).contains(&block));
        let mut buf = vec![0u8; block as usize];
        let (mut pos, mut runs) = (0u64, Vec::<(u64, u64)>::new());
        loop {
            let mut got = 0;
            while got < buf.len() {
                match r.read(&mut buf[got..]) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if got == 0 {
                break;
            }
            if buf[..got].iter().all(|b| *b == 0) {
                let full = runs.len() >= MAX_RUNS;
                match runs.last_mut() {
                    Some((s, n)) if *s + *n == pos => *n += got as u64,
                    _ if !full => runs.push((pos, got as u64)),
                    _ => {}
                }
            }
            pos += got as u64;
            if got < buf.len() {
                break;
            }
        }
        Ok(ZeroMap {
            image_len: pos,
            block,
            runs,
        })
    }

    /// The map as text, in the format [`ZeroMap::parse`] reads.
    pub fn render(&self) -> String {
        let mut s = format!("{MAGIC} {VERSION} {} {}\n", self.image_len, self.block);
        for (start, len) in &self.runs {
            s.push_str(&format!("{start} {len}\n"));
        }
        s
    }

    pub fn image_len(&self) -> u64 {
        self.image_len
    }

    pub fn runs(&self) -> &[(u64, u64)] {
        &self.runs
    }

    /// Bytes the map marks as zero.
    pub fn zero_bytes(&self) -> u64 {
        self.runs.iter().map(|r| r.1).sum()
    }

    /// Whether `start..start + len` lies wholly inside one run.
    pub fn covers(&self, start: u64, len: u64) -> bool {
        let Some(end) = start.checked_add(len) else {
            return false;
        };
        let i = self.runs.partition_point(|&(s, _)| s <= start);
        i > 0 && {
            let (s, n) = self.runs[i - 1];
            len > 0 && s <= start && end <= s + n
        }
    }
}

#[cfg(test)]
#[path = "zero_map_tests.rs"]
mod tests;
