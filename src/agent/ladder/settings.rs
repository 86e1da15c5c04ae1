//! The `agent` subtree of the config: how the agent itself behaves (never part of a
//! NodeConfig), and the files it writes for cloud-init's and k3os's `write_files`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The `agent` subtree: how the agent itself behaves (never part of NodeConfig). `Debug`
/// shows its URLs without userinfo, query or fragment (they may carry credentials).
#[derive(Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AgentSettings {
    /// URL of a config layer fetched last, with `${mac}` `${uuid}` `${serial}` `${hostname}`.
    pub config_url: Option<String>,
    /// Lower-case hex SHA-256 the config_url body must have.
    pub config_sha256: Option<String>,
    /// CA trusted by config_url and phone_home besides the system store: PEM text, or an
    /// absolute path on the node to a PEM file.
    pub config_ca: Option<String>,
    /// Hex SHA-256 of the config server's certificate SubjectPublicKeyInfo: config_url and
    /// phone_home then trust exactly that key (no CA, no host name). Only the owner sets it.
    pub config_tls_sha256: Option<String>,
    /// Bound on waiting while config_url answers `202 Accepted` (pending approval), seconds.
    pub pending_timeout_s: u64,
    /// URL that receives the status JSON by POST after every run.
    pub phone_home: Option<String>,
    /// Supervisor to verify after start; default: `k3s.server_url`, else `https://127.0.0.1:6443`.
    pub supervisor_url: Option<String>,
    /// Verify the join (`/ping`, `/cacerts`, node Ready). Off only for offline image tests.
    pub verify_join: bool,
    /// Per-request HTTP timeout, seconds.
    pub http_timeout_s: u64,
    /// Extra attempts for config_url after the first.
    pub fetch_retries: u64,
    /// Bound on reaching the supervisor after start, seconds.
    pub join_timeout_s: u64,
    /// Bound on the node becoming Ready, seconds.
    pub ready_timeout_s: u64,
    /// Extra sysctls written to `/etc/sysctl.d/90-kateskit.conf`.
    pub sysctls: BTreeMap<String, String>,
    /// Files to write (mapped from cloud-init `write_files`).
    pub write_files: Vec<WriteFile>,
    /// When config drives and embed partitions on other disks are read: `first-boot` (until
    /// the identity record exists), `always`, or `never`. Only the owner's sources set it.
    pub config_drive: crate::agent::ladder::trust::DrivePolicy,
    /// The node's fully qualified name (a NoCloud FQDN host name); `/etc/hosts` maps it.
    pub fqdn: Option<String>,
    /// The NoCloud instance-id of the drive that configured the node: its write_files are
    /// written once per instance id.
    pub instance_id: Option<String>,
    /// Links from a NoCloud `network-config`, rendered to networkd when `node.network` is unset.
    pub network_config: Vec<crate::agent::ladder::nocloud::network::NetLink>,
}

impl std::fmt::Debug for AgentSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Destructured so that a new field cannot be left out silently.
        let AgentSettings {
            config_url,
            config_sha256,
            config_ca,
            config_tls_sha256,
            pending_timeout_s,
            phone_home,
            supervisor_url,
            verify_join,
            http_timeout_s,
            fetch_retries,
            join_timeout_s,
            ready_timeout_s,
            sysctls,
            write_files,
            config_drive,
            fqdn,
            instance_id,
            network_config,
        } = self;
        let url = |u: &Option<String>| u.as_deref().map(crate::redact::url);
        f.debug_struct("AgentSettings")
            .field("config_url", &url(config_url))
            .field("config_sha256", config_sha256)
            .field("config_ca", &config_ca.as_ref().map(|_| "<set>"))
            .field("config_tls_sha256", config_tls_sha256)
            .field("pending_timeout_s", pending_timeout_s)
            .field("phone_home", &url(phone_home))
            .field("supervisor_url", &url(supervisor_url))
            .field("verify_join", verify_join)
            .field("http_timeout_s", http_timeout_s)
            .field("fetch_retries", fetch_retries)
            .field("join_timeout_s", join_timeout_s)
            .field("ready_timeout_s", ready_timeout_s)
            .field("sysctls", sysctls)
            .field("write_files", write_files)
            .field("config_drive", config_drive)
            .field("fqdn", fqdn)
            .field("instance_id", instance_id)
            .field("network_config", network_config)
            .finish()
    }
}

impl Default for AgentSettings {
    fn default() -> Self {
        AgentSettings {
            config_url: None,
            config_sha256: None,
            config_ca: None,
            config_tls_sha256: None,
            pending_timeout_s: 3600,
            phone_home: None,
            supervisor_url: None,
            verify_join: true,
            http_timeout_s: 10,
            fetch_retries: 4,
            join_timeout_s: 180,
            ready_timeout_s: 600,
            sysctls: BTreeMap::new(),
            write_files: Vec::new(),
            config_drive: Default::default(),
            fqdn: None,
            instance_id: None,
            network_config: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteFile {
    /// Absolute path on the node.
    pub path: String,
    /// May hold a password (a registries.yaml): never printed, shown only
    /// as path, mode and SHA-256.
    pub content: crate::secret::Secret,
    /// `b64` for base64 content; plain text otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// Octal mode, default `0644`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<String>,
    /// `user:group` (names or numbers, resolved in the node's /etc/passwd and /etc/group);
    /// default root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Append to the file instead of replacing it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub append: bool,
    /// Write after the k3s config, just before k3s starts (cloud-init writes these last).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub defer: bool,
    /// Written once for this NoCloud instance-id, then skipped on later runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_url_credentials() {
        let a = AgentSettings {
            config_url: Some("https://u:LEAK@h/c?t=LEAK".into()),
            phone_home: Some("https://h/p?key=LEAK".into()),
            supervisor_url: Some("https://u:LEAK@s:6443".into()),
            ..AgentSettings::default()
        };
        let shown = format!("{a:?}");
        assert!(!shown.contains("LEAK"), "{shown}");
        assert!(shown.contains("https://***@h/c?***"), "{shown}");
    }
}
