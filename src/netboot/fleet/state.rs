//! What the fleet knows per MAC, persisted as `fleet.json` in the state directory: the node it
//! is (if any), where it is in its boot, and a bounded timeline of events. Nothing here is a
//! secret: configs are rendered on request and status credentials are derived (`credential`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::FleetError;
use crate::fsutil;

/// The state file under the state directory.
pub const STATE_FILE: &str = "fleet.json";
/// Events kept per MAC; older ones are dropped first.
pub const MAX_EVENTS: usize = 64;
/// Longest event detail or failure text kept.
pub const MAX_DETAIL: usize = 300;
/// Machines kept that no node or approval names: a segment flooded with made-up MACs cannot
/// grow `fleet.json` without bound. The one seen longest ago goes first; named machines stay.
pub const MAX_UNNAMED: usize = 1024;

/// A stage of a machine's boot, or something the server did or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    Dhcp,
    Tftp,
    Script,
    Kernel,
    Initrd,
    /// The per-node config was served.
    Config,
    /// The config was held: unknown machine, or a server config already served.
    Pending,
    /// An unknown machine under `--unknown ignore`.
    Ignored,
    /// One agent phase, from a status POST.
    Phase,
    Unconfigured,
    Joined,
    Failed,
    /// A request the server refused (bad credential).
    Refused,
}

impl EventKind {
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Dhcp => "dhcp",
            EventKind::Tftp => "tftp",
            EventKind::Script => "script",
            EventKind::Kernel => "kernel",
            EventKind::Initrd => "initrd",
            EventKind::Config => "config",
            EventKind::Pending => "pending",
            EventKind::Ignored => "ignored",
            EventKind::Phase => "phase",
            EventKind::Unconfigured => "unconfigured",
            EventKind::Joined => "joined",
            EventKind::Failed => "failed",
            EventKind::Refused => "refused",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unix seconds.
    pub at: u64,
    pub kind: EventKind,
    pub ok: bool,
    pub detail: String,
}

/// One machine, by MAC.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Machine {
    pub mac: String,
    /// The cluster.toml node it is (known or approved), else none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// `known`, `pending`, `ignored`, `configured`, `unconfigured`, `joined`, `failed`.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<u64>,
    /// The agent phase the last status POST ended in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Why the last run failed, as the agent said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    #[serde(default)]
    pub events: Vec<Event>,
}

impl Machine {
    /// Appends an event, dropping the oldest beyond [`MAX_EVENTS`].
    pub fn push(&mut self, at: u64, kind: EventKind, ok: bool, detail: &str) {
        self.events.push(Event {
            at,
            kind,
            ok,
            detail: cut(detail),
        });
        let over = self.events.len().saturating_sub(MAX_EVENTS);
        self.events.drain(..over);
        self.last_seen = Some(at);
    }
}

/// One line, at most [`MAX_DETAIL`] characters, without control characters.
pub fn cut(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_DETAIL)
        .collect()
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FleetState {
    pub version: u32,
    pub machines: BTreeMap<String, Machine>,
    /// Approvals (by id) and known server MACs (`known:MAC`) whose one-shot config was served.
    #[serde(default)]
    pub consumed: BTreeSet<String>,
}

impl FleetState {
    /// Reads `fleet.json`; an absent file is an empty fleet.
    pub fn load(state_dir: &Path) -> Result<FleetState, FleetError> {
        let path = state_dir.join(STATE_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(FleetState {
                    version: 1,
                    ..FleetState::default()
                })
            }
            Err(source) => {
                return Err(FleetError::Io(fsutil::FsError {
                    action: "reading",
                    path,
                    source,
                }))
            }
        };
        serde_json::from_str(&text).map_err(|e| FleetError::Parse {
            path,
            reason: format!("{e}; move the file away to start with an empty fleet"),
        })
    }

    /// Writes `fleet.json` atomically, 0600.
    pub fn save(&self, state_dir: &Path) -> Result<(), FleetError> {
        let mut text = serde_json::to_vec_pretty(self).expect("fleet state serializes");
        text.push(b'\n');
        fsutil::write_atomic(&state_dir.join(STATE_FILE), &text, 0o600)?;
        Ok(())
    }

    pub fn machine(&mut self, mac: &str) -> &mut Machine {
        if !self.machines.contains_key(mac) {
            self.make_room();
        }
        self.machines
            .entry(mac.to_string())
            .or_insert_with(|| Machine {
                mac: mac.to_string(),
                state: "pending".into(),
                ..Machine::default()
            })
    }
}

impl FleetState {
    /// Drops the unnamed machine seen longest ago once [`MAX_UNNAMED`] are kept.
    fn make_room(&mut self) {
        let unnamed = || self.machines.values().filter(|m| m.node.is_none());
        if unnamed().count() < MAX_UNNAMED {
            return;
        }
        let oldest = unnamed()
            .min_by_key(|m| m.last_seen.unwrap_or(0))
            .map(|m| m.mac.clone());
        if let Some(mac) = oldest {
            self.machines.remove(&mac);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeline_is_bounded_and_one_line() {
        let mut m = Machine::default();
        for i in 0..(MAX_EVENTS as u64 + 10) {
            m.push(i, EventKind::Dhcp, true, "a\nb");
        }
        assert_eq!(m.events.len(), MAX_EVENTS);
        assert_eq!(m.events[0].at, 10);
        assert_eq!(m.events[0].detail, "a b");
        assert_eq!(cut(&"x".repeat(1000)).len(), MAX_DETAIL);
    }

    #[test]
    fn unnamed_machines_are_capped_and_named_ones_kept() {
        let mut s = FleetState::default();
        let mac = |i: usize| format!("02:00:00:00:{:02x}:{:02x}", i >> 8, i & 0xff);
        s.machine("52:54:00:00:00:01").node = Some("s1".into());
        for i in 0..MAX_UNNAMED + 5 {
            s.machine(&mac(i))
                .push(i as u64 + 1, EventKind::Dhcp, true, "");
        }
        assert_eq!(s.machines.len(), MAX_UNNAMED + 1);
        assert!(s.machines.contains_key("52:54:00:00:00:01"));
        // The five seen first went; the newest stayed.
        assert!(!s.machines.contains_key(&mac(4)));
        assert!(s.machines.contains_key(&mac(5)));
        assert!(s.machines.contains_key(&mac(MAX_UNNAMED + 4)));
    }

    #[test]
    fn state_round_trips_atomically() {
        let d = tempfile::tempdir().unwrap();
        assert!(FleetState::load(d.path()).unwrap().machines.is_empty());
        let mut s = FleetState::load(d.path()).unwrap();
        s.machine("52:54:00:00:00:01")
            .push(5, EventKind::Config, true, "served");
        s.save(d.path()).unwrap();
        assert_eq!(FleetState::load(d.path()).unwrap(), s);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.path().join(STATE_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(d.path().join(STATE_FILE), "{").unwrap();
        let e = FleetState::load(d.path()).unwrap_err().to_string();
        assert!(
            e.contains("fleet.json") && e.contains("move the file away"),
            "{e}"
        );
    }
}
