//! cluster.toml + secrets → NodeConfig. Keep in step with `nix/render.nix`.

use super::*;
use crate::pki::Secrets;
use crate::spec::{ClusterSpec, Datastore, NodeSpec, StorageDriver};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RenderError {
    #[error("no node named `{0}` in the cluster spec (known: {1})")]
    UnknownNode(String, String),
    #[error("the cluster spec has no server node; run `kateskit cluster check` first")]
    NoServer,
}

/// The address clients use for the API: the VIP, else the first server's address, else its name.
pub fn api_endpoint(spec: &ClusterSpec) -> Result<String, RenderError> {
    if let Some(vip) = &spec.network.api_vip {
        return Ok(vip.clone());
    }
    let first = spec.servers().next().ok_or(RenderError::NoServer)?;
    Ok(first.primary_ip().unwrap_or_else(|| first.name.clone()))
}

/// A server's supervisor URL: its first static address, else its name.
fn supervisor_url(server: &NodeSpec) -> String {
    format!(
        "https://{}:6443",
        server.primary_ip().unwrap_or_else(|| server.name.clone())
    )
}

/// Supervisor URL joining nodes use: the API VIP when set (any server behind it answers),
/// else the first server; the agent may pick another from `server_urls`.
pub fn join_url(spec: &ClusterSpec) -> Result<String, RenderError> {
    if let Some(vip) = &spec.network.api_vip {
        return Ok(format!("https://{vip}:6443"));
    }
    let first = spec.servers().next().ok_or(RenderError::NoServer)?;
    Ok(supervisor_url(first))
}

/// A node's static addresses without their prefix length.
fn addresses(node: &NodeSpec) -> Vec<String> {
    node.network
        .iter()
        .flat_map(|n| &n.addresses)
        .map(|a| a.split('/').next().unwrap_or(a).to_string())
        .collect()
}

/// VIP, cluster.toml `tls_sans`, then every server's name and static addresses, without
/// repeats, so a node may reach the API through any server by any of them.
fn server_sans(spec: &ClusterSpec) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let servers = spec
        .servers()
        .flat_map(|s| std::iter::once(s.name.clone()).chain(addresses(s)));
    for san in spec
        .network
        .api_vip
        .iter()
        .cloned()
        .chain(spec.network.tls_sans.iter().cloned())
        .chain(servers)
    {
        if !out.contains(&san) {
            out.push(san);
        }
    }
    out
}

/// The interface every server's static network names, when all name the same one: kube-vip
/// runs as one DaemonSet on all servers, so it takes one interface or detects it on each.
fn vip_interface(spec: &ClusterSpec) -> Option<String> {
    let mut names = spec
        .servers()
        .map(|s| s.network.as_ref().and_then(|n| n.interface.clone()));
    let first = names.next()??;
    names
        .all(|n| n.as_deref() == Some(first.as_str()))
        .then_some(first)
}

fn disabled(spec: &ClusterSpec) -> Vec<String> {
    let b = &spec.bundle;
    let mut out = Vec::new();
    for (name, on) in [
        ("coredns", b.coredns.enable),
        ("servicelb", b.servicelb.enable),
        ("traefik", b.traefik.enable),
        ("local-storage", b.storage == StorageDriver::LocalPath),
        ("metrics-server", b.metrics_server.enable),
    ] {
        if !on {
            out.push(name.to_string());
        }
    }
    out
}

/// Servers and the OSD disks of every node: the input of Rook's CephCluster.
pub fn ceph_layout(spec: &ClusterSpec) -> CephLayout {
    CephLayout {
        servers: spec.servers().count(),
        server_taints: spec.servers().flat_map(|s| s.taints.clone()).collect(),
        replicas: spec.bundle.rook.as_ref().and_then(|r| r.replicas),
        nodes: spec
            .nodes
            .iter()
            .filter(|n| !n.osd_disks.is_empty())
            .map(|n| CephNode {
                name: n.name.clone(),
                devices: n.osd_disks.iter().map(|d| d.by_id.clone()).collect(),
                taints: n.taints.clone(),
            })
            .collect(),
    }
}

