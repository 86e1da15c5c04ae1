//! The rollout protocol on the Node object, shared by `kateskit upgrade` (writes requests,
//! reads statuses) and `kateskit node watch` (the other way round). Both values are JSON
//! documents stored as annotation strings.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kube::objects;

/// Orchestrator → node: what to do next.
pub const REQUEST_ANNOTATION: &str = "upgrade.kateskit.io/request";
/// Node → orchestrator: what it is doing, and its running version.
pub const STATUS_ANNOTATION: &str = "upgrade.kateskit.io/status";
/// Set with `spec.unschedulable`: only nodes a rollout cordoned itself are uncordoned by it.
pub const CORDONED_BY_ANNOTATION: &str = "upgrade.kateskit.io/cordoned-by";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Fetch,
    Stage,
    Reboot,
    Boot,
}

impl Action {
    /// The name on the wire.
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
    pub sums_sha256: String,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    #[serde(default)]
    pub rollout: Option<String>,
    pub action: Action,
    pub state: State,
    /// The version the node runs now.
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub at: Option<String>,
}

/// The node's status annotation, if it holds a well-formed one.
pub fn status(node: &Value) -> Option<Status> {
    serde_json::from_str(objects::annotation(node, STATUS_ANNOTATION)?).ok()
}

pub fn request(node: &Value) -> Option<Request> {
    serde_json::from_str(objects::annotation(node, REQUEST_ANNOTATION)?).ok()
}

/// The request annotation as the node reads it: `Ok(None)` when absent, `Err` when it does
/// not hold a well-formed request (reported, never acted on).
pub fn request_checked(node: &Value) -> Result<Option<Request>, String> {
    let Some(text) = objects::annotation(node, REQUEST_ANNOTATION) else {
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

/// The merge patch that sets the request annotation.
pub fn request_patch(req: &Request) -> Value {
    let text = serde_json::to_string(req).expect("request serializes");
    json!({"metadata": {"annotations": {REQUEST_ANNOTATION: text}}})
}
