//! `POST /v1/status/MAC`: the agent's `status.json`, authenticated by the MAC's credential,
//! entered into the timeline as one event per phase that ran, then `joined` or the failure.

use serde_json::Value;

use super::state::EventKind;
use super::{now, parse_mac, Fleet, FleetError};

/// Why a status POST was not taken.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("no or wrong credential for {0}")]
    Unauthorized(String),
    #[error("the body is not a kateskit status JSON: {0}")]
    Body(String),
    #[error(transparent)]
    Fleet(#[from] FleetError),
}

/// The credential in an `Authorization` header: `Basic base64(user:cred)` or `Bearer cred`.
pub fn presented(header: Option<&str>) -> Option<String> {
    let h = header?.trim();
    if let Some(b) = h.strip_prefix("Bearer ") {
        return Some(b.trim().to_string());
    }
    let b = h.strip_prefix("Basic ")?;
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    Some(s.split_once(':')?.1.to_string())
}

impl Fleet {
    /// Takes a status POST; an unauthenticated one is refused and recorded as `refused`.
    pub fn status_post(
        &self,
        mac: &str,
        authorization: Option<&str>,
        body: &[u8],
        ip: Option<std::net::IpAddr>,
    ) -> Result<(), StatusError> {
        let mac = parse_mac(mac)?;
        let ok = presented(authorization).is_some_and(|c| self.key.verify(&mac, &c));
        let t = now();
        let mut st = self.lock();
        if !ok {
            let m = st.machine(&mac);
            let from = ip.map(|i| format!(" from {i}")).unwrap_or_default();
            m.push(
                t,
                EventKind::Refused,
                false,
                &format!("status POST{from} without this node's credential refused"),
            );
            st.save(&self.state_dir)?;
            return Err(StatusError::Unauthorized(mac));
        }
        let v: Value =
            serde_json::from_slice(body).map_err(|e| StatusError::Body(e.to_string()))?;
        let m = st.machine(&mac);
        if let Some(ip) = ip {
            m.ip = Some(ip.to_string());
        }
        for p in v["phases"].as_array().into_iter().flatten() {
            let outcome = p["outcome"].as_str().unwrap_or("");
            if outcome == "not-run" || outcome.is_empty() {
                continue;
            }
            let name = p["name"].as_str().unwrap_or("?");
            let detail = p["detail"]
                .as_str()
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            m.push(
                t,
                EventKind::Phase,
                outcome != "failed",
                &format!("{name} {outcome}{detail}"),
            );
        }
        let state = v["state"].as_str().unwrap_or("");
        m.phase = v["phase"].as_str().map(str::to_string);
        let joined = v["phases"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["name"] == "join" && p["outcome"] == "done");
        match state {
            "ok" => {
                m.failure = None;
                if joined {
                    m.state = "joined".into();
                    m.push(
                        t,
                        EventKind::Joined,
                        true,
                        "the agent's run ended ok, join verified",
                    );
                } else {
                    m.state = "configured".into();
                }
            }
            "unconfigured" => {
                m.state = "unconfigured".into();
                let why = v["unconfigured"]["reason"]
                    .as_str()
                    .unwrap_or("unconfigured");
                m.push(t, EventKind::Unconfigured, true, why);
            }
            _ => {
                let errors: Vec<&str> = v["errors"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.as_str())
                    .collect();
                let text = if errors.is_empty() {
                    "the agent's run failed".to_string()
                } else {
                    errors.join("; ")
                };
                m.state = "failed".into();
                m.failure = Some(super::state::cut(&text));
                m.push(t, EventKind::Failed, false, &text);
            }
        }
        st.save(&self.state_dir)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::presented;

    #[test]
    fn basic_and_bearer_credentials() {
        use base64::Engine;
        let b = base64::engine::general_purpose::STANDARD.encode("kateskit:abc");
        assert_eq!(
            presented(Some(&format!("Basic {b}"))).as_deref(),
            Some("abc")
        );
        assert_eq!(presented(Some("Bearer abc")).as_deref(), Some("abc"));
        assert_eq!(presented(Some("Basic !!!")), None);
        assert_eq!(presented(Some("Digest abc")), None);
        assert_eq!(presented(None), None);
    }
}
