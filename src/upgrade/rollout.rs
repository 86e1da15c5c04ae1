//! The rollout as a whole: source, lock and journal, preflight, the plan (or only the plan, for
//! `--dry-run`), pre-stage of every node, then the batches, stopping at the first failure.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use super::journal::{self, Journal, NodeRecord, Step};
use super::plan::{self, Plan};
use super::preflight;
use super::protocol::Action;
use super::report::{base_report, finish, Outcome, Report};
use super::source;
use super::step::{run_node, Ctx};
use super::{Options, Progress, UpgradeError, FETCH_PARALLEL};
use crate::kube::{Access, Client};

pub fn run(opts: &Options, progress: &dyn Progress) -> Result<Report, UpgradeError> {
    // The release is checked before the API is even contacted.
    let source = source::open(&opts.source)?;
    let access = Access::from_cluster_dir(&opts.cluster_dir, opts.server.as_deref())?;
    let client = Client::new(&access)?;

    let (jf, existing) = if opts.dry_run {
        (None, journal::peek(&opts.cluster_dir)?)
    } else {
        let jf = journal::lock(&opts.cluster_dir)?;
        let existing = jf.journal.lock().expect("journal lock").clone();
        (Some(jf), existing)
    };
    let same = |j: &Journal| j.version == source.version && j.sums_sha256 == source.sums_sha256;
    let resume = existing
        .as_ref()
        .filter(|j| j.outcome != journal::Outcome::Done && same(j))
        .cloned();
    let mut abandoned = Vec::new();
    if let Some(j) = existing.as_ref() {
        if j.outcome != journal::Outcome::Done && !same(j) {
            if !opts.abandon {
                return Err(UpgradeError::Unfinished {
                    rollout: j.rollout.clone(),
                    version: j.version.clone(),
                    journal: journal::dir(&opts.cluster_dir).join("journal.json"),
                    new: source.version.clone(),
                });
            }
            abandoned.push(j.rollout.clone());
            abandoned.extend(j.abandoned.iter().cloned());
            abandoned.extend(j.earlier.iter().cloned());
        }
    }
    let in_flight: BTreeSet<String> = resume
        .iter()
        .flat_map(|j| j.nodes.iter())
        .filter(|(_, r)| r.step.in_flight() || r.step == Step::Failed)
        .map(|(n, _)| n.clone())
        .collect();
    let rebooting: BTreeSet<String> = resume
        .iter()
        .flat_map(|j| j.nodes.iter())
        .filter(|(_, r)| matches!(r.step, Step::Rebooting | Step::Rebooted))
        .map(|(n, _)| n.clone())
        .collect();
    let plan = preflight::run(
        &client,
        &preflight::Input {
            target: &source.version,
            only: opts.nodes.as_deref(),
            concurrency: opts.concurrency,
            force: opts.force,
            in_flight: &in_flight,
            rebooting: &rebooting,
        },
    )?;
    let mut report = base_report(&plan, &source);
    if opts.dry_run {
        report.outcome = Outcome::Planned;
        report.message = if plan.batches.is_empty() {
            format!(
                "nothing to do: every target already runs {}",
                source.version
            )
        } else {
            format!(
                "dry run: {} node(s) would be upgraded to {}; nothing was changed",
                plan.todo().count(),
                source.version
            )
        };
        if let Some(j) = &resume {
            report.message.push_str(&format!(
                "; rollout {} would be resumed from {}",
                j.rollout,
                journal::dir(&opts.cluster_dir)
                    .join("journal.json")
                    .display()
            ));
        }
        return Ok(report);
    }
    let jf = jf.expect("locked when not a dry run");
    if plan.batches.is_empty() {
        if resume.is_some() {
            jf.update(|j| j.outcome = journal::Outcome::Done)?;
        }
        report.outcome = Outcome::Noop;
        report.message = format!("already running {}: nothing to do", source.version);
        return Ok(report);
    }

    let journal_path = jf.path().display().to_string();
    let rollout = match &resume {
        Some(j) if j.outcome == journal::Outcome::Failed => {
            // A node's watcher runs each step once per rollout id: retrying after a failure
            // takes a new id, and nodes the earlier attempts cordoned stay this rollout's.
            let id = new_id();
            progress.note(&format!(
                "resuming rollout {} after its failure, as {id} ({journal_path})",
                j.rollout
            ));
            jf.update(|j| {
                let old = std::mem::replace(&mut j.rollout, id.clone());
                j.earlier.push(old);
            })?;
            id
        }
        Some(j) => {
            progress.note(&format!("resuming rollout {} ({journal_path})", j.rollout));
            j.rollout.clone()
        }
        None => {
            if existing.is_some() {
                jf.archive()?;
            }
            let id = new_id();
            jf.replace(Journal {
                rollout: id.clone(),
                version: source.version.clone(),
                sums_sha256: source.sums_sha256.clone(),
                source: source.location.clone(),
                started_at: super::now_rfc3339(),
                outcome: journal::Outcome::Running,
                abandoned,
                earlier: Vec::new(),
                nodes: BTreeMap::new(),
                records: Vec::new(),
            })?;
            id
        }
    };
    report.rollout = Some(rollout.clone());
    report.journal = Some(journal_path);
    jf.update(|j| {
        j.outcome = journal::Outcome::Running;
        for name in plan.todo() {
            let info = &plan.nodes[name];
            j.nodes
                .entry(name.to_string())
                .or_insert_with(|| NodeRecord {
                    role: info.role,
                    from: info.version.clone(),
                    step: Step::Pending,
                    boot_id_before: None,
                    message: None,
                    seconds: 0.0,
                });
        }
    })?;
    let owned = jf.update(|j| {
        let mut o = j.abandoned.clone();
        o.extend(j.earlier.iter().cloned());
        o.push(j.rollout.clone());
        o
    })?;
    let ctx = Ctx {
        client: &client,
        journal: &jf,
        source: &source,
        rollout,
        owned,
        opts,
        progress,
    };
    let failure = prestage(&ctx, &plan)
        .err()
        .or_else(|| batches(&ctx, &plan).err());
    finish(&ctx, &mut report, failure)?;
    Ok(report)
}

