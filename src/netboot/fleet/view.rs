//! The fleet as people read it: one row per machine (the status page, `GET /v1/nodes` and
//! `kateskit netboot status` show the same rows) and its timeline. No secret is in the state,
//! so none can be in a view.

use serde::{Deserialize, Serialize};

use super::approve::{Approval, Target};
use super::state::{Event, FleetState};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeView {
    pub mac: String,
    pub node: Option<String>,
    pub role: Option<String>,
    pub state: String,
    pub ip: Option<String>,
    /// The agent phase the last status POST ended in.
    pub phase: Option<String>,
    /// Unix seconds.
    pub last_seen: Option<u64>,
    pub failure: Option<String>,
    /// What an approval in the state directory makes it (`node a1`, `new agent`).
    pub approved_as: Option<String>,
    pub timeline: Vec<Event>,
}

/// One row per machine, MAC order.
pub fn nodes(st: &FleetState, approvals: &[Approval]) -> Vec<NodeView> {
    st.machines
        .values()
        .map(|m| NodeView {
            mac: m.mac.clone(),
            node: m.node.clone(),
            role: m.role.clone(),
            state: m.state.clone(),
            ip: m.ip.clone(),
            phase: m.phase.clone(),
            last_seen: m.last_seen,
            failure: m.failure.clone(),
            approved_as: approvals
                .iter()
                .find(|a| a.mac == m.mac)
                .map(|a| match &a.target {
                    Target::Node(n) => format!("node {n}"),
                    Target::As(r) => format!("new {}", r.as_str()),
                }),
            timeline: m.events.clone(),
        })
        .chain(
            // Approved before the server saw them.
            approvals
                .iter()
                .filter(|a| !st.machines.contains_key(&a.mac))
                .map(|a| NodeView {
                    mac: a.mac.clone(),
                    node: match &a.target {
                        Target::Node(n) => Some(n.clone()),
                        Target::As(_) => None,
                    },
                    role: None,
                    state: "approved".into(),
                    ip: None,
                    phase: None,
                    last_seen: None,
                    failure: None,
                    approved_as: Some(match &a.target {
                        Target::Node(n) => format!("node {n}"),
                        Target::As(r) => format!("new {}", r.as_str()),
                    }),
                    timeline: Vec::new(),
                }),
        )
        .collect()
}

/// `2026-12-01 16:35:25Z` for Unix seconds (UTC, proleptic Gregorian).
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn or_dash(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("-")
}

/// The table `kateskit netboot status` prints.
pub fn table(rows: &[NodeView]) -> String {
    let mut out = format!(
        "{:<17}  {:<12}  {:<6}  {:<12}  {:<15}  {:<10}  {:<20}  {}\n",
        "MAC", "NODE", "ROLE", "STATE", "IP", "PHASE", "LAST SEEN", "FAILURE"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<17}  {:<12}  {:<6}  {:<12}  {:<15}  {:<10}  {:<20}  {}\n",
            r.mac,
            or_dash(&r.node),
            or_dash(&r.role),
            r.state,
            or_dash(&r.ip),
            or_dash(&r.phase),
            r.last_seen.map(utc).unwrap_or_else(|| "-".into()),
            or_dash(&r.failure),
        ));
    }
    out
}

/// One machine's timeline, one event a line.
pub fn timeline(r: &NodeView) -> String {
    let mut out = format!(
        "{} ({}, {})\n",
        r.mac,
        r.node.as_deref().unwrap_or("no node"),
        r.state
    );
    for e in &r.timeline {
        out.push_str(&format!(
            "  {}  {:<12}  {}{}\n",
            utc(e.at),
            e.kind.name(),
            if e.ok { "" } else { "FAILED: " },
            e.detail
        ));
    }
    if r.timeline.is_empty() {
        out.push_str("  (no events yet)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00Z");
        assert_eq!(utc(1_796_143_725), "2026-12-01 16:48:45Z");
    }
}
