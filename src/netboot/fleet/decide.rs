//! Which answer a config request gets. A node of cluster.toml (by MAC) or an approved machine
//! gets its NodeConfig: agents every time (their token only joins), a server once per approval
//! (its token and CA keys make it a control-plane member). Anyone else is held pending or
//! ignored, as `--unknown` says.

use serde_json::{json, Value};

use super::approve::{self, Target};
use super::state::EventKind;
use super::{now, parse_mac, Fleet, FleetError, Unknown};
use crate::spec::{NodeSpec, Role};

/// The reason a pending answer carries, which the agent shows.
pub const PENDING: &str = "pending approval";

/// What `GET /v1/config/MAC` answers.
#[derive(Debug)]
pub enum Answer {
    /// 200: the NodeConfig JSON with `agent.phone_home` (holds secrets: HTTPS only).
    Config(Vec<u8>),
    /// 202: held; the body is `{"state":"pending","reason":...}`.
    Pending(String),
    /// 404: an unknown machine under `--unknown ignore`.
    Ignore,
}

impl Answer {
    pub fn pending_body(reason: &str) -> Vec<u8> {
        json!({"state": "pending", "reason": reason})
            .to_string()
            .into_bytes()
    }
}

impl Fleet {
    /// The node `mac` is and whether its config is one-shot, with the key that marks it served.
    fn target(&self, mac: &str) -> Result<Option<(String, Role, Option<String>)>, FleetError> {
        let approvals = approve::read_all(&self.state_dir)?;
        if let Some(a) = approvals.into_iter().find(|a| a.mac == mac) {
            let (name, role) = match &a.target {
                Target::Node(n) => {
                    let spec = self
                        .spec
                        .nodes
                        .iter()
                        .find(|x| &x.name == n)
                        .ok_or_else(|| FleetError::UnknownNode {
                            mac: mac.into(),
                            node: n.clone(),
                            known: self
                                .spec
                                .nodes
                                .iter()
                                .map(|x| x.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                        })?;
                    (n.clone(), spec.role)
                }
                Target::As(role) => (generated_name(mac), *role),
            };
            return Ok(Some((name, role, Some(a.id))));
        }
        let known = self.spec.nodes.iter().find(|n| {
            n.macs
                .iter()
                .any(|m| parse_mac(m).ok().as_deref() == Some(mac))
        });
        Ok(known.map(|n| (n.name.clone(), n.role, Some(format!("known:{mac}")))))
    }

    /// Renders `name` (added to the spec as a plain node of `role` when cluster.toml lacks it)
    /// with the phone_home URL that carries this MAC's status credential.
    fn render(&self, mac: &str, name: &str, role: Role) -> Result<Vec<u8>, FleetError> {
        let mut spec = self.spec.clone();
        if !spec.nodes.iter().any(|n| n.name == name) {
            spec.nodes.push(NodeSpec {
                name: name.into(),
                role,
                macs: vec![mac.into()],
                install_disk: None,
                osd_disks: Vec::new(),
                labels: Default::default(),
                taints: Vec::new(),
                network: None,
            });
        }
        let cfg = crate::nodecfg::render(&spec, &self.secrets, name).map_err(|source| {
            FleetError::Render {
                node: name.into(),
                source,
            }
        })?;
        let mut v: Value = serde_json::to_value(&cfg).expect("NodeConfig serializes");
        v["agent"] = json!({"phone_home": self.phone_home(mac)});
        Ok(serde_json::to_vec(&v).expect("JSON serializes"))
    }

    /// `https://kateskit:CREDENTIAL@HOST/v1/status/MAC`: reqwest sends the userinfo as Basic
    /// authentication, and the agent's messages show it as `***`.
    pub fn phone_home(&self, mac: &str) -> String {
        let cred = self.key.credential(mac);
        let (scheme, rest) = self
            .public_url
            .split_once("://")
            .unwrap_or(("https", &self.public_url));
        format!(
            "{scheme}://kateskit:{}@{rest}/v1/status/{mac}",
            cred.expose()
        )
    }

    /// Decides and records the answer to a config request from `mac`.
    pub fn config_for(
        &self,
        mac: &str,
        ip: Option<std::net::IpAddr>,
    ) -> Result<Answer, FleetError> {
        let mac = parse_mac(mac)?;
        let target = self.target(&mac)?;
        let mut st = self.lock();
        let t = now();
        let answer = match target {
            Some((name, role, once)) => {
                let one_shot = role == Role::Server;
                let used = once.as_ref().is_some_and(|k| st.consumed.contains(k));
                if one_shot && used {
                    Answer::Pending(format!(
                        "{PENDING}: the config of server `{name}` was already served once; \
                         approve again to serve it again (kateskit netboot approve {mac} --node {name})"
                    ))
                } else {
                    let body = self.render(&mac, &name, role)?;
                    if let (true, Some(k)) = (one_shot, once) {
                        st.consumed.insert(k);
                    }
                    let m = st.machine(&mac);
                    m.node = Some(name.clone());
                    m.role = Some(role.as_str().into());
                    m.state = "configured".into();
                    m.failure = None;
                    m.push(
                        t,
                        EventKind::Config,
                        true,
                        &format!("config of {} `{name}` served", role.as_str()),
                    );
                    Answer::Config(body)
                }
            }
            None if self.unknown == Unknown::Pending => Answer::Pending(PENDING.into()),
            None => Answer::Ignore,
        };
        let m = st.machine(&mac);
        if let Some(ip) = ip {
            m.ip = Some(ip.to_string());
        }
        match &answer {
            Answer::Pending(reason) => {
                m.state = "pending".into();
                // One event per wait, not one per poll.
                if m.events
                    .last()
                    .is_some_and(|e| e.kind == EventKind::Pending)
                {
                    m.last_seen = Some(t);
                } else {
                    m.push(t, EventKind::Pending, true, reason);
                }
            }
            Answer::Ignore => {
                m.state = "ignored".into();
                if m.events
                    .last()
                    .is_some_and(|e| e.kind == EventKind::Ignored)
                {
                    m.last_seen = Some(t);
                } else {
                    m.push(
                        t,
                        EventKind::Ignored,
                        true,
                        "unknown machine (--unknown ignore)",
                    );
                }
            }
            Answer::Config(_) => {}
        }
        st.save(&self.state_dir)?;
        Ok(answer)
    }
}

/// `node-<last three MAC bytes>`, as the agent names a machine without a name.
pub fn generated_name(mac: &str) -> String {
    format!(
        "node-{}",
        mac.rsplit(':')
            .take(3)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<String>()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_names_use_the_last_three_bytes() {
        assert_eq!(super::generated_name("52:54:00:0b:00:2a"), "node-0b002a");
    }
}
