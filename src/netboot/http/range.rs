//! The `Range` and validator headers of artifact responses (RFC 9110 §13-14): one byte range
//! per request (`a-b`, `a-`, `-n`); a list of ranges is answered with the whole file, which the
//! RFC allows and which is what iPXE and curl need.

use std::time::{SystemTime, UNIX_EPOCH};

/// What a `Range` header asks of a file of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAsk {
    /// No (usable) Range: the whole file.
    Full,
    /// Bytes `start..end` (end exclusive).
    Part { start: u64, end: u64 },
    /// No byte of the range exists: 416.
    Unsatisfiable,
}

/// Reads a `Range` header value against a file of `len` bytes.
pub fn parse_range(header: Option<&str>, len: u64) -> RangeAsk {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeAsk::Full;
    };
    if spec.contains(',') {
        return RangeAsk::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeAsk::Full;
    };
    let num = |s: &str| -> Option<Option<u64>> {
        let s = s.trim();
        if s.is_empty() {
            Some(None)
        } else if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok().map(Some)
        } else {
            None
        }
    };
    let (Some(a), Some(b)) = (num(a), num(b)) else {
        return RangeAsk::Full; // a malformed Range is ignored (RFC 9110 §14.2)
    };
    match (a, b) {
        (Some(start), end) => {
            if end.is_some_and(|e| e < start) {
                return RangeAsk::Full;
            }
            if start >= len {
                return RangeAsk::Unsatisfiable;
            }
            let end = end.map_or(len, |e| e.saturating_add(1).min(len));
            RangeAsk::Part { start, end }
        }
        (None, Some(suffix)) => {
            if suffix == 0 || len == 0 {
                return RangeAsk::Unsatisfiable;
            }
            RangeAsk::Part {
                start: len.saturating_sub(suffix),
                end: len,
            }
        }
        (None, None) => RangeAsk::Full,
    }
}

/// A strong validator from size and modification time, as nginx builds its ETag.
pub fn etag(len: u64, modified: SystemTime) -> String {
    let ns = modified
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("\"{ns:x}-{len:x}\"")
}

/// True when an `If-None-Match` value lists `tag` (or is `*`).
pub fn none_match(header: &str, tag: &str) -> bool {
    header
        .split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_ranges_are_read_as_the_rfc_says() {
        let p = |h, len| parse_range(Some(h), len);
        assert_eq!(p("bytes=0-0", 10), RangeAsk::Part { start: 0, end: 1 });
        assert_eq!(p("bytes=2-", 10), RangeAsk::Part { start: 2, end: 10 });
        assert_eq!(p("bytes=5-100", 10), RangeAsk::Part { start: 5, end: 10 });
        assert_eq!(p("bytes=-3", 10), RangeAsk::Part { start: 7, end: 10 });
        assert_eq!(p("bytes=-30", 10), RangeAsk::Part { start: 0, end: 10 });
        assert_eq!(p("bytes=10-", 10), RangeAsk::Unsatisfiable);
        assert_eq!(p("bytes=-0", 10), RangeAsk::Unsatisfiable);
        assert_eq!(p("bytes=0-", 0), RangeAsk::Unsatisfiable);
        for ignored in [
            "bytes=0-1,3-4",
            "items=0-1",
            "bytes=5-2",
            "bytes=a-b",
            "bytes=-",
            "bytes=+1-2",
        ] {
            assert_eq!(p(ignored, 10), RangeAsk::Full, "{ignored}");
        }
        assert_eq!(parse_range(None, 10), RangeAsk::Full);
    }

    #[test]
    fn validators_match() {
        let t = etag(5, UNIX_EPOCH);
        assert_eq!(t, "\"0-5\"");
        assert!(none_match("\"x\", \"0-5\"", &t));
        assert!(none_match("W/\"0-5\"", &t));
        assert!(none_match("*", &t));
        assert!(!none_match("\"0-6\"", &t));
    }
}
