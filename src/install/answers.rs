//! The guided install's answers, each checked the way the installed node will check it, and the
//! config layer they become: a partial NodeConfig stamped into the installed disk's embed area
//! (the owner's rung of the agent's ladder), so nothing typed here is read from the network or
//! a config drive later.

use std::path::Path;

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::pki::{Token, TokenError};
use crate::secret::Secret;
use crate::spec::{is_dns_label, Role};

/// Why an answer was not accepted; each message says what to type instead.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("`{0}` is not a role; type server or agent")]
    Role(String),
    #[error("{0}")]
    Required(&'static str),
    #[error("server URL `{url}`: {reason}")]
    ServerUrl { url: String, reason: String },
    #[error("token: {0}")]
    Token(#[from] TokenError),
    #[error("token: a bootstrap token (`k3s token create`) joins agents only; a server joins with the cluster's server token (`kateskit cluster token DIR --role server`)")]
    BootstrapForServer,
    #[error("`{0}` is not a host name: dot-separated labels of a-z, 0-9 and `-` (at most 63 each, 253 in all)")]
    Hostname(String),
    #[error("SSH key {what}: {reason}")]
    SshKey { what: String, reason: String },
    #[error("reading SSH keys from {path}: {source}")]
    SshKeyFile {
        path: String,
        source: std::io::Error,
    },
}

pub fn parse_role(s: &str) -> Result<Role, AnswerError> {
    match s.trim().to_ascii_lowercase().as_str() {
        "server" | "s" => Ok(Role::Server),
        "agent" | "a" => Ok(Role::Agent),
        other => Err(AnswerError::Role(other.to_string())),
    }
}

/// `None` for an empty answer, which only a first server may give. k3s takes only https
/// server URLs; the agent refuses anything else before it starts k3s.
pub fn check_server_url(role: Role, s: &str) -> Result<Option<String>, AnswerError> {
    let s = s.trim();
    if s.is_empty() {
        return match role {
            Role::Server => Ok(None),
            Role::Agent => Err(AnswerError::Required(
                "an agent needs the URL of a server to join, e.g. https://192.0.2.10:6443",
            )),
        };
    }
    let bad = |reason: &str| AnswerError::ServerUrl {
        url: crate::redact::url(s),
        reason: reason.to_string(),
    };
    let u =
        reqwest::Url::parse(s).map_err(|e| bad(&format!("{e}; e.g. https://192.0.2.10:6443")))?;
    if u.scheme() != "https" {
        return Err(bad(
            "must start with https:// (k3s accepts only https server URLs)",
        ));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    if !u.username().is_empty() || u.password().is_some() || u.query().is_some() {
        return Err(bad(
            "must not carry credentials or a query; the token is asked for next",
        ));
    }
    Ok(Some(s.trim_end_matches('/').to_string()))
}

/// The join token, parsed as k3s parses it. Only a first server may leave it empty (k3s then
/// generates the cluster's token).
pub fn check_token(role: Role, joins: bool, s: &str) -> Result<Option<Secret>, AnswerError> {
    let s = s.trim();
    if s.is_empty() {
        return match (role, joins) {
            (Role::Server, false) => Ok(None),
            _ => Err(AnswerError::Required(
                "joining needs the cluster's token (`kateskit cluster token DIR`, or /var/lib/rancher/k3s/server/token on a server)",
            )),
        };
    }
    let t = Token::parse(s)?;
    if t.bootstrap && role == Role::Server {
        return Err(AnswerError::BootstrapForServer);
    }
    Ok(Some(Secret::new(s)))
}

/// `None` for an empty answer: the node then takes its name from DHCP or its MAC address.
/// Host names are case-insensitive; the node uses the lower-case form.
pub fn check_hostname(s: &str) -> Result<Option<String>, AnswerError> {
    let h = s.trim().trim_end_matches('.').to_ascii_lowercase();
    if h.is_empty() {
        return Ok(None);
    }
    if h.len() > 253 || !h.split('.').all(is_dns_label) {
        return Err(AnswerError::Hostname(s.trim().to_string()));
    }
    Ok(Some(h))
}

/// Key types and how many SSH strings their public-key blob holds (RFC 4253 6.6, RFC 5656 3.1,
/// RFC 8709 4, OpenSSH PROTOCOL.u2f), type name included.
const KEY_TYPES: &[(&str, usize)] = &[
    ("ssh-ed25519", 2),
    ("ssh-rsa", 3),
    ("ecdsa-sha2-nistp256", 3),
    ("ecdsa-sha2-nistp384", 3),
    ("ecdsa-sha2-nistp521", 3),
    ("sk-ssh-ed25519@openssh.com", 3),
    ("sk-ecdsa-sha2-nistp256@openssh.com", 4),
];

/// The blob's SSH strings (u32 big-endian length, then bytes); `None` unless they fill it.
fn ssh_strings(mut blob: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    while !blob.is_empty() {
        let n = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
        out.push(blob.get(4..4 + n)?);
        blob = &blob[4 + n..];
    }
    Some(out)
}

/// One public key as `authorized_keys` holds it (`TYPE BASE64 [COMMENT]`, no options); the
/// blob must decode and name the same type, which catches truncated pastes.
pub fn check_ssh_key(s: &str) -> Result<String, AnswerError> {
    let s = s.trim();
    let what = s.chars().take(24).collect::<String>();
    let bad = |reason: &str| AnswerError::SshKey {
        what: format!("`{what}…`"),
        reason: reason.to_string(),
    };
    if s.chars().any(|c| c.is_control()) {
        return Err(bad("contains control characters"));
    }
    let mut parts = s.split_whitespace();
    let kind = parts.next().unwrap_or_default();
    let Some(&(_, fields)) = KEY_TYPES.iter().find(|(k, _)| *k == kind) else {
        let names: Vec<&str> = KEY_TYPES.iter().map(|(k, _)| *k).collect();
        return Err(bad(&format!(
            "does not start with a key type ({}); paste the .pub file's line, without options",
            names.join(", ")
        )));
    };
    let blob = base64::engine::general_purpose::STANDARD
        .decode(parts.next().unwrap_or_default())
        .map_err(|_| bad("its second field is not base64 (truncated paste?)"))?;
    match ssh_strings(&blob) {
        Some(f) if f.len() == fields && f[0] == kind.as_bytes() => {}
        _ => {
            return Err(bad(&format!(
                "its key data is not a whole {kind} key (truncated or mixed paste?)"
            )))
        }
    }
    Ok(s.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Every key of an `authorized_keys`-style file (blank lines and `#` comments skipped).
pub fn ssh_keys_from_file(path: &Path) -> Result<Vec<String>, AnswerError> {
    let text = std::fs::read_to_string(path).map_err(|source| AnswerError::SshKeyFile {
        path: path.display().to_string(),
        source,
    })?;
    let mut keys = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        keys.push(check_ssh_key(line).map_err(|e| AnswerError::SshKey {
            what: format!("{}:{}", path.display(), i + 1),
            reason: e.to_string(),
        })?);
    }
    Ok(keys)
}

/// What the guided session asked for.
#[derive(Debug, Clone)]
pub struct Answers {
    pub role: Role,
    pub server_url: Option<String>,
    pub token: Option<Secret>,
    pub hostname: Option<String>,
    pub ssh_keys: Vec<String>,
}

impl Answers {
    /// The partial NodeConfig the node's agent merges (only what was answered).
    pub fn layer(&self) -> Value {
        let mut v = json!({ "node": { "role": self.role.as_str() } });
        let mut host = Map::new();
        if let Some(h) = &self.hostname {
            host.insert("hostname".into(), json!(h));
        }
        if !self.ssh_keys.is_empty() {
            host.insert("ssh_authorized_keys".into(), json!(self.ssh_keys));
        }
        if !host.is_empty() {
            v["host"] = Value::Object(host);
        }
        if let Some(u) = &self.server_url {
            v["k3s"] = json!({ "server_url": u });
        }
        if let Some(t) = &self.token {
            v["secrets"] = json!({ "token": t.expose() });
        }
        v
    }

    /// Lines for the summary; the token is never shown, only whether one was given.
    pub fn summary(&self) -> Vec<(&'static str, String)> {
        let first = self.role == Role::Server && self.server_url.is_none();
        vec![
            (
                "role",
                if first {
                    "server (first server: starts the cluster)".to_string()
                } else {
                    self.role.as_str().to_string()
                },
            ),
            (
                "server",
                self.server_url
                    .as_deref()
                    .map(crate::redact::url)
                    .unwrap_or_else(|| "(none)".into()),
            ),
            (
                "token",
                match &self.token {
                    Some(_) => "given (not shown)".into(),
                    None => "none (k3s generates the cluster's token)".into(),
                },
            ),
            (
                "hostname",
                self.hostname
                    .clone()
                    .unwrap_or_else(|| "(from DHCP, else node-<MAC>)".into()),
            ),
            (
                "ssh keys",
                match self.ssh_keys.len() {
                    0 => "none: nobody can log in over SSH".to_string(),
                    n => {
                        self.ssh_keys
                            .iter()
                            .map(|k| key_summary(k))
                            .collect::<Vec<_>>()
                            .join(", ")
                            + &format!(" ({n})")
                    }
                },
            ),
        ]
    }
}

/// `TYPE …tail COMMENT`: enough to recognise a key, short enough for one line.
fn key_summary(k: &str) -> String {
    let mut p = k.split(' ');
    let kind = p.next().unwrap_or_default();
    let data = p.next().unwrap_or_default();
    let tail: String = data
        .chars()
        .rev()
        .take(8)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let comment: Vec<&str> = p.collect();
    format!("{kind} …{tail} {}", comment.join(" "))
        .trim_end()
        .to_string()
}

#[cfg(test)]
#[path = "answers_tests.rs"]
mod tests;
