//! `kateskit node watch`: the node's side of a rolling upgrade. It polls its own Node object
//! with the node's kubeconfig, runs each step the orchestrator asks for in
//! `upgrade.kateskit.io/request` once per rollout (`fetch` and `stage` as a child `kateskit
//! node stage`, `reboot` through systemctl), and reports each step, then every boot's outcome,
//! in `upgrade.kateskit.io/status` (docs/upgrades.md, "Health gate and rollback").

pub mod boot;
pub mod protocol;
pub mod state;
pub mod steps;

use std::path::PathBuf;
use std::time::Duration;

use crate::agent::health::{self, facts};
use crate::agent::{kubeapi, AgentEnv};
use protocol::{Action, Request, State, Status};
use state::WatchState;

/// Longest single API request.
const HTTP: Duration = Duration::from_secs(10);
/// Longest `kateskit node status --json`.
const STATUS_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct Options {
    pub state_dir: PathBuf,
    pub interval: Duration,
    pub efivars: PathBuf,
}

/// The one fatal error: the watcher's own record cannot be read or written.
pub type WatchError = state::StateError;

/// Where the node is talked to, found afresh on every poll (k3s may rewrite its kubeconfig).
struct Api {
    server: String,
    client: reqwest::blocking::Client,
    name: String,
}

fn api(env: &AgentEnv) -> Result<Api, String> {
    let f = facts::load(env).map_err(|e| e.to_string())?;
    let (access, client) = kubeapi::load(env, kubeapi::kubeconfig_for(f.role), HTTP)?;
    Ok(Api {
        server: access.server,
        client,
        name: f.name,
    })
}

/// Polls forever; returns only when the watcher's record fails.
pub fn watch(env: &AgentEnv, opts: &Options) -> Result<(), WatchError> {
    let mut st = WatchState::load(&opts.state_dir)?;
    if let Some((rollout, action)) = st.running.clone().filter(|(_, a)| *a != Action::Reboot) {
        st.running = None;
        st.unpublished = Some(status(
            opts,
            Some(&rollout),
            action,
            State::Failed,
            None,
            format!("{} was interrupted (the watcher stopped while it ran); it is not repeated: start a new rollout to retry", action.name()),
        ));
        st.save(&opts.state_dir)?;
    }
    let mut last_err = String::new();
    loop {
        match tick(env, opts, &mut st) {
            Ok(()) => last_err.clear(),
            Err(Fatal::State(e)) => return Err(e),
            Err(Fatal::Retry(e)) if e != last_err => {
                eprintln!(
                    "kateskit node watch: {e} (retrying every {}s)",
                    opts.interval.as_secs_f32()
                );
                last_err = e;
            }
            Err(Fatal::Retry(_)) => {}
        }
        std::thread::sleep(opts.interval);
    }
}

enum Fatal {
    State(WatchError),
    Retry(String),
}

impl From<String> for Fatal {
    fn from(e: String) -> Fatal {
        Fatal::Retry(e)
    }
}

impl From<WatchError> for Fatal {
    fn from(e: WatchError) -> Fatal {
        Fatal::State(e)
    }
}

fn running_version(opts: &Options) -> Option<String> {
    let info = crate::slots::efivars::read(&opts.efivars).ok()?;
    Some(info.entry().ok()?.version.to_string())
}

fn status(
    opts: &Options,
    rollout: Option<&str>,
    action: Action,
    state: State,
    target: Option<&str>,
    message: String,
) -> Status {
    Status {
        rollout: rollout.map(str::to_string),
        action,
        state,
        version: running_version(opts),
        target: target.map(str::to_string),
        message: crate::redact::text(&message),
        at: health::now_rfc3339(),
    }
}

/// Records `s` as unpublished, then patches it onto the Node; it stays recorded until a patch
/// succeeds.
fn publish(api: &Api, opts: &Options, st: &mut WatchState, s: Status) -> Result<(), Fatal> {
    eprintln!(
        "kateskit node watch: {} {:?}: {}",
        s.action.name(),
        s.state,
        s.message
    );
    st.unpublished = Some(s);
    st.save(&opts.state_dir)?;
    flush(api, opts, st)
}

