//! Semantic checks on a parsed cluster spec. Each finding carries the key path of the value
//! at fault and a fix; `spec::load` turns paths into file:line:col.

use std::net::IpAddr;

use ipnet::IpNet;

use super::locate::KeyPath;
use super::model::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// One problem found in the spec, before it is located in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub severity: Severity,
    pub path: KeyPath,
    pub message: String,
    pub fix: String,
}

pub(super) struct Checker {
    pub(super) out: Vec<Finding>,
}

impl Checker {
    pub(super) fn err(
        &mut self,
        path: KeyPath,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.out.push(Finding {
            severity: Severity::Error,
            path,
            message: message.into(),
            fix: fix.into(),
        });
    }
    pub(super) fn warn(
        &mut self,
        path: KeyPath,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.out.push(Finding {
            severity: Severity::Warning,
            path,
            message: message.into(),
            fix: fix.into(),
        });
    }
}

/// True for an RFC 1123 DNS label: 1-63 of `a-z0-9-`, not starting or ending with `-`.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Parses a MAC address in `aa:bb:cc:dd:ee:ff` form (either case) to lower case.
pub fn normalize_mac(s: &str) -> Option<String> {
    let m: crate::mac::MacAddr = s.parse().ok().filter(|_| !s.contains('-'))?;
    Some(m.to_string())
}

fn parse_net(c: &mut Checker, path: KeyPath, what: &str, s: &str) -> Option<IpNet> {
    match s.parse::<IpNet>() {
        Ok(n) if n.trunc() == n => Some(n),
        Ok(n) => {
            c.err(
                path,
                format!("{what} `{s}` has host bits set"),
                format!("write the network address: \"{}\"", n.trunc()),
            );
            None
        }
        Err(_) => {
            c.err(
                path,
                format!("{what} `{s}` is not a CIDR"),
                "write an address and prefix length, e.g. \"10.42.0.0/16\"",
            );
            None
        }
    }
}

pub(super) fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Runs every check; errors and warnings come back in file order of discovery.
pub fn check(spec: &ClusterSpec) -> Vec<Finding> {
    let mut c = Checker { out: Vec::new() };
    let root = KeyPath::root();

    if !is_dns_label(&spec.cluster.name) {
        c.err(
            root.key("cluster").key("name"),
            format!("cluster name `{}` is not a DNS label", spec.cluster.name),
            "use 1-63 lower-case letters, digits and `-`, not starting or ending with `-`",
        );
    }
    if spec.cluster.domain.is_empty() || !spec.cluster.domain.split('.').all(is_dns_label) {
        c.err(
            root.key("cluster").key("domain"),
            format!("cluster domain `{}` is not a DNS name", spec.cluster.domain),
            "use dot-separated DNS labels, e.g. \"cluster.local\"",
        );
    }

    let net = root.key("network");
    let cluster_cidr = parse_net(
        &mut c,
        net.key("cluster_cidr"),
        "cluster_cidr",
        &spec.network.cluster_cidr,
    );
    let service_cidr = parse_net(
        &mut c,
        net.key("service_cidr"),
        "service_cidr",
        &spec.network.service_cidr,
    );
    if let (Some(a), Some(b)) = (&cluster_cidr, &service_cidr) {
        if overlaps(a, b) {
            c.err(net.key("service_cidr"), format!("service_cidr {b} overlaps cluster_cidr {a}"), "choose disjoint ranges, e.g. cluster_cidr = \"10.42.0.0/16\" and service_cidr = \"10.43.0.0/16\"");
        }
    }
    let pod_nets: Vec<(&str, IpNet)> = [
        ("cluster_cidr", cluster_cidr),
        ("service_cidr", service_cidr),
    ]
    .into_iter()
    .filter_map(|(n, v)| v.map(|v| (n, v)))
    .collect();
    if let Some(vip) = &spec.network.api_vip {
        match vip.parse::<IpAddr>() {
            Ok(ip) => {
                for (name, n) in &pod_nets {
                    if n.contains(&ip) {
                        c.err(
                            net.key("api_vip"),
                            format!("api_vip {ip} lies inside {name} {n}"),
                            "pick an address on the nodes' own network",
                        );
                    }
                }
            }
            Err(_) => c.err(
                net.key("api_vip"),
                format!("api_vip `{vip}` is not an IP address"),
                "write a single address, e.g. \"192.0.2.10\"",
            ),
        }
    }
    for (i, san) in spec.network.tls_sans.iter().enumerate() {
        if san.trim().is_empty() || san.contains(char::is_whitespace) {
            c.err(
                net.key("tls_sans").idx(i),
                format!("tls_sans entry `{san}` is not a name or address"),
                "remove it or write a DNS name or IP address",
            );
        }
    }

    check_bundle(&mut c, spec);
    super::validate_rook::check_rook(&mut c, spec);
    super::validate_nodes::check_nodes(&mut c, spec, &pod_nets);
    c.out
}

