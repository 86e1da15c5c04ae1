//! `node stage`: put a verified release into the inactive slot and give it a counted boot
//! entry. Every refusal (bad sums, hash or size, version grammar, same or older version, no
//! inactive slot, image larger than the slot) happens before the first byte reaches the disk.
//! The slot is named `_empty` while its bytes change, so a crash never leaves a slot named for
//! a version it does not hold; its entry is written last.

use std::path::{Path, PathBuf};

use super::entry::{self, EntryName};
use super::fetch::{self, Progress};
use super::layout::{Layout, EMPTY};
use super::release::Source;
use super::state::{self, UpgradeResult};
use super::version::Version;
use super::{efivars, esp, slot_write, SlotsError};
use crate::image::gpt_write::{rename_partition, NAME_UNITS};

/// Default boot tries of a staged entry.
pub const DEFAULT_TRIES: u32 = 3;

/// Where `node` commands find things; the CLI fills it from flags.
#[derive(Debug, Clone)]
pub struct Paths {
    /// `--disk`; `None` finds the disk holding `/`.
    pub disk: Option<PathBuf>,
    pub esp: PathBuf,
    pub state: PathBuf,
    pub efivars: PathBuf,
}

impl Paths {
    pub fn disk(&self) -> Result<PathBuf, SlotsError> {
        match &self.disk {
            Some(d) => Ok(d.clone()),
            None => super::layout::boot_disk(),
        }
    }
}

pub struct StageOptions<'a> {
    pub source: String,
    pub sums_sha256: Option<String>,
    pub tries: u32,
    pub fetch_only: bool,
    pub progress: Option<Progress<'a>>,
}

/// What `stage` did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum StageOutcome {
    /// The release is the running version: nothing was written.
    AlreadyRunning { version: Version },
    /// `--fetch-only`: verified in the staging directory, no slot touched.
    Fetched { version: Version, dir: PathBuf },
    Staged {
        from: Version,
        version: Version,
        slot: u32,
        entry: String,
    },
}

/// The version this boot runs (from the loader's variables).
pub fn booted_version(efivars_dir: &Path) -> Result<Version, SlotsError> {
    Ok(efivars::read(efivars_dir)?.entry()?.version)
}

pub fn stage(paths: &Paths, o: &StageOptions) -> Result<StageOutcome, SlotsError> {
    let pin = o
        .sums_sha256
        .as_deref()
        .map(crate::image::pull::parse_sha256)
        .transpose()?;
    if o.tries == 0 {
        return Err(SlotsError::Refused(
            "--tries must be at least 1 (0 would stage an entry that is already bad)".into(),
        ));
    }
    let source = Source::resolve(&o.source)?;
    let (sums, release) = fetch::read_sums(&source, pin.as_deref())?;
    let target = release.version.clone();
    let booted = match booted_version(&paths.efivars) {
        Ok(v) => Some(v),
        Err(e) if o.fetch_only => {
            tracing::info!("booted version unknown ({e}); fetching anyway");
            None
        }
        Err(e) => return Err(e),
    };
    if let Some(b) = &booted {
        if *b == target {
            return Ok(StageOutcome::AlreadyRunning { version: target });
        }
        if target < *b {
            return Err(SlotsError::Downgrade {
                running: b.clone(),
                target,
            });
        }
    }
    let slot_name = format!("{}{target}", entry::PREFIX);
    if slot_name.encode_utf16().count() > NAME_UNITS {
        return Err(SlotsError::Refused(format!(
            "version {target} is too long for a slot name ({slot_name:?} exceeds the \
             {NAME_UNITS} characters of a GPT name)"
        )));
    }
    // Layout checks before the download too, so a node that cannot take the release says so
    // before fetching it.
    let layout = match (&booted, o.fetch_only) {
        (Some(_), false) => Some(Layout::read(&paths.disk()?)?),
        _ => None,
    };
    let fetched = fetch::fetch(&source, &release, &sums, &paths.state, o.progress)?;
    if o.fetch_only {
        return Ok(StageOutcome::Fetched {
            version: target,
            dir: fetched.dir,
        });
    }
    let (Some(booted), Some(layout)) = (booted, layout) else {
        unreachable!("read above unless fetch_only");
    };
    let slot = layout.inactive(&booted)?.clone();
    if fetched.store_len > slot.len {
        return Err(SlotsError::Refused(format!(
            "{}: the store image is {} bytes, slot partition {} on {} holds {}; nothing was \
             written",
            fetched.store.display(),
            fetched.store_len,
            slot.index,
            layout.disk.display(),
            slot.len
        )));
    }
    esp::remove_leftovers(&paths.esp);
    let entries = entry::list(&paths.esp)?;
    let disk = &layout.disk;
    let f = slot_write::open_disk(disk)?;
    let gpt = |name: &str| {
        rename_partition(&f, layout.sector, slot.index, name).map_err(|source| SlotsError::Gpt {
            disk: disk.clone(),
            source,
        })
    };
    // From here on the disk changes: first the slot stops naming a version.
    if slot.name != EMPTY {
        gpt(EMPTY)?;
    }
    for e in &entries {
        let old = slot.version.as_ref() == Some(&e.version) || e.version == target;
        if old && e.version != booted {
            esp::remove_entry(&paths.esp, e)?;
        }
    }
    slot_write::write_slot(
        disk,
        &f,
        &slot,
        &fetched.store,
        &release.store.sha256,
        o.progress,
    )?;
    gpt(&slot_name)?;
    let new = EntryName::good(&target).with_counter(Some(o.tries), Some(0));
    esp::install_uki(&paths.esp, &fetched.uki, &release.uki.sha256, &new)?;
    state::record(
        &paths.state,
        booted.as_str(),
        target.as_str(),
        UpgradeResult::Staged,
    )?;
    Ok(StageOutcome::Staged {
        from: booted,
        version: target,
        slot: slot.index,
        entry: new.file_name(),
    })
}