/// The node's config without secrets: what Nix can compute too.
pub fn render_public(spec: &ClusterSpec, name: &str) -> Result<NodeConfig, RenderError> {
    let node: &NodeSpec = spec.node(name).ok_or_else(|| {
        let known: Vec<&str> = spec.nodes.iter().map(|n| n.name.as_str()).collect();
        RenderError::UnknownNode(name.into(), known.join(", "))
    })?;
    let first_server = spec.servers().next().map(|s| s.name.as_str());
    let is_first = first_server == Some(node.name.as_str());
    let multi = spec.servers().count() > 1;
    let server_urls: Vec<String> = spec
        .servers()
        .filter(|s| s.name != node.name)
        .map(supervisor_url)
        .collect();
    let server = node.role == Role::Server;
    Ok(NodeConfig {
        api_version: API_VERSION.into(),
        kind: KIND.into(),
        cluster: ClusterInfo {
            name: spec.cluster.name.clone(),
            domain: spec.cluster.domain.clone(),
        },
        node: NodeInfo {
            name: node.name.clone(),
            role: node.role,
            macs: node.macs.iter().map(|m| m.to_ascii_lowercase()).collect(),
            labels: node.labels.clone(),
            taints: node.taints.clone(),
            install_disk: node.install_disk.clone(),
            network: node.network.clone(),
        },
        host: HostInfo {
            hostname: node.name.clone(),
            ssh_authorized_keys: spec.cluster.ssh_authorized_keys.clone(),
            timezone: spec.cluster.timezone.clone(),
            ntp_servers: spec.cluster.ntp_servers.clone(),
        },
        k3s: K3sInfo {
            server_url: if is_first {
                None
            } else {
                Some(join_url(spec)?)
            },
            server_urls,
            // Embedded etcd from the first boot unless SQLite was chosen (one server only).
            cluster_init: is_first && (multi || spec.cluster.datastore == Datastore::Etcd),
            node_ip: node.primary_ip(),
            flannel_backend: spec.network.flannel_backend,
            cluster_cidr: spec.network.cluster_cidr.clone(),
            service_cidr: spec.network.service_cidr.clone(),
            cluster_domain: spec.cluster.domain.clone(),
            tls_sans: if server {
                server_sans(spec)
            } else {
                Vec::new()
            },
            api_vip: spec.network.api_vip.clone().filter(|_| server),
            api_vip_interface: spec
                .network
                .api_vip
                .as_ref()
                .filter(|_| server)
                .and_then(|_| vip_interface(spec)),
            disable: if server { disabled(spec) } else { Vec::new() },
        },
        bundle: if server {
            Some(spec.bundle.clone())
        } else {
            None
        },
        storage: StorageInfo {
            driver: spec.bundle.storage,
            osd_disks: node.osd_disks.clone(),
            ceph_cluster: (server && spec.bundle.storage == StorageDriver::RookCeph)
                .then(|| ceph_layout(spec)),
        },
        secrets: None,
    })
}

/// The full NodeConfig. Agents get the agent token, CA hash and fsid only. Key material that
/// seeds the cluster (k3s's CA files, the Ceph mon/admin keys when Rook is deployed, the
/// Ingress CA when Ingresses use the cluster CA issuer) goes to the first server only, the one
/// that starts the cluster and seeds them; the other servers take the CAs from k3s's bootstrap
/// (the server token is all they need) and find the seeded Secrets in the API.
pub fn render(
    spec: &ClusterSpec,
    secrets: &Secrets,
    name: &str,
) -> Result<NodeConfig, RenderError> {
    let mut cfg = render_public(spec, name)?;
    let server = cfg.node.role == Role::Server;
    let seeds = server && cfg.k3s.server_url.is_none();
    let rook = seeds && cfg.storage.ceph_cluster.is_some();
    let ingress_ca = seeds
        && cfg.bundle.as_ref().and_then(crate::bundle::tls::issuer)
            == Some(crate::bundle::tls::CA_ISSUER);
    cfg.secrets = Some(NodeSecrets {
        token: if server {
            secrets.server_token.secret()
        } else {
            secrets.agent_token.secret()
        },
        ca_hash: secrets.ca_hash().to_string(),
        agent_token: server.then(|| secrets.agent_token.secret()),
        ca_files: if seeds {
            secrets.server_ca_files()
        } else {
            Default::default()
        },
        ceph_fsid: secrets.ceph.fsid.clone(),
        ceph_mon_secret: rook.then(|| secrets.ceph.mon_secret.clone()),
        ceph_admin_secret: rook.then(|| secrets.ceph.admin_secret.clone()),
        ingress_ca_crt: ingress_ca.then(|| secrets.ingress_ca.cert.clone()),
        ingress_ca_key: ingress_ca.then(|| secrets.ingress_ca.key.clone()),
        node_password: Some(Secret::new(crate::pki::derive::node_password(
            secrets.server_token.secret().expose(),
            &cfg.node.name,
        ))),
    });
    Ok(cfg)
}