/// The proxy is dex's OIDC client: dex must say where it is, the proxy where users reach it.
fn check_auth(c: &mut Checker, b: &crate::spec::BundleSpec, p: &KeyPath) {
    let text = |comp: &crate::spec::Component, k: &str| {
        comp.values
            .get(k)
            .map(|v| v.as_str().unwrap_or_default().to_string())
    };
    match text(&b.dex, "issuer") {
        None => c.err(
            p.key("dex").key("enable"),
            "dex has no values.issuer, which the auth proxy needs to find it",
            "add values = { issuer = \"https://dex.example.com\" } to bundle.dex (its public URL)",
        ),
        Some(i) if !i.starts_with("https://") || i.len() <= "https://".len() => c.err(
            p.key("dex").key("values").key("issuer"),
            format!("dex issuer `{i}` is not an https:// URL"),
            "write the public URL dex is served at, e.g. \"https://dex.example.com\"",
        ),
        Some(_) => {}
    }
    match text(&b.auth_proxy, "hostname") {
        None => c.err(
            p.key("auth_proxy").key("enable"),
            "the auth proxy has no values.hostname for its login callback and Ingress",
            "add values = { hostname = \"auth.example.com\" } to bundle.auth_proxy",
        ),
        Some(h) if h.is_empty() || !h.split('.').all(is_dns_label) => c.err(
            p.key("auth_proxy").key("values").key("hostname"),
            format!("auth proxy hostname `{h}` is not a DNS name"),
            "write the name users reach the proxy at, e.g. \"auth.example.com\"",
        ),
        Some(_) => {}
    }
}

/// k8s-gateway answers for one zone (its chart's `domain`); without it the Helm job fails.
fn check_internal_dns(c: &mut Checker, b: &crate::spec::BundleSpec, p: &KeyPath) {
    let p = p.key("internal_dns");
    match b.internal_dns.values.get("zone").map(|v| v.as_str().unwrap_or_default()) {
        None => c.err(
            p.key("enable"),
            "internal_dns has no values.zone, the DNS zone k8s-gateway answers for",
            "add values = { zone = \"cluster.internal\" } to bundle.internal_dns (a zone your site's DNS delegates to it)",
        ),
        Some(z) if z.is_empty() || !z.trim_end_matches('.').split('.').all(is_dns_label) => c.err(
            p.key("values").key("zone"),
            format!("internal DNS zone `{z}` is not a DNS name"),
            "write a DNS name such as \"rack.internal\"",
        ),
        Some(_) => {}
    }
}

fn check_bundle(c: &mut Checker, spec: &ClusterSpec) {
    let b = &spec.bundle;
    let p = KeyPath::root().key("bundle");
    if b.auth_proxy.enable && !b.dex.enable {
        c.err(
            p.key("auth_proxy").key("enable"),
            "auth_proxy needs dex as its identity provider",
            "set bundle.dex.enable = true, or turn the auth proxy off",
        );
    }
    if b.auth_proxy.enable && b.dex.enable {
        check_auth(c, b, &p);
    }
    if b.internal_dns.enable {
        check_internal_dns(c, b, &p);
    }
    super::validate_auth::check_dex_and_tls(c, b, &p);
    if b.dashboard.enable && !b.auth_proxy.enable {
        c.warn(
            p.key("dashboard").key("enable"),
            "the dashboard is enabled without the auth proxy in front of it",
            "set bundle.auth_proxy.enable = true (with dex) to put login in front of it",
        );
    }
    super::validate_lb::check_load_balancer(c, spec);
    if b.storage == StorageDriver::RookCeph && spec.nodes.iter().all(|n| n.osd_disks.is_empty()) {
        c.err(p.key("storage"), "storage is rook-ceph but no node declares an OSD disk", "add osd_disks = [{ by_id = \"/dev/disk/by-id/...\" }] to the storage nodes, or choose another storage driver");
    }
}
