//! The `unconfigured` state (docs/agent.md "Unconfigured machines"): no source says what this
//! machine is. That is not a failure: the machine says so on the console and in the status,
//! with what identifies it and the ways to configure it, and k3s stays down.

use serde::{Deserialize, Serialize};

use crate::agent::ladder::fetch::{mac, Identity};
use crate::agent::ladder::merge;
use crate::agent::ladder::Ladder;
use crate::agent::AgentEnv;

/// The ways to configure a machine, in the order the banner lists them.
pub const WAYS: [&str; 4] = [
    "stamp the image: kateskit image customize IMAGE --cluster DIR --node NAME (or --config node.json, --karg kateskit.*=...)",
    "a config drive: a disk labelled KATESKIT holding kateskit.json, or a NoCloud CIDATA drive",
    "kernel arguments: kateskit.role=agent kateskit.server=https://SERVER:6443 kateskit.token=K10... (kateskit.role=server alone starts a new cluster)",
    "the network: kateskit.config_url=https://HOST/${mac}.json serves the config by MAC, UUID or serial",
];

/// What the status and the banner show for an unconfigured machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unconfigured {
    /// Why no usable config was found.
    pub reason: String,
    /// `link mac` of every physical link.
    pub macs: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// The four ways to configure it.
    pub ways: Vec<String>,
}

/// `Some` when the merged sources give no role: neither `node.role` nor a `k3s.server_url`
/// (which makes an agent). An image carrying the cluster's nodes where none has this
/// machine's MACs counts as no source.
pub fn detect(env: &AgentEnv, l: &Ladder) -> Option<Unconfigured> {
    let t = &l.merged.tree;
    let set = |p: &str| merge::get(t, p).is_some_and(|v| !v.is_null());
    if set("node.role") || set("k3s.server_url") {
        return None;
    }
    let mut reason =
        "no config source sets node.role (kateskit.role=) or k3s.server_url (kateskit.server=)"
            .to_string();
    if let Some(note) = &l.unmatched_image {
        reason = format!("{note}, and {reason}");
    }
    let id = Identity::probe(env, None);
    Some(Unconfigured {
        reason,
        macs: mac::physical(env)
            .into_iter()
            .map(|(link, m)| format!("{link} {m}"))
            .collect(),
        serial: id.serial,
        uuid: id.uuid,
        ways: WAYS.iter().map(|w| w.to_string()).collect(),
    })
}

/// Removes the k3s environment file an earlier configured boot left (k3s.service starts only
/// when it exists), so k3s stays down; true if there was one.
pub fn keep_k3s_down(env: &AgentEnv) -> Result<bool, crate::fsutil::FsError> {
    let path = env.path(crate::k3s::config::ENV_FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(crate::fsutil::FsError {
            action: "removing",
            path,
            source,
        }),
    }
}

/// The banner's lines for an unconfigured machine.
pub fn banner(u: &Unconfigured) -> String {
    let mut b =
        String::from("state:     UNCONFIGURED: this machine has no config; k3s was not started\n");
    b.push_str(&format!("reason:    {}\n", u.reason));
    let macs = if u.macs.is_empty() {
        "(no physical network link)".to_string()
    } else {
        u.macs.join(", ")
    };
    b.push_str(&format!("MACs:      {macs}\n"));
    if let Some(s) = &u.serial {
        b.push_str(&format!("serial:    {s}\n"));
    }
    if let Some(s) = &u.uuid {
        b.push_str(&format!("uuid:      {s}\n"));
    }
    b.push_str("configure it in one of four ways:\n");
    for (i, w) in u.ways.iter().enumerate() {
        b.push_str(&format!("  {}. {w}\n", i + 1));
    }
    b
}
