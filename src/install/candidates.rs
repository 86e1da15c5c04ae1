//! The disks a guided install offers: every whole disk with its size, model, serial and
//! classification, and whether [`super::choose`] would take it. The verdict is the same check
//! the non-interactive install runs, so the list never offers a disk the install then refuses
//! (nor hides why one is refused).

use std::path::{Path, PathBuf};

use super::scan::{whole_disks, DiskFacts};
use super::{choose, Chosen, InstallError, TargetRequest};
use crate::disk::{self, ClassifyOptions, Content, DiskEnv};

/// One whole disk of the machine.
#[derive(Debug)]
pub struct Candidate {
    pub facts: DiskFacts,
    /// The name install is given: a `/dev/disk/by-id/` link when there is one, else `/dev/NAME`.
    pub path: PathBuf,
    /// What is on it (`blank`, `ext4 filesystem labelled "data"`, ...), blockers included.
    pub state: String,
    /// `Err` says why install refuses it and how to allow it, where that is possible.
    pub verdict: Result<(), String>,
}

impl Candidate {
    /// Whether `input` names this disk: its kernel name, `/dev/NAME` or its stable name.
    pub fn is_named(&self, input: &str) -> bool {
        let input = input.trim();
        input == self.facts.name
            || input == format!("/dev/{}", self.facts.name)
            || Path::new(input) == self.path
    }
}

/// A by-id link to `canonical` under `dev_dir`, shown as `/dev/disk/by-id/...`; WWN and EUI
/// names last (people recognise model and serial, not those).
fn stable_name(dev_dir: &Path, canonical: &Path) -> Option<PathBuf> {
    let mut names: Vec<String> = std::fs::read_dir(dev_dir.join("disk/by-id"))
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| std::fs::canonicalize(e.path()).ok().as_deref() == Some(canonical))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort_by_key(|n| {
        (
            n.starts_with("wwn-") || n.starts_with("nvme-eui."),
            n.clone(),
        )
    });
    names
        .first()
        .map(|n| PathBuf::from("/dev/disk/by-id").join(n))
}

/// Every whole disk with its verdict for an image of `min_size` bytes. `wipe_data` is the
/// `--wipe-data` serial given on the command line: the one disk with data it allows.
pub fn candidates(env: &DiskEnv, min_size: u64, wipe_data: Option<&str>) -> Vec<Candidate> {
    whole_disks(&env.udev_data_dir)
        .into_iter()
        .map(|facts| {
            let kernel = PathBuf::from(format!("/dev/{}", facts.name));
            let local = disk::device_path(&kernel.to_string_lossy(), &env.dev_dir);
            let canonical = disk::resolve(&local).map(|t| t.canonical);
            let path = canonical
                .as_ref()
                .ok()
                .and_then(|c| stable_name(&env.dev_dir, c))
                .unwrap_or(kernel);
            let opts = ClassifyOptions {
                min_size,
                udev_data_dir: env.udev_data_dir.clone(),
                ..Default::default()
            };
            let mut holds_data = false;
            let (state, blocked) = match disk::classify_with(&local, &opts) {
                Ok(c) if c.blockers.is_empty() => {
                    holds_data = c.content != Content::Blank && c.serial.is_some();
                    (c.content.to_string(), None)
                }
                Ok(c) => {
                    let b: Vec<String> = c.blockers.iter().map(|b| b.to_string()).collect();
                    (format!("{}; {}", c.content, b.join("; ")), Some(b.join("; ")))
                }
                Err(e) => (format!("unreadable: {e}"), Some(e.to_string())),
            };
            let verdict = match blocked {
                Some(why) => Err(format!("install cannot use it: {why}")),
                None => check(&path, env, min_size, wipe_data).map(|_| ()).map_err(|why| {
                    if holds_data {
                        format!("{why}; in this session: start it again as `kateskit install --wipe-data <its serial>`")
                    } else {
                        why
                    }
                }),
            };
            Candidate {
                facts,
                path,
                state,
                verdict,
            }
        })
        .collect()
}

fn check(
    path: &Path,
    env: &DiskEnv,
    min_size: u64,
    wipe_data: Option<&str>,
) -> Result<Chosen, String> {
    choose(&TargetRequest {
        device: Some(path),
        install_disk: None,
        osd_disks: &[],
        wipe_data,
        unattended: false,
        env,
        min_size,
    })
    .map_err(|e| match e {
        InstallError::Target { reason, .. } => reason,
        other => other.to_string(),
    })
}

/// The candidate `input` picks: its number in the list (from 1) or one of its names.
pub fn pick<'a>(list: &'a [Candidate], input: &str) -> Option<&'a Candidate> {
    let input = input.trim();
    match input.parse::<usize>() {
        Ok(n) if n >= 1 => list.get(n - 1),
        _ => list.iter().find(|c| c.is_named(input)),
    }
}
