//! The rollout request annotation (`upgrade.kateskit.io/request`) as the watcher reads it.

use serde_json::Value;

/// (action, version) of a request annotation, or what is wrong with it.
pub(super) fn parse(req: &Value) -> Result<(&'static str, String), String> {
    let s = |k: &str| {
        req.get(k)
            .and_then(Value::as_str)
            .ok_or(format!("`{k}` must be a string"))
    };
    s("rollout")?;
    s("source")?;
    let sums = s("sums_sha256")?;
    if sums.len() != 64 || !sums.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("`sums_sha256` must be 64 hex digits".into());
    }
    let version = s("version")?;
    let ok = (1..=64).contains(&version.len())
        && version.starts_with(|c: char| c.is_ascii_alphanumeric())
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".~^-".contains(c));
    if !ok {
        return Err(format!("version {version:?} is not a valid VERSION"));
    }
    let action = match s("action")? {
        "fetch" => "fetch",
        "stage" => "stage",
        "reboot" => "reboot",
        other => return Err(format!("unknown action {other:?}")),
    };
    Ok((action, version.into()))
}

/// What makes a request new to the watcher: its rollout, action and version (so a resumed
/// orchestrator that writes the same request again, however serialised, repeats nothing);
/// the raw text when it does not parse.
pub(super) fn key(raw: &str) -> String {
    match serde_json::from_str::<Value>(raw) {
        Ok(v) => format!("{}|{}|{}", v["rollout"], v["action"], v["version"]),
        Err(_) => raw.to_string(),
    }
}
