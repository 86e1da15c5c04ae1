//! Waiting for approval: a config_url that answers `202 Accepted` knows the machine but holds
//! its config (`kateskit netboot serve --unknown pending`). Meanwhile the machine is in the
//! `unconfigured` state with the server's reason (banner, `status.json`, k3s kept down, nothing
//! written but the report), and the agent polls with backoff for at most
//! `agent.pending_timeout_s`; once the server answers 200 the same run goes on. The body is
//! kept for the boot's join run (`ladder::url_cache`).

use std::time::{Duration, Instant};

use crate::agent::ladder::fetch::{self, mac, FetchError, FetchPlan, Identity};
use crate::agent::ladder::unconfigured::{self, Unconfigured};
use crate::agent::ladder::{merge, url, url_cache, Ladder};
use crate::agent::phases::{report, Journal, Outcome, Phase, PhaseRecord, RunState};
use crate::agent::{AgentEnv, AgentError};

/// Longest pause between two polls.
const MAX_PAUSE_MS: u64 = 5_000;

fn state(env: &AgentEnv, reason: String) -> Unconfigured {
    let id = Identity::probe(env, None);
    Unconfigured {
        reason,
        macs: mac::physical(env)
            .into_iter()
            .map(|(link, m)| format!("{link} {m}"))
            .collect(),
        serial: id.serial,
        uuid: id.uuid,
        ways: unconfigured::WAYS.iter().map(|w| w.to_string()).collect(),
    }
}

/// Shows the pending state: status.json and the banner, with every later phase skipped.
fn publish(env: &AgentEnv, st: &mut RunState, detail: &str) -> Result<(), AgentError> {
    let mut j = Journal::new();
    for p in j.phases.iter_mut() {
        *p = PhaseRecord {
            name: p.name,
            outcome: if p.name == Phase::Discover {
                Outcome::Done
            } else {
                Outcome::Skipped
            },
            detail: Some(if p.name == Phase::Discover {
                detail.to_string()
            } else {
                "this machine is unconfigured".into()
            }),
        };
    }
    report::write(env, &j, st)
}

/// Fetches config_url, waiting while it answers 202. `Ok(Some(_))`: still pending when the
/// bound ran out (the run ends unconfigured); `Ok(None)`: the body was merged.
pub(super) fn fetch(
    env: &AgentEnv,
    plan: &FetchPlan,
    l: &mut Ladder,
    st: &mut RunState,
) -> Result<Option<Unconfigured>, AgentError> {
    let limit = merge::get(&l.merged.tree, "agent.pending_timeout_s")
        .and_then(|v| v.as_u64())
        .unwrap_or(3600);
    // The join run of a boot merges what this boot's `--before-k3s` run fetched.
    if !env.defer_join {
        if let Some(body) = url_cache::load(env, plan) {
            tracing::info!(
                "config_url {}: using the body this boot's first run fetched",
                crate::redact::url(&plan.url)
            );
            url::apply(plan, &body, l).map_err(AgentError::Config)?;
            return Ok(None);
        }
    }
    let t0 = Instant::now();
    let mut shown = None::<String>;
    let mut attempt = 0u64;
    loop {
        let reason = match fetch::fetch(plan) {
            Ok(body) => {
                st.unconfigured = None;
                url::apply(plan, &body, l).map_err(AgentError::Config)?;
                if let Err(e) = url_cache::save(env, plan, &body) {
                    l.warnings
                        .push(format!("keeping the config_url body for this boot: {e}"));
                }
                return Ok(None);
            }
            Err(FetchError::Pending { reason, .. }) => reason,
            Err(e) => return Err(AgentError::Config(e.to_string())),
        };
        let u = state(
            env,
            format!(
                "{reason}: config_url {} answered 202 Accepted; waiting up to {limit} s for the \
                 server to release the config (kateskit netboot approve MAC ...); nothing is \
                 written to this machine's disks meanwhile",
                crate::redact::url(&plan.url)
            ),
        );
        let waited = t0.elapsed();
        if waited >= Duration::from_secs(limit) {
            return Ok(Some(u));
        }
        if shown.as_deref() != Some(u.reason.as_str()) {
            unconfigured::keep_k3s_down(env)?;
            shown = Some(u.reason.clone());
            st.unconfigured = Some(u.clone());
            st.ladder = Some(l.clone());
            publish(env, st, &format!("unconfigured: {}", u.reason))?;
            st.unconfigured = None;
        }
        attempt += 1;
        let pause = fetch::backoff_ms(attempt.min(10)).min(MAX_PAUSE_MS);
        let left = Duration::from_secs(limit).saturating_sub(waited);
        tracing::info!("config_url pending approval; polling again in {pause} ms");
        std::thread::sleep(Duration::from_millis(pause).min(left));
    }
}
