//! Per-node checks of the cluster spec: names, MACs, disks, labels, taints, static network.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use ipnet::IpNet;

use super::locate::KeyPath;
use super::model::*;
use super::validate::{is_dns_label, normalize_mac, overlaps, Checker};

const TAINT_EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

pub(super) fn check_nodes(c: &mut Checker, spec: &ClusterSpec, pod_nets: &[(&str, IpNet)]) {
    let root = KeyPath::root();
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut macs: HashMap<String, usize> = HashMap::new();
    let mut addrs: HashMap<IpAddr, usize> = HashMap::new();
    let servers = spec.nodes.iter().filter(|n| n.role == Role::Server).count();

    if spec.nodes.is_empty() {
        c.err(
            root.key("cluster"),
            "the cluster has no nodes",
            "add at least one [[nodes]] table with role = \"server\"",
        );
    } else if servers == 0 {
        c.err(
            root.key("nodes").idx(0).key("role"),
            "the cluster has no server node",
            "set role = \"server\" on at least one node",
        );
    } else if spec.nodes.len() > 1 && spec.servers().next().and_then(|s| s.primary_ip()).is_none() {
        let first = spec
            .nodes
            .iter()
            .position(|n| n.role == Role::Server)
            .unwrap_or(0);
        c.warn(root.key("nodes").idx(first).key("name"), format!("the first server `{}` has no static address; the other nodes join it by that name, which must resolve on their network", spec.nodes[first].name), "give it network = { addresses = [...] }, or make sure DNS resolves the name");
    }
    if servers > 1 && spec.cluster.datastore == Datastore::Sqlite {
        c.err(root.key("cluster").key("datastore"), format!("datastore = \"sqlite\" serves one k3s server, but {servers} nodes have role = \"server\""), "use datastore = \"etcd\" (the default) for several servers, or keep one server");
    }
    if servers > 0 && servers % 2 == 0 {
        c.warn(root.key("nodes"), format!("{servers} servers: embedded etcd needs a majority, so an even count tolerates no more failures than {} would", servers - 1), "use an odd number of servers (1, 3 or 5)");
    }

    for (i, n) in spec.nodes.iter().enumerate() {
        let p = root.key("nodes").idx(i);
        if !is_dns_label(&n.name) {
            c.err(
                p.key("name"),
                format!("node name `{}` is not a DNS label", n.name),
                "use 1-63 lower-case letters, digits and `-`, not starting or ending with `-`",
            );
        } else if let Some(first) = names.insert(&n.name, i) {
            c.err(
                p.key("name"),
                format!("node name `{}` is already used by nodes[{first}]", n.name),
                "give every node a unique name",
            );
        }
        for (j, m) in n.macs.iter().enumerate() {
            match normalize_mac(m) {
                None => c.err(
                    p.key("macs").idx(j),
                    format!("`{m}` is not a MAC address"),
                    "write six hex pairs separated by `:`, e.g. \"52:54:00:12:34:56\"",
                ),
                Some(norm) => {
                    if let Some(first) = macs.insert(norm.clone(), i) {
                        c.err(
                            p.key("macs").idx(j),
                            format!(
                                "MAC {norm} is already used by nodes[{first}] (`{}`)",
                                spec.nodes[first].name
                            ),
                            "each MAC identifies one machine; remove the duplicate",
                        );
                    }
                }
            }
        }
        if let Some(sel) = &n.install_disk {
            check_selector(c, &p.key("install_disk"), sel);
        }
        check_osd(c, &p, n, spec.bundle.storage);
        check_labels_taints(c, &p, n);
        if let Some(sn) = &n.network {
            check_static(c, &p.key("network"), sn, pod_nets, &mut addrs, i);
        }
    }
}

fn check_selector(c: &mut Checker, p: &KeyPath, sel: &DiskSelector) {
    let matchers = sel.min_size_gib.is_some()
        || sel.max_size_gib.is_some()
        || sel.model.is_some()
        || sel.serial.is_some();
    match &sel.by_id {
        Some(id) if matchers => c.err(
            p.key("by_id"),
            format!("install_disk gives both by_id `{id}` and match rules"),
            "use either by_id or min_size_gib/max_size_gib/model/serial, not both",
        ),
        Some(id) if !id.starts_with("/dev/disk/by-id/") => c.err(
            p.key("by_id"),
            format!("install_disk by_id `{id}` is not under /dev/disk/by-id/"),
            "use the stable /dev/disk/by-id/... name; /dev/sdX names change between boots",
        ),
        None if !matchers => c.err(
            p.clone(),
            "install_disk selects nothing",
            "set by_id, or at least one of min_size_gib, max_size_gib, model, serial",
        ),
        _ => {}
    }
    if let (Some(lo), Some(hi)) = (sel.min_size_gib, sel.max_size_gib) {
        if lo > hi {
            c.err(
                p.key("min_size_gib"),
                format!("min_size_gib {lo} is larger than max_size_gib {hi}"),
                "swap the two bounds",
            );
        }
    }
}

