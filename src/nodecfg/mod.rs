//! NodeConfig: the agent's input contract, one JSON document per node.
//!
//! Everything outside `secrets` is a pure function of cluster.toml, and `nix/render.nix`
//! computes the same thing with builtins only; a test holds the two to byte-equal JSON.

mod render;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::secret::Secret;
use crate::spec::{BundleSpec, DiskSelector, FlannelBackend, OsdDisk, Role, StaticNetwork};
pub use render::{api_endpoint, ceph_layout, join_url, render, render_public, RenderError};

pub const API_VERSION: &str = "kateskit.dev/v1";
pub const KIND: &str = "NodeConfig";
/// k3s packaged components that `disable:` can switch off.
pub const PACKAGED: [&str; 5] = [
    "coredns",
    "servicelb",
    "traefik",
    "local-storage",
    "metrics-server",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    pub cluster: ClusterInfo,
    pub node: NodeInfo,
    pub host: HostInfo,
    pub k3s: K3sInfo,
    /// Present on server nodes only: the bundle to deploy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<BundleSpec>,
    pub storage: StorageInfo,
    /// Secret material; absent in the public rendering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<NodeSecrets>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterInfo {
    pub name: String,
    pub domain: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeInfo {
    pub name: String,
    pub role: Role,
    pub macs: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_disk: Option<DiskSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<StaticNetwork>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostInfo {
    pub hostname: String,
    pub ssh_authorized_keys: Vec<String>,
    pub timezone: String,
    pub ntp_servers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct K3sInfo {
    /// Supervisor URL to join: the API VIP when set, else the first server; absent on the
    /// server that starts the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_url: Option<String>,
    /// Supervisor URL of every other server, in cluster.toml order. Without a VIP a joining
    /// node takes the first that serves the token's CA; a first server whose datastore is
    /// empty probes them to rejoin its cluster instead of starting a new one.
    #[serde(default)]
    pub server_urls: Vec<String>,
    /// Start embedded etcd (`cluster-init`): the first server, unless the spec chose SQLite.
    pub cluster_init: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_ip: Option<String>,
    pub flannel_backend: FlannelBackend,
    pub cluster_cidr: String,
    pub service_cidr: String,
    pub cluster_domain: String,
    pub tls_sans: Vec<String>,
    /// Servers only: `network.api_vip`, the address kube-vip announces when it is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_vip: Option<String>,
    /// Servers only, with an API VIP: the interface every server's static network names, when
    /// all of them name the same one; absent means kube-vip picks the default route's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_vip_interface: Option<String>,
    /// Packaged components to switch off (k3s `disable`).
    pub disable: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StorageInfo {
    pub driver: crate::spec::StorageDriver,
    pub osd_disks: Vec<OsdDisk>,
    /// Servers only, with rook-ceph: the cluster-wide OSD layout the CephCluster is made of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ceph_cluster: Option<CephLayout>,
}

/// What Rook needs to know about the whole cluster, carried by every server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CephLayout {
    /// Number of servers: decides the mon count.
    pub servers: usize,
    /// Every server's taints, in cluster.toml order: mons and mgrs run on servers and must
    /// tolerate them.
    #[serde(default)]
    pub server_taints: Vec<String>,
    /// Nodes with OSD disks, in cluster.toml order.
    pub nodes: Vec<CephNode>,
    /// `bundle.rook.replicas` when the owner set it; otherwise the pool size follows the
    /// number of OSD hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CephNode {
    pub name: String,
    /// `/dev/disk/by-id/...` paths of its OSD disks.
    pub devices: Vec<String>,
    /// The node's taints, so OSD pods can tolerate them.
    pub taints: Vec<String>,
}

// Tokens, keys and passwords are `Secret`s, so `Debug` of a NodeConfig never shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeSecrets {
    /// The token this node joins with: the server token on servers, the agent token on agents.
    pub token: Secret,
    /// SHA-256 of the cluster CA as k3s's `hashCA` computes it (also inside the token).
    pub ca_hash: String,
    /// Servers only: the agent token, so every server accepts the same agents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_token: Option<Secret>,
    /// The first server only: PEM files to pre-seed under `server/tls/`, keyed by relative
    /// path. Joining servers receive the CAs from k3s's bootstrap instead.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ca_files: BTreeMap<String, Secret>,
    /// Ceph cluster fsid, to tell this cluster's OSDs from foreign ones.
    pub ceph_fsid: String,
    /// k3s's node password for this node (`/etc/rancher/node/password`), derived from the
    /// server token so it survives the loss of the node's own copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_password: Option<Secret>,
    /// The first server, with rook-ceph only: cephx key of `mon.`, pre-seeded into Rook's
    /// `rook-ceph-mon` Secret so Rook adopts `ceph_fsid` instead of choosing its own. Other
    /// servers wait for that Secret instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ceph_mon_secret: Option<Secret>,
    /// With `ceph_mon_secret`: cephx key of `client.admin` for the same Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ceph_admin_secret: Option<Secret>,
    /// The first server, when the bundle uses the cluster CA issuer: the Ingress CA (PEM),
    /// seeded into cert-manager's CA Secret so Ingress certificates chain to the root
    /// `kateskit cluster ingress-ca` prints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_ca_crt: Option<String>,
    /// The Ingress CA's private key (SEC1 PEM), present with `ingress_ca_crt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_ca_key: Option<Secret>,
}

impl NodeSecrets {
    /// Fields under `secrets` that are public: identifiers and a certificate.
    pub const PUBLIC: [&'static str; 3] = ["ca_hash", "ceph_fsid", "ingress_ca_crt"];

    /// Every secret value, for scrubbing text that might quote one.
    pub fn values(&self) -> Vec<&str> {
        // Destructured so that a new field must be classified here.
        let NodeSecrets {
            token,
            ca_hash: _,
            agent_token,
            ca_files,
            ceph_fsid: _,
            node_password,
            ceph_mon_secret,
            ceph_admin_secret,
            ingress_ca_crt: _,
            ingress_ca_key,
        } = self;
        let optional = [
            agent_token,
            node_password,
            ceph_mon_secret,
            ceph_admin_secret,
        ];
        std::iter::once(token)
            .chain(optional.into_iter().flatten())
            .chain(ingress_ca_key)
            .chain(ca_files.values())
            .map(Secret::expose)
            .collect()
    }
}

impl NodeSecrets {
    /// True on the node that seeds the cluster's key material (the first server): it carries
    /// k3s's CA files. Other servers get the CAs from k3s's bootstrap and the seeded Secrets
    /// from the API.
    pub fn seeds_cluster(&self) -> bool {
        !self.ca_files.is_empty()
    }
}

impl NodeConfig {
    /// Parses and checks the header of a NodeConfig document.
    pub fn from_json(s: &str) -> Result<NodeConfig, String> {
        let v: NodeConfig = serde_json::from_str(s)
            .map_err(|e| format!("line {} column {}: {e}", e.line(), e.column()))?;
        if v.api_version != API_VERSION || v.kind != KIND {
            return Err(format!(
                "expected apiVersion {API_VERSION} kind {KIND}, found {} {}",
                v.api_version, v.kind
            ));
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_secret_field_is_scrubbed_and_never_debug_printed() {
        let m = |n: &str| Some(Secret::new(format!("LEAK-{n}")));
        let s = NodeSecrets {
            token: Secret::new("LEAK-token"),
            ca_hash: "h".into(),
            agent_token: m("agent_token"),
            ca_files: [("server-ca.key".to_string(), Secret::new("LEAK-ca_files"))].into(),
            ceph_fsid: "f".into(),
            node_password: m("node_password"),
            ceph_mon_secret: m("ceph_mon_secret"),
            ceph_admin_secret: m("ceph_admin_secret"),
            ingress_ca_crt: Some("crt".into()),
            ingress_ca_key: m("ingress_ca_key"),
        };
        let shown = format!("{s:?}");
        assert!(!shown.contains("LEAK"), "{shown}");
        let values = s.values();
        let json = serde_json::to_value(&s).unwrap();
        for (field, v) in json.as_object().unwrap() {
            let text = v.to_string();
            let secret = text.contains("LEAK");
            assert_eq!(
                secret,
                !NodeSecrets::PUBLIC.contains(&field.as_str()),
                "{field}"
            );
            if secret {
                assert!(
                    values.iter().any(|x| text.contains(x)),
                    "{field} not scrubbed"
                );
            }
        }
    }
}
