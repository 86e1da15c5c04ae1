//! The outcome of this boot, for the `action:"boot"` status: `rolled-back` when the loader fell
//! back to an older slot because a newer entry ran out of tries, `failed` when this boot's
//! health gate failed, `done` once the gate passed and the entry is committed (or the boot was
//! of a committed entry, which is not gated).

use serde_json::Value;

use super::protocol::State;
use crate::agent::health::{CheckState, Report};

/// Seconds after a passed gate by which the entry must be committed.
pub const COMMIT_GRACE_S: i64 = 120;

/// What `kateskit node status --json` says, as far as the boot report needs it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlotView {
    pub version: Option<String>,
    /// State (`good`, `trying`, `bad`) of the booted entry.
    pub booted_state: Option<String>,
    /// A newer version whose entry ran out of tries while an older one runs.
    pub rolled_back_from: Option<String>,
}

impl SlotView {
    pub fn from_status(v: &Value) -> SlotView {
        let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
        let version = s("/version");
        let booted = s("/booted_entry");
        let entries = v
            .get("entries")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let booted_state = booted.as_deref().and_then(|b| {
            entries
                .iter()
                .find(|e| e.get("name").and_then(Value::as_str) == Some(b))
                .and_then(|e| e.get("state").and_then(Value::as_str))
                .map(str::to_string)
        });
        let newer_bad = version.as_deref().and_then(|run| {
            entries
                .iter()
                .filter(|e| e.get("state").and_then(Value::as_str) == Some("bad"))
                .filter_map(|e| e.get("version").and_then(Value::as_str))
                .find(|w| crate::slots::version::compare(w, run).is_gt())
                .map(str::to_string)
        });
        SlotView {
            version,
            booted_state,
            rolled_back_from: s("/rolled_back_from").or(newer_bad),
        }
    }
}

fn failed_checks(r: &Report) -> String {
    r.checks
        .iter()
        .filter(|c| c.state == CheckState::Failed)
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The boot's outcome, or `None` while it is not known yet (the gate or the commit still to
/// come). `health` is this boot's verdict only; `now` in Unix seconds.
pub fn outcome(
    health: Option<&Report>,
    slots: Option<&SlotView>,
    now: i64,
) -> Option<(State, String)> {
    let running = slots
        .and_then(|s| s.version.clone())
        .or_else(|| health.and_then(|h| h.version.clone()))
        .unwrap_or_else(|| "an unknown version".into());
    if let Some(w) = slots.and_then(|s| s.rolled_back_from.as_deref()) {
        return Some((
            State::RolledBack,
            format!("booted {running} again: the entry of {w} ran out of tries"),
        ));
    }
    let booted_state = slots.and_then(|s| s.booted_state.as_deref());
    match health {
        Some(h) if !h.passed => Some((
            State::Failed,
            format!("health gate failed on {running}: {}", failed_checks(h)),
        )),
        Some(h) => match booted_state {
            Some("trying") => {
                let at = time::OffsetDateTime::parse(
                    &h.at,
                    &time::format_description::well_known::Rfc3339,
                )
                .map(|t| t.unix_timestamp())
                .unwrap_or(now);
                (now - at > COMMIT_GRACE_S).then(|| {
                    (
                        State::Failed,
                        format!(
                            "health gate passed on {running} but the entry is still not \
                             committed {COMMIT_GRACE_S}s later (systemctl status kateskit-commit)"
                        ),
                    )
                })
            }
            _ => Some((
                State::Done,
                format!("health gate passed on {running}; entry committed"),
            )),
        },
        None => match booted_state {
            // The gate of a counted boot has not written its verdict yet.
            Some("trying") => None,
            _ => Some((
                State::Done,
                format!("booted {running}, a committed entry (not gated)"),
            )),
        },
    }
}