fn check_osd(c: &mut Checker, p: &KeyPath, n: &NodeSpec, storage: StorageDriver) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (j, d) in n.osd_disks.iter().enumerate() {
        let dp = p.key("osd_disks").idx(j);
        for pr in super::validate_osd::osd_disk_problems(d) {
            c.err(dp.key(pr.field), pr.message, pr.fix);
        }
        if let Some(first) = seen.insert(&d.by_id, j) {
            c.err(
                dp.key("by_id"),
                format!(
                    "OSD disk `{}` is already listed as osd_disks[{first}]",
                    d.by_id
                ),
                "list each disk once",
            );
        }
    }
    if !n.osd_disks.is_empty() && storage != StorageDriver::RookCeph {
        c.warn(p.key("osd_disks"), format!("node `{}` declares OSD disks but storage is {}", n.name, storage.as_str()), "set bundle.storage = \"rook-ceph\" or remove the disks; they will still be checked and prepared");
    }
}

fn check_labels_taints(c: &mut Checker, p: &KeyPath, n: &NodeSpec) {
    for k in n.labels.keys() {
        let name = k.rsplit('/').next().unwrap_or(k);
        let ok_name = !name.is_empty()
            && name.len() <= 63
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !ok_name || k.matches('/').count() > 1 {
            c.err(
                p.key("labels").key(k),
                format!("label key `{k}` is not a valid Kubernetes label key"),
                "use [prefix/]name with name of at most 63 letters, digits, `-`, `_` or `.`",
            );
        }
    }
    for (j, t) in n.taints.iter().enumerate() {
        let ok = t.split_once(':').is_some_and(|(kv, eff)| {
            let key = kv.split('=').next().unwrap_or("");
            !key.is_empty() && TAINT_EFFECTS.contains(&eff)
        });
        if !ok {
            c.err(p.key("taints").idx(j), format!("taint `{t}` is not in key[=value]:Effect form"), "write e.g. \"dedicated=storage:NoSchedule\"; Effect is NoSchedule, PreferNoSchedule or NoExecute");
        }
    }
}

fn check_static(
    c: &mut Checker,
    p: &KeyPath,
    sn: &StaticNetwork,
    pod_nets: &[(&str, IpNet)],
    addrs: &mut HashMap<IpAddr, usize>,
    node: usize,
) {
    if sn.addresses.is_empty() {
        c.err(
            p.key("addresses"),
            "static network has no addresses",
            "add addresses = [\"192.0.2.11/24\"], or remove [nodes.network] to use DHCP",
        );
    }
    let mut subnets = Vec::new();
    for (j, a) in sn.addresses.iter().enumerate() {
        match a.parse::<IpNet>() {
            Err(_) => c.err(
                p.key("addresses").idx(j),
                format!("address `{a}` is not in address/prefix form"),
                "write e.g. \"192.0.2.11/24\"",
            ),
            Ok(net) => {
                for (name, pn) in pod_nets {
                    if overlaps(&net, pn) {
                        c.err(
                            p.key("addresses").idx(j),
                            format!("address {a} overlaps {name} {pn}"),
                            format!("move the node network or change network.{name}"),
                        );
                    }
                }
                if let Some(first) = addrs.insert(net.addr(), node) {
                    c.err(
                        p.key("addresses").idx(j),
                        format!("address {} is already used by nodes[{first}]", net.addr()),
                        "give every node its own address",
                    );
                }
                subnets.push(net);
            }
        }
    }
    if let Some(gw) = &sn.gateway {
        match gw.parse::<IpAddr>() {
            Err(_) => c.err(
                p.key("gateway"),
                format!("gateway `{gw}` is not an IP address"),
                "write a single address, e.g. \"192.0.2.1\"",
            ),
            Ok(ip) if !subnets.is_empty() && !subnets.iter().any(|s| s.contains(&ip)) => c.err(
                p.key("gateway"),
                format!("gateway {ip} is not on any of the node's subnets"),
                "use a router address inside one of the addresses' prefixes",
            ),
            _ => {}
        }
    }
    for (j, d) in sn.dns.iter().enumerate() {
        if d.parse::<IpAddr>().is_err() {
            c.err(
                p.key("dns").idx(j),
                format!("dns server `{d}` is not an IP address"),
                "write resolver addresses, e.g. \"192.0.2.1\"",
            );
        }
    }
}
