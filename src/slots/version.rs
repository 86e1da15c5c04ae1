//! Release versions: the grammar a slot's GPT name and a boot entry's file name can carry, and
//! the order systemd gives versions (`systemd-analyze compare-versions`, the order systemd-boot
//! sorts entries in), so "newer" means the same thing to `node stage` as to the boot loader.

use std::cmp::Ordering;
use std::fmt;

/// Longest accepted version (the GPT name `kateskit_<V>` must fit in 36 UTF-16 units, but
/// entry file names allow more; the slot check is made where the name is written).
pub const MAX_LEN: usize = 64;

/// A version string that passed [`Version::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Version(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("version is empty; expected 1-{MAX_LEN} characters of [0-9A-Za-z.~^-]")]
    Empty,
    #[error("version {0:?} is longer than {MAX_LEN} characters")]
    TooLong(String),
    #[error("version {0:?} must start with a letter or digit")]
    BadStart(String),
    #[error(
        "version {value:?} contains {ch:?}; only [0-9A-Za-z.~^-] are allowed \
         ('+' starts the boot counter, '_' separates the name)"
    )]
    BadChar { value: String, ch: char },
}

impl Version {
    /// Checks the grammar: 1-64 characters of `[0-9A-Za-z.~^-]`, starting alphanumeric.
    pub fn parse(s: &str) -> Result<Version, VersionError> {
        if s.is_empty() {
            return Err(VersionError::Empty);
        }
        if s.len() > MAX_LEN {
            return Err(VersionError::TooLong(s.to_string()));
        }
        if let Some(ch) = s.chars().find(|c| !is_version_char(*c)) {
            return Err(VersionError::BadChar {
                value: s.to_string(),
                ch,
            });
        }
        if !s.as_bytes()[0].is_ascii_alphanumeric() {
            return Err(VersionError::BadStart(s.to_string()));
        }
        Ok(Version(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        compare(&self.0, &other.0).then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn is_version_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '~' | '-' | '^' | '.')
}

/// Skips one separator `sep` when either side starts with it; the side without it is newer.
fn separator(a: &mut &[u8], b: &mut &[u8], sep: u8) -> Option<Ordering> {
    let (ha, hb) = (a.first() == Some(&sep), b.first() == Some(&sep));
    if !ha && !hb {
        return None;
    }
    match (!ha).cmp(&!hb) {
        Ordering::Equal => {
            *a = &a[1..];
            *b = &b[1..];
            None
        }
        o => Some(o),
    }
}

fn take_while(s: &[u8], f: fn(&u8) -> bool) -> usize {
    s.iter().take_while(|c| f(c)).count()
}

/// systemd's version comparison (`strverscmp_improved`): segments of digits compare as
/// numbers (leading zeros ignored) and are newer than letters; `~` sorts before anything,
/// even the end of the string (pre-releases); `-`, `^` and `.` separate segments, in that
/// order of increasing weight; other characters are skipped.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    let valid = |c: &u8| is_version_char(*c as char);
    loop {
        a = &a[a.iter().take_while(|c| !valid(c)).count()..];
        b = &b[b.iter().take_while(|c| !valid(c)).count()..];
        if let Some(o) = separator(&mut a, &mut b, b'~') {
            return o;
        }
        if a.is_empty() || b.is_empty() {
            return a.cmp(b);
        }
        for sep in [b'-', b'^', b'.'] {
            if let Some(o) = separator(&mut a, &mut b, sep) {
                return o;
            }
        }
        let (la, lb);
        if a.first().is_some_and(u8::is_ascii_digit) || b.first().is_some_and(u8::is_ascii_digit) {
            la = take_while(a, u8::is_ascii_digit);
            lb = take_while(b, u8::is_ascii_digit);
            let o = (la != 0).cmp(&(lb != 0));
            if o != Ordering::Equal {
                return o;
            }
            let (za, zb) = (take_while(a, |c| *c == b'0'), take_while(b, |c| *c == b'0'));
            let (na, nb) = (&a[za..la], &b[zb..lb]);
            let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if o != Ordering::Equal {
                return o;
            }
        } else {
            la = take_while(a, u8::is_ascii_alphabetic);
            lb = take_while(b, u8::is_ascii_alphabetic);
            let n = la.min(lb);
            let o = a[..n].cmp(&b[..n]).then(la.cmp(&lb));
            if o != Ordering::Equal {
                return o;
            }
        }
        a = &a[la..];
        b = &b[lb..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        for ok in ["1", "1.2.3", "2026.12.01-rc1", "1~rc1", "1^p1", "A", "v1"] {
            Version::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        assert_eq!(Version::parse(""), Err(VersionError::Empty));
        assert!(matches!(
            Version::parse(".1"),
            Err(VersionError::BadStart(_))
        ));
        assert!(matches!(
            Version::parse("~1"),
            Err(VersionError::BadStart(_))
        ));
        for bad in ["1+2", "1_2", "1/2", "1 2", "ü"] {
            assert!(
                matches!(Version::parse(bad), Err(VersionError::BadChar { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            Version::parse(&"1".repeat(65)),
            Err(VersionError::TooLong(_))
        ));
        Version::parse(&"1".repeat(64)).unwrap();
    }

    #[test]
    fn order_basics() {
        use Ordering::*;
        assert_eq!(compare("1.2", "1.10"), Less);
        assert_eq!(compare("01", "1"), Equal);
        assert_eq!(compare("1~rc1", "1"), Less);
        assert_eq!(compare("1", "1.0"), Less);
        assert_eq!(compare("1-1", "1.1"), Less);
        assert_eq!(compare("1a", "1"), Greater);
    }
}