/// Every node fetches and verifies the release before any is cordoned.
fn prestage(ctx: &Ctx, plan: &Plan) -> Result<(), (String, String)> {
    let want: Vec<&str> = plan
        .todo()
        .filter(|n| step_of(ctx, n) < Step::Fetched || step_of(ctx, n) == Step::Failed)
        .collect();
    let failure: Mutex<Option<(String, String)>> = Mutex::new(None);
    for chunk in want.chunks(FETCH_PARALLEL) {
        std::thread::scope(|s| {
            for &node in chunk {
                let failure = &failure;
                s.spawn(move || {
                    ctx.progress.node(node, "fetch");
                    let r = ctx
                        .request(node, Action::Fetch)
                        .map_err(|e| e.to_string())
                        .and_then(|()| {
                            ctx.wait_action(node, Action::Fetch, ctx.opts.reboot_timeout)
                        });
                    let r = match r {
                        Ok(()) => ctx
                            .journal
                            .step(node, Step::Fetched, None)
                            .map_err(|e| e.to_string()),
                        Err(m) => {
                            let m = format!("pre-stage fetch on {node} failed: {m}");
                            let _ = ctx.journal.step(node, Step::Failed, Some(m.clone()));
                            Err(m)
                        }
                    };
                    match r {
                        Ok(()) => ctx.progress.node(node, "fetched"),
                        Err(m) => {
                            ctx.progress.node(node, "failed");
                            failure
                                .lock()
                                .expect("lock")
                                .get_or_insert((node.to_string(), m));
                        }
                    }
                });
            }
        });
        if let Some(f) = failure.lock().expect("lock").take() {
            return Err(f);
        }
    }
    Ok(())
}

fn batches(ctx: &Ctx, plan: &Plan) -> Result<(), (String, String)> {
    for batch in &plan.batches {
        let batch: Vec<&str> = batch
            .iter()
            .map(String::as_str)
            .filter(|n| step_of(ctx, n) != Step::Done)
            .collect();
        if batch.is_empty() {
            continue;
        }
        // Quorum is judged again right before each server goes down.
        if !ctx.opts.force {
            let nodes = preflight::list_nodes(ctx.client)
                .map_err(|e| (batch[0].to_string(), e.to_string()))?;
            for &n in &batch {
                if step_of(ctx, n) < Step::Rebooting {
                    if let Some(why) = plan::server_down_refusal(&nodes, n) {
                        return Err((
                            n.to_string(),
                            format!("{why}; the rollout stopped before touching {n}"),
                        ));
                    }
                }
            }
        }
        let failure: Mutex<Option<(String, String)>> = Mutex::new(None);
        std::thread::scope(|s| {
            for &node in &batch {
                let failure = &failure;
                s.spawn(move || {
                    if let Err(f) = run_node(ctx, node) {
                        ctx.progress.node(node, "failed");
                        failure
                            .lock()
                            .expect("lock")
                            .get_or_insert((node.to_string(), f.message));
                    }
                });
            }
        });
        if let Some(f) = failure.into_inner().expect("lock") {
            return Err(f);
        }
    }
    Ok(())
}

fn step_of(ctx: &Ctx, node: &str) -> Step {
    ctx.journal
        .journal
        .lock()
        .expect("journal lock")
        .as_ref()
        .and_then(|j| j.nodes.get(node).map(|r| r.step))
        .unwrap_or(Step::Pending)
}

/// A rollout id: the start time and a random suffix (unique per cluster directory in practice).
fn new_id() -> String {
    format!(
        "r{}-{:04x}",
        time::OffsetDateTime::now_utc().unix_timestamp(),
        rand::random::<u16>()
    )
}
