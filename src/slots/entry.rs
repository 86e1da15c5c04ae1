//! Boot entries of the two slots: `kateskit_<V>[+LEFT[-DONE]].efi` in `ESP/EFI/Linux/` (Type #2,
//! what staging writes) and `kateskit_<V>[+LEFT[-DONE]].conf` in `ESP/loader/entries/` (Type #1,
//! read only). The counter is systemd-boot's boot counting: LEFT tries remain, DONE were used;
//! no counter means blessed, LEFT = 0 means bad. Sorting follows systemd-boot, so the first
//! entry of [`boot_order`] is the one the loader starts next under `default kateskit_*`.

use std::cmp::Ordering;
use std::fmt;
use std::path::{Path, PathBuf};

use super::version::{compare, Version, VersionError};
use super::SlotsError;

pub const PREFIX: &str = "kateskit_";
/// Where staging writes UKIs, relative to the ESP.
pub const UKI_DIR: &str = "EFI/Linux";
/// Type #1 entries, relative to the ESP.
pub const CONF_DIR: &str = "loader/entries";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A unified kernel image (`.efi`).
    Uki,
    /// A Boot Loader Specification Type #1 file (`.conf`).
    Conf,
}

impl Kind {
    fn suffix(self) -> &'static str {
        match self {
            Kind::Uki => ".efi",
            Kind::Conf => ".conf",
        }
    }

    /// The directory of this kind of entry, relative to the ESP.
    pub fn dir(self) -> &'static str {
        match self {
            Kind::Uki => UKI_DIR,
            Kind::Conf => CONF_DIR,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Good,
    Trying,
    Bad,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Good => "good",
            State::Trying => "trying",
            State::Bad => "bad",
        })
    }
}

/// One parsed entry name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryName {
    pub version: Version,
    pub tries_left: Option<u32>,
    pub tries_done: Option<u32>,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryNameError {
    #[error("{0:?} is not a KatesKit boot entry (expected kateskit_<VERSION>[+LEFT[-DONE]].efi or .conf)")]
    NotOurs(String),
    #[error("{name:?}: bad boot counter {counter:?} (expected +LEFT or +LEFT-DONE, digits)")]
    BadCounter { name: String, counter: String },
    #[error("{name:?}: {source}")]
    Version {
        name: String,
        #[source]
        source: VersionError,
    },
}

fn counter(s: &str) -> Option<u32> {
    (!s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

impl EntryName {
    /// Parses a file name (no directory). `.efi` and `.conf` give the kind; a name without
    /// either (an entry id as some loaders report it) reads as a UKI.
    pub fn parse(name: &str) -> Result<EntryName, EntryNameError> {
        let not_ours = || EntryNameError::NotOurs(name.to_string());
        let rest = name.strip_prefix(PREFIX).ok_or_else(not_ours)?;
        let (stem, kind) = if let Some(s) = rest.strip_suffix(".efi") {
            (s, Kind::Uki)
        } else if let Some(s) = rest.strip_suffix(".conf") {
            (s, Kind::Conf)
        } else {
            (rest, Kind::Uki)
        };
        let (ver, tries_left, tries_done) = match stem.split_once('+') {
            None => (stem, None, None),
            Some((v, c)) => {
                let bad = || EntryNameError::BadCounter {
                    name: name.to_string(),
                    counter: c.to_string(),
                };
                let (l, d) = match c.split_once('-') {
                    Some((l, d)) => (
                        counter(l).ok_or_else(bad)?,
                        Some(counter(d).ok_or_else(bad)?),
                    ),
                    None => (counter(c).ok_or_else(bad)?, None),
                };
                (v, Some(l), d)
            }
        };
        let version = Version::parse(ver).map_err(|source| EntryNameError::Version {
            name: name.to_string(),
            source,
        })?;
        Ok(EntryName {
            version,
            tries_left,
            tries_done,
            kind,
        })
    }

    /// A blessed UKI entry of `version`.
    pub fn good(version: &Version) -> EntryName {
        EntryName {
            version: version.clone(),
            tries_left: None,
            tries_done: None,
            kind: Kind::Uki,
        }
    }

    /// The same entry with a different counter.
    pub fn with_counter(&self, left: Option<u32>, done: Option<u32>) -> EntryName {
        EntryName {
            tries_left: left,
            tries_done: left.and(done),
            ..self.clone()
        }
    }

    pub fn state(&self) -> State {
        match self.tries_left {
            None => State::Good,
            Some(0) => State::Bad,
            Some(_) => State::Trying,
        }
    }

    /// The file name, e.g. `kateskit_2+3-0.efi`.
    pub fn file_name(&self) -> String {
        let mut s = format!("{PREFIX}{}", self.version);
        if let Some(l) = self.tries_left {
            s.push_str(&format!("+{l}"));
            if let Some(d) = self.tries_done {
                s.push_str(&format!("-{d}"));
            }
        }
        s.push_str(self.kind.suffix());
        s
    }

    /// The path relative to the ESP.
    pub fn rel_path(&self) -> PathBuf {
        Path::new(self.kind.dir()).join(self.file_name())
    }
}

impl fmt::Display for EntryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file_name())
    }
}

