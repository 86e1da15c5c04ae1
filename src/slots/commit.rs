//! `node commit` and `node rollback`: the two renames of the booted entry. Commit blesses it
//! (drops the counter, as systemd-bless-boot does); rollback marks it bad (`+0-1`) so the other
//! slot's entry sorts first, after checking that entry exists and matches its slot.

use super::entry::{self, boot_cmp, EntryName, State};
use super::layout::Layout;
use super::stage::Paths;
use super::state::{self, UpgradeResult};
use super::version::Version;
use super::{efivars, esp, SlotsError};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum CommitOutcome {
    /// The counted entry was renamed to its blessed name.
    Committed {
        version: Version,
        from: String,
        to: String,
    },
    /// The booted entry has no counter (blessed before, e.g. by systemd-bless-boot).
    AlreadyGood { version: Version, entry: String },
}

fn record_if_upgrade(paths: &Paths, version: &Version) -> Result<(), SlotsError> {
    let last = state::load(&paths.state)?.last_upgrade;
    if let Some(lu) =
        last.filter(|l| l.to == version.as_str() && l.result != UpgradeResult::Committed)
    {
        state::record(&paths.state, &lu.from, &lu.to, UpgradeResult::Committed)?;
    }
    Ok(())
}

/// Blesses the booted entry named by `LoaderBootCountPath`.
pub fn commit(paths: &Paths) -> Result<CommitOutcome, SlotsError> {
    let info = efivars::read(&paths.efivars)?;
    let booted = info.entry()?;
    let version = booted.version.clone();
    let Some(rel) = &info.count_path else {
        record_if_upgrade(paths, &version)?;
        return Ok(CommitOutcome::AlreadyGood {
            entry: booted.file_name(),
            version,
        });
    };
    let counted = paths.esp.join(rel);
    let good = EntryName {
        tries_left: None,
        tries_done: None,
        ..booted.clone()
    };
    let blessed = counted.with_file_name(good.file_name());
    if !counted.exists() {
        if blessed.exists() {
            record_if_upgrade(paths, &version)?;
            return Ok(CommitOutcome::AlreadyGood {
                entry: good.file_name(),
                version,
            });
        }
        return Err(SlotsError::Refused(format!(
            "the booted entry {} (LoaderBootCountPath) is not on the ESP at {}; is --esp right?",
            booted.file_name(),
            paths.esp.display()
        )));
    }
    std::fs::rename(&counted, &blessed)
        .map_err(|e| SlotsError::io("renaming boot entry", &counted, e))?;
    crate::fsutil::sync_dir(blessed.parent().unwrap_or(&paths.esp))?;
    record_if_upgrade(paths, &version)?;
    Ok(CommitOutcome::Committed {
        version,
        from: booted.file_name(),
        to: good.file_name(),
    })
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RollbackOutcome {
    pub from: Version,
    pub to: Version,
    /// The booted entry's new (bad) name.
    pub marked_bad: String,
    /// The entry systemd-boot starts next.
    pub next: String,
}

/// Marks the booted entry bad so the other slot boots next.
pub fn rollback(paths: &Paths) -> Result<RollbackOutcome, SlotsError> {
    let info = efivars::read(&paths.efivars)?;
    let booted_id = info.entry()?;
    let booted = booted_id.version.clone();
    let layout = Layout::read(&paths.disk()?)?;
    let other = layout.inactive(&booted)?;
    let Some(w) = other.version.clone() else {
        return Err(SlotsError::Refused(format!(
            "the other slot (partition {} on {}) is {}: there is nothing to roll back to",
            other.index,
            layout.disk.display(),
            other.name
        )));
    };
    let entries = entry::list(&paths.esp)?;
    let current = match &info.count_path {
        Some(p) => EntryName::parse(&p.file_name().unwrap_or_default().to_string_lossy()).map_err(
            |source| SlotsError::Entry {
                dir: paths.esp.join(p),
                source,
            },
        )?,
        None => entries
            .iter()
            .find(|e| e.version == booted && e.state() == State::Good)
            .cloned()
            .ok_or_else(|| {
                SlotsError::Refused(format!(
                    "no boot entry of the booted version {booted} on {}",
                    paths.esp.display()
                ))
            })?,
    };
    if !entries
        .iter()
        .any(|e| e.version == w && e.state() != State::Bad)
    {
        return Err(SlotsError::Refused(format!(
            "the other slot (partition {}, {}) has no bootable entry {}{w}[+N].efi on {}; \
             rolling back would leave nothing to boot",
            other.index,
            other.name,
            entry::PREFIX,
            paths.esp.display()
        )));
    }
    let bad = current.with_counter(Some(0), Some(1));
    let mut after: Vec<EntryName> = entries
        .into_iter()
        .map(|e| if e == current { bad.clone() } else { e })
        .collect();
    after.sort_by(boot_cmp);
    let next = after
        .first()
        .cloned()
        .expect("the other slot's entry is listed");
    if next.version != w {
        return Err(SlotsError::Refused(format!(
            "after marking {current} bad, {next} would boot, not the other slot's {w}; remove \
             stray entries from {} first",
            paths.esp.join(entry::UKI_DIR).display()
        )));
    }
    esp::rename_entry(&paths.esp, &current, &bad)?;
    state::record(
        &paths.state,
        w.as_str(),
        booted.as_str(),
        UpgradeResult::RolledBack,
    )?;
    Ok(RollbackOutcome {
        from: booted,
        to: w,
        marked_bad: bad.file_name(),
        next: next.file_name(),
    })
}
