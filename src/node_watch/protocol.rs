//! The rollout protocol strings on the Node object (docs/upgrades.md, "Rolling a release
//! across the cluster"): the orchestrator's request and the node's status, both JSON documents
//! stored as annotation strings and set with a JSON merge patch.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Orchestrator → node.
pub const REQUEST_ANNOTATION: &str = "upgrade.kateskit.io/request";
/// Node → orchestrator.
pub const STATUS_ANNOTATION: &str = "upgrade.kateskit.io/status";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Fetch,
    Stage,
    Reboot,
    Boot,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Fetch => "fetch",
            Action::Stage => "stage",
            Action::Reboot => "reboot",
            Action::Boot => "boot",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Running,
    Done,
    Failed,
    RolledBack,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub rollout: String,
    pub version: String,
    pub source: String,
    #[serde(default)]
    pub sums_sha256: Option<String>,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub rollout: Option<String>,
    pub action: Action,
    pub state: State,
    /// The version this node runs now.
    pub version: Option<String>,
    /// The version the rollout brings.
    pub target: Option<String>,
    pub message: String,
    pub at: String,
}

/// The request annotation of a Node object: `Ok(None)` when absent, `Err` when it does not
/// hold a request (reported, never acted on).
pub fn request(node: &Value) -> Result<Option<Request>, String> {
    let Some(text) = node
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(REQUEST_ANNOTATION))
        .and_then(Value::as_str)
    else {
        return Ok(None);
    };
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| format!("annotation {REQUEST_ANNOTATION} is not a rollout request: {e}"))
}

/// The merge patch that sets the status annotation.
pub fn status_patch(s: &Status) -> Value {
    let text = serde_json::to_string(s).expect("a status serializes");
    json!({"metadata": {"annotations": {STATUS_ANNOTATION: text}}})
}