fn flush(api: &Api, opts: &Options, st: &mut WatchState) -> Result<(), Fatal> {
    let Some(s) = st.unpublished.clone() else {
        return Ok(());
    };
    kubeapi::patch_node(
        &api.client,
        &api.server,
        &api.name,
        &protocol::status_patch(&s),
    )?;
    st.unpublished = None;
    st.save(&opts.state_dir)?;
    Ok(())
}

fn tick(env: &AgentEnv, opts: &Options, st: &mut WatchState) -> Result<(), Fatal> {
    let api = api(env)?;
    flush(&api, opts, st)?;
    let node = kubeapi::get_node(&api.client, &api.server, &api.name)?.ok_or_else(|| {
        format!(
            "node {} is not registered in the API ({})",
            api.name, api.server
        )
    })?;
    let req = protocol::request(&node)?;
    report_boot(env, &api, opts, st, req.as_ref())?;
    if let Some(req) = req {
        step(env, &api, opts, st, &req)?;
    }
    Ok(())
}

fn report_boot(
    env: &AgentEnv,
    api: &Api,
    opts: &Options,
    st: &mut WatchState,
    req: Option<&Request>,
) -> Result<(), Fatal> {
    let Some(boot_id) = health::boot_id(env) else {
        return Ok(());
    };
    if st.boot_reported.as_deref() == Some(boot_id.as_str()) {
        return Ok(());
    }
    let verdict = health::load(&opts.state_dir).filter(|h| h.boot_id.as_deref() == Some(&boot_id));
    let slots = steps::run_node(&["status".into(), "--json".into()], STATUS_TIMEOUT)
        .ok()
        .and_then(|out| serde_json::from_str(&out).ok())
        .map(|v| boot::SlotView::from_status(&v));
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let Some((state, message)) = boot::outcome(verdict.as_ref(), slots.as_ref(), now) else {
        return Ok(());
    };
    let mut s = status(
        opts,
        req.map(|r| r.rollout.as_str()),
        Action::Boot,
        state,
        req.map(|r| r.version.as_str()),
        message,
    );
    if let Some(v) = slots.and_then(|s| s.version) {
        s.version = Some(v);
    }
    st.boot_reported = Some(boot_id);
    st.running = None;
    publish(api, opts, st, s)
}

fn step(
    env: &AgentEnv,
    api: &Api,
    opts: &Options,
    st: &mut WatchState,
    req: &Request,
) -> Result<(), Fatal> {
    if req.action == Action::Boot || st.started(&req.rollout, req.action) {
        return Ok(());
    }
    st.start(&req.rollout, req.action);
    st.running = Some((req.rollout.clone(), req.action));
    st.save(&opts.state_dir)?;
    let mk = |state, msg: String| {
        status(
            opts,
            Some(&req.rollout),
            req.action,
            state,
            Some(&req.version),
            msg,
        )
    };
    if req.action == Action::Reboot {
        if running_version(opts).as_deref() == Some(req.version.as_str()) {
            st.running = None;
            let s = mk(
                State::Done,
                format!("already running {}: no reboot needed", req.version),
            );
            return publish(api, opts, st, s);
        }
        publish(
            api,
            opts,
            st,
            mk(State::Running, format!("rebooting to boot {}", req.version)),
        )?;
        if let Err(e) = steps::reboot(env) {
            st.running = None;
            publish(
                api,
                opts,
                st,
                mk(State::Failed, format!("systemctl reboot: {e}")),
            )?;
        }
        return Ok(());
    }
    let what = if req.action == Action::Fetch {
        "downloading and verifying"
    } else {
        "staging"
    };
    publish(
        api,
        opts,
        st,
        mk(
            State::Running,
            format!("{what} {} from {}", req.version, req.source),
        ),
    )?;
    let result = steps::run_node(
        &steps::stage_args(req, &opts.state_dir),
        steps::STEP_TIMEOUT,
    );
    st.running = None;
    let s = match result {
        Ok(out) => mk(
            State::Done,
            if out.is_empty() {
                format!("{} {} done", req.action.name(), req.version)
            } else {
                out
            },
        ),
        Err(e) => mk(State::Failed, e),
    };
    publish(api, opts, st, s)
}