/// systemd-boot's order: bad entries last, then newest version first, then (same version)
/// more tries left first and fewer tries done first.
pub fn boot_cmp(a: &EntryName, b: &EntryName) -> Ordering {
    let bad = |e: &EntryName| e.tries_left == Some(0);
    bad(a)
        .cmp(&bad(b))
        .then_with(|| compare(b.version.as_str(), a.version.as_str()))
        .then_with(|| match (a.tries_left, b.tries_left) {
            (Some(x), Some(y)) => y.cmp(&x).then(a.tries_done.cmp(&b.tries_done)),
            _ => Ordering::Equal,
        })
}

/// Every KatesKit entry on the ESP (UKIs and Type #1 files), in boot order. Other files are
/// ignored; a `kateskit_*` name that does not parse is an error naming it.
pub fn list(esp: &Path) -> Result<Vec<EntryName>, SlotsError> {
    let mut out = Vec::new();
    for kind in [Kind::Uki, Kind::Conf] {
        let dir = esp.join(kind.dir());
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(SlotsError::io("listing", &dir, e)),
        };
        for de in rd {
            let de = de.map_err(|e| SlotsError::io("listing", &dir, e))?;
            let name = de.file_name().to_string_lossy().into_owned();
            if !name.starts_with(PREFIX) || !name.ends_with(kind.suffix()) {
                continue;
            }
            let e = EntryName::parse(&name).map_err(|source| SlotsError::Entry {
                dir: dir.clone(),
                source,
            })?;
            out.push(e);
        }
    }
    out.sort_by(boot_cmp);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> EntryName {
        EntryName::parse(s).unwrap()
    }

    #[test]
    fn parse_and_format_round_trip() {
        for s in [
            "kateskit_1.efi",
            "kateskit_2+3-0.efi",
            "kateskit_2+0.efi",
            "kateskit_1.2~rc1+1-2.conf",
        ] {
            assert_eq!(p(s).file_name(), s);
        }
        assert_eq!(p("kateskit_2+3-0.efi").state(), State::Trying);
        assert_eq!(p("kateskit_2+0-3.efi").state(), State::Bad);
        assert_eq!(p("kateskit_2.efi").state(), State::Good);
        assert_eq!(p("kateskit_2").kind, Kind::Uki);
        assert_eq!(
            p("kateskit_2.conf").rel_path(),
            Path::new("loader/entries/kateskit_2.conf")
        );
    }

    #[test]
    fn bad_names_are_refused() {
        for s in [
            "nixos_1.efi",
            "kateskit_.efi",
            "kateskit_1+.efi",
            "kateskit_1+a-0.efi",
            "kateskit_1+1-.efi",
            "kateskit_1+1-2-3.efi",
            "kateskit_1_2.efi",
        ] {
            assert!(EntryName::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn boot_order_puts_bad_last_and_newest_first() {
        let mut v = [
            p("kateskit_3+0-3.efi"),
            p("kateskit_1.efi"),
            p("kateskit_2+2-1.efi"),
            p("kateskit_10.efi"),
        ];
        v.sort_by(boot_cmp);
        let names: Vec<String> = v.iter().map(|e| e.file_name()).collect();
        assert_eq!(
            names,
            [
                "kateskit_10.efi",
                "kateskit_2+2-1.efi",
                "kateskit_1.efi",
                "kateskit_3+0-3.efi"
            ]
        );
    }
}
