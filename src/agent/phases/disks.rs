//! The disks phase: the declared OSD disks through the disk module, journaled.

use crate::agent::ladder::effective::Effective;
use crate::agent::phases::RunState;
use crate::agent::AgentEnv;

/// The disks phase: every declared OSD disk goes through the disk module (classify, policy,
/// Rook's wipe recipe); one refusal and nothing is written, and k3s is not started.
pub fn prepare(env: &AgentEnv, cfg: &Effective, st: &mut RunState) -> Result<String, String> {
    let disks = &cfg.node.storage.osd_disks;
    if disks.is_empty() {
        return Ok("no OSD disks declared".into());
    }
    let src = cfg
        .merged
        .source_of("storage.osd_disks")
        .unwrap_or("config")
        .to_string();
    let declared = cfg
        .node
        .secrets
        .as_ref()
        .map(|s| s.ceph_fsid.as_str())
        .unwrap_or("");
    let disk_env = crate::disk::DiskEnv::new(&env.dev_dir);
    let outcome = crate::disk::prepare_node(disks, declared, &env.state_dir(), &disk_env, true)
        .map_err(|e| format!("{e}\n(disks declared by {src})"))?;
    let crate::disk::NodeDisks::Applied(reports) = outcome else {
        unreachable!("prepare_node applies when asked to")
    };
    let summary: Vec<String> = reports
        .iter()
        .map(|r| format!("{}: {}", r.by_id, r.action.as_str()))
        .collect();
    // Journal device paths as declared, not as found under KATESKIT_DEV_DIR.
    st.disks = reports
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap_or_default();
            for side in ["before", "after"] {
                if let Some(d) = v.get_mut(side).and_then(|c| c.get_mut("device")) {
                    *d = serde_json::Value::String(r.by_id.clone());
                }
            }
            v
        })
        .collect();
    Ok(summary.join(", "))
}
/// The disks phase: [`prepare`], its failure a disk error.
pub(super) fn run(
    env: &AgentEnv,
    st: &mut RunState,
) -> Result<crate::agent::phases::Finished, crate::agent::AgentError> {
    let cfg = st.effective.clone().expect("discover succeeded");
    prepare(env, &cfg, st)
        .map(crate::agent::phases::Finished::Done)
        .map_err(crate::agent::AgentError::Disk)
}
