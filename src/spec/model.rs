//! The cluster.toml model. Plain TOML only: Nix reads the same file with `builtins.fromTOML`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The whole cluster, as written in `cluster.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    pub cluster: ClusterMeta,
    #[serde(default)]
    pub network: NetworkSpec,
    #[serde(default)]
    pub bundle: BundleSpec,
    #[serde(default)]
    pub nodes: Vec<NodeSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterMeta {
    /// Cluster name; a DNS label. Used for contexts, CA names and labels.
    pub name: String,
    /// Kubernetes cluster domain (k3s `cluster-domain`).
    #[serde(default = "default_domain")]
    pub domain: String,
    /// SSH public keys installed for the `root` user on every node.
    #[serde(default)]
    pub ssh_authorized_keys: Vec<String>,
    /// Time zone (IANA name) for every node.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// NTP servers; empty means the image default.
    #[serde(default)]
    pub ntp_servers: Vec<String>,
    /// k3s datastore. `etcd` (default): embedded etcd, started with `cluster-init` on the first
    /// server even when it is the only one, so more servers can join later without
    /// reinstalling it. `sqlite`: k3s's single-server default, lighter, but a server can never
    /// be added (opt-in single-node optimisation).
    #[serde(default)]
    pub datastore: Datastore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Datastore {
    #[default]
    Etcd,
    Sqlite,
}

pub fn default_domain() -> String {
    "cluster.local".into()
}
pub fn default_timezone() -> String {
    "UTC".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FlannelBackend {
    #[default]
    Vxlan,
    HostGw,
    WireguardNative,
}

impl FlannelBackend {
    pub fn as_str(self) -> &'static str {
        match self {
            FlannelBackend::Vxlan => "vxlan",
            FlannelBackend::HostGw => "host-gw",
            FlannelBackend::WireguardNative => "wireguard-native",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    #[serde(default)]
    pub flannel_backend: FlannelBackend,
    /// Pod network (k3s `cluster-cidr`).
    #[serde(default = "default_cluster_cidr")]
    pub cluster_cidr: String,
    /// Service network (k3s `service-cidr`).
    #[serde(default = "default_service_cidr")]
    pub service_cidr: String,
    /// Virtual IP for the Kubernetes API, served by the servers; clients and joining nodes use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_vip: Option<String>,
    /// Extra names and addresses for the API server certificate (k3s `tls-san`).
    #[serde(default)]
    pub tls_sans: Vec<String>,
}

pub fn default_cluster_cidr() -> String {
    "10.42.0.0/16".into()
}
pub fn default_service_cidr() -> String {
    "10.43.0.0/16".into()
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec {
            flannel_backend: FlannelBackend::default(),
            cluster_cidr: default_cluster_cidr(),
            service_cidr: default_service_cidr(),
            api_vip: None,
            tls_sans: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StorageDriver {
    #[default]
    LocalPath,
    Longhorn,
    RookCeph,
}

impl StorageDriver {
    pub fn as_str(self) -> &'static str {
        match self {
            StorageDriver::LocalPath => "local-path",
            StorageDriver::Longhorn => "longhorn",
            StorageDriver::RookCeph => "rook-ceph",
        }
    }
}

/// A component that is on or off, with free-form settings passed to its chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Component {
    #[serde(default)]
    pub enable: bool,
    /// Chart values merged over the defaults KatesKit renders.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub values: BTreeMap<String, toml::Value>,
}

impl Component {
    pub fn on() -> Self {
        Component {
            enable: true,
            values: BTreeMap::new(),
        }
    }
    pub fn off() -> Self {
        Component {
            enable: false,
            values: BTreeMap::new(),
        }
    }
}

fn on() -> Component {
    Component::on()
}
fn off() -> Component {
    Component::off()
}

/// The core bundle. Packaged k3s components default on; the rest default off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BundleSpec {
    #[serde(default = "on")]
    pub coredns: Component,
    #[serde(default = "on")]
    pub traefik: Component,
    #[serde(default = "on")]
    pub servicelb: Component,
    #[serde(default = "on")]
    pub metrics_server: Component,
    #[serde(default)]
    pub storage: StorageDriver,
    #[serde(default = "off")]
    pub dex: Component,
    #[serde(default = "off")]
    pub auth_proxy: Component,
    #[serde(default = "off")]
    pub dashboard: Component,
    #[serde(default = "off")]
    pub cert_manager: Component,
    #[serde(default = "off")]
    pub internal_dns: Component,
    /// kube-vip: announces `network.api_vip` for the API and gives LoadBalancer Services
    /// addresses from `values.service_range`, replacing servicelb.
    #[serde(default = "off")]
    pub kube_vip: Component,
    /// Settings of the Rook-Ceph storage; read only with `storage = "rook-ceph"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rook: Option<RookSpec>,
}

/// `[bundle.rook]`: how the default block pool keeps its data.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RookSpec {
    /// Copies of each object in the default pool, each on another host; at most the number
    /// of nodes with OSD disks. Default: that number, capped at 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
}

impl Default for BundleSpec {
    fn default() -> Self {
        BundleSpec {
            coredns: on(),
            traefik: on(),
            servicelb: on(),
            metrics_server: on(),
            storage: StorageDriver::default(),
            dex: off(),
            auth_proxy: off(),
            dashboard: off(),
            cert_manager: off(),
            internal_dns: off(),
            kube_vip: off(),
            rook: None,
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Server,
    Agent,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Agent => "agent",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Node name and hostname; a DNS label.
    pub name: String,
    pub role: Role,
    /// MAC addresses that identify this machine (netboot, config lookup).
    #[serde(default)]
    pub macs: Vec<String>,
    /// Where the OS is installed; absent for diskless or live nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_disk: Option<DiskSelector>,
    /// Raw disks handed to Ceph as OSDs.
    #[serde(default)]
    pub osd_disks: Vec<OsdDisk>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Taints in k3s form: `key=value:Effect`.
    #[serde(default)]
    pub taints: Vec<String>,
    /// Static addressing; DHCP when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<StaticNetwork>,
}

/// Chooses the install disk: a stable by-id path, or a match on size, model and serial.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiskSelector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_id: Option<String>,
    /// Smallest acceptable size in GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_size_gib: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size_gib: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum WipePolicy {
    /// Accept only blank disks or an OSD of this cluster.
    #[default]
    Never,
    /// Also wipe disks that provably hold no data (empty partitions, inactive swap), or an OSD
    /// of the other cluster named in `foreign_fsid`.
    IfForeign,
    /// Wipe whatever is there; needs `confirm_serial`.
    Always,
}

impl WipePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            WipePolicy::Never => "never",
            WipePolicy::IfForeign => "if-foreign",
            WipePolicy::Always => "always",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OsdDisk {
    /// `/dev/disk/by-id/...` path of the whole disk.
    pub by_id: String,
    #[serde(default)]
    pub wipe: WipePolicy,
    /// The disk's serial number, repeated to confirm `wipe = "always"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_serial: Option<String>,
    /// The fsid of another Ceph cluster whose OSD on this disk may be wiped. An OSD of any
    /// fsid that is not this cluster's is only ever wiped when the owner names it here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foreign_fsid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StaticNetwork {
    /// Interface name; when absent the first MAC in `macs` picks the link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Addresses in CIDR form, e.g. `192.0.2.11/24`. The first is the node IP.
    pub addresses: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(default)]
    pub dns: Vec<String>,
}
