//! `node status`: the booted version and entry, both slots, every entry with its state and the
//! one systemd-boot starts next, and the last upgrade, with a rollback detected when the
//! booted version is older than an entry that ran out of tries.

use std::path::PathBuf;

use super::entry::{self, State};
use super::layout::Layout;
use super::stage::Paths;
use super::state::{self, LastUpgrade, UpgradeResult};
use super::version::Version;
use super::{efivars, SlotsError};

#[derive(Debug, Clone, serde::Serialize)]
pub struct SlotStatus {
    pub index: u32,
    pub name: String,
    pub version: Option<Version>,
    pub size: u64,
    pub running: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct EntryStatus {
    pub name: String,
    pub version: Version,
    pub state: State,
    pub tries_left: Option<u32>,
    pub tries_done: Option<u32>,
    /// The entry systemd-boot starts next.
    pub next: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    /// The booted version; `None` when the loader left no variables.
    pub version: Option<Version>,
    pub booted_entry: Option<String>,
    pub disk: Option<PathBuf>,
    pub slots: Vec<SlotStatus>,
    pub entries: Vec<EntryStatus>,
    pub next_boot: Option<String>,
    /// A newer version whose entry ran out of tries while this older one runs.
    pub rolled_back_from: Option<Version>,
    pub last_upgrade: Option<LastUpgrade>,
}

pub fn status(paths: &Paths) -> Result<Status, SlotsError> {
    let info = efivars::read(&paths.efivars)?;
    let booted = info.entry()?;
    let version = booted.version.clone();
    let layout = Layout::read(&paths.disk()?)?;
    let running = layout.running(&version).ok().map(|s| s.index);
    let list = entry::list(&paths.esp)?;
    let rolled_back_from = list
        .iter()
        .filter(|e| e.state() == State::Bad && e.version > version)
        .map(|e| e.version.clone())
        .max();
    let entries: Vec<EntryStatus> = list
        .iter()
        .enumerate()
        .map(|(i, e)| EntryStatus {
            name: e.file_name(),
            version: e.version.clone(),
            state: e.state(),
            tries_left: e.tries_left,
            tries_done: e.tries_done,
            next: i == 0,
        })
        .collect();
    let mut last_upgrade = state::load(&paths.state)?.last_upgrade;
    if let (Some(lu), Some(w)) = (&mut last_upgrade, &rolled_back_from) {
        if lu.to == w.as_str() && lu.result == UpgradeResult::Staged {
            lu.result = UpgradeResult::RolledBack;
        }
    }
    Ok(Status {
        booted_entry: Some(match &info.count_path {
            Some(p) => p.display().to_string(),
            None => info.selected.clone(),
        }),
        version: Some(version),
        disk: Some(layout.disk.clone()),
        slots: layout
            .slots
            .iter()
            .map(|s| SlotStatus {
                index: s.index,
                name: s.name.clone(),
                version: s.version.clone(),
                size: s.len,
                running: Some(s.index) == running,
            })
            .collect(),
        next_boot: entries.first().map(|e| e.name.clone()),
        entries,
        rolled_back_from,
        last_upgrade,
    })
}
