//! Static network first: `ip=` kernel arguments and `node.network` become systemd-networkd
//! files before anything is fetched; DHCP on wired links otherwise.

use std::net::Ipv4Addr;

use serde_json::{json, Value};

use crate::agent::ladder::merge::Layer;
use crate::agent::ladder::nocloud::network::NetLink;
use crate::agent::AgentEnv;
use crate::spec::StaticNetwork;

pub const NETWORK_DIR: &str = "etc/systemd/network";
pub const STATIC_FILE: &str = "10-kateskit-static.network";
pub const DHCP_FILE: &str = "99-kateskit-dhcp.network";

/// Parses `ip=<client>:<server>:<gw>:<netmask>:<hostname>:<iface>:<autoconf>[:<dns0>[:<dns1>]]`
/// into a layer (node.network, host.hostname); `ip=dhcp` and friends give an empty layer.
pub fn ip_arg(value: &str, src: &str) -> Result<Layer, String> {
    let arg = format!("kernel argument ip={value} (from {src})");
    let f: Vec<&str> = value.split(':').collect();
    if f.len() < 2 {
        return match value {
            "dhcp" | "on" | "any" | "dhcp6" | "auto6" | "off" | "none" => Ok(Layer::default()),
            _ => Err(format!("{arg}: expected ip=<client>::<gateway>:<netmask>:<hostname>:<iface>:none[:<dns>] or ip=dhcp")),
        };
    }
    let get = |i: usize| f.get(i).copied().filter(|s| !s.is_empty());
    let bad = |what: &str, v: &str| {
        format!("{arg}: {what} `{v}` is not an IPv4 address (IPv6 is not supported in ip=)")
    };
    let client = get(0).ok_or_else(|| format!("{arg}: no client address; use ip=dhcp for DHCP"))?;
    let client: Ipv4Addr = client.parse().map_err(|_| bad("client address", client))?;
    let prefix =
        match get(3) {
            None => 24,
            Some(m) if m.contains('.') => {
                let mask: Ipv4Addr = m.parse().map_err(|_| bad("netmask", m))?;
                let bits = u32::from(mask);
                if bits.leading_ones() + bits.trailing_zeros() != 32 {
                    return Err(format!("{arg}: netmask {m} is not contiguous"));
                }
                bits.leading_ones()
            }
            Some(m) => m.parse::<u32>().ok().filter(|p| *p <= 32).ok_or_else(|| {
                format!("{arg}: netmask `{m}` is neither dotted nor a prefix length")
            })?,
        };
    let mut net = json!({"addresses": [format!("{client}/{prefix}")], "dns": []});
    if let Some(gw) = get(2) {
        gw.parse::<Ipv4Addr>().map_err(|_| bad("gateway", gw))?;
        net["gateway"] = json!(gw);
    }
    if let Some(iface) = get(5) {
        net["interface"] = json!(iface);
    }
    if let Some(auto) = get(6).filter(|a| !matches!(*a, "none" | "off" | "static")) {
        return Err(format!("{arg}: autoconf `{auto}` with a static address is not supported; use `none`, or ip=dhcp"));
    }
    let dns: Vec<&str> = [get(7), get(8)].into_iter().flatten().collect();
    for d in &dns {
        d.parse::<Ipv4Addr>().map_err(|_| bad("DNS server", d))?;
    }
    net["dns"] = json!(dns);
    let mut tree = json!({"node": {"network": net}});
    if let Some(h) = get(4) {
        tree["host"] = json!({"hostname": h});
    }
    Ok(Layer::uniform(tree, &arg))
}

/// The networkd files for a node: (file name, contents). Fails closed on an unusable link match.
pub fn render(
    env: &AgentEnv,
    net: Option<&StaticNetwork>,
    macs: &[String],
    source: &str,
) -> Result<Vec<(String, String)>, String> {
    let Some(net) = net else {
        let dhcp = "# Written by kateskit: no static address declared, so DHCP on wired links.\n[Match]\nType=ether\nName=en* eth*\n\n[Network]\nDHCP=yes\n";
        return Ok(vec![(DHCP_FILE.into(), dhcp.into())]);
    };
    let links = links(env);
    let matcher = match (&net.interface, macs.first()) {
        (Some(i), _) => {
            if !links.is_empty() && !links.iter().any(|(n, _)| n == i) {
                let have: Vec<&str> = links.iter().map(|(n, _)| n.as_str()).collect();
                return Err(format!("{source}: interface `{i}` does not exist on this machine (have: {}); fix node.network.interface", have.join(", ")));
            }
            format!("Name={i}")
        }
        (None, Some(mac)) => {
            if !links.is_empty() && !links.iter().any(|(_, m)| m.eq_ignore_ascii_case(mac)) {
                return Err(format!("{source}: no interface has MAC {mac} (node.macs[0]); fix node.macs or set node.network.interface"));
            }
            format!("MACAddress={}", mac.to_ascii_lowercase())
        }
        (None, None) => {
            return Err(format!(
            "{source}: static addresses need node.network.interface or node.macs to pick the link"
        ))
        }
    };
    if net.addresses.is_empty() {
        return Err(format!("{source}: node.network.addresses is empty; give at least one CIDR address or drop node.network for DHCP"));
    }
    let mut s = format!("# Written by kateskit from {source}.\n[Match]\n{matcher}\n\n[Network]\n");
    for a in &net.addresses {
        a.parse::<ipnet::IpNet>().map_err(|_| {
            format!("{source}: address `{a}` is not in CIDR form (e.g. 192.0.2.11/24)")
        })?;
        s.push_str(&format!("Address={a}\n"));
    }
    if let Some(gw) = &net.gateway {
        gw.parse::<std::net::IpAddr>()
            .map_err(|_| format!("{source}: gateway `{gw}` is not an IP address"))?;
        s.push_str(&format!("Gateway={gw}\n"));
    }
    for d in &net.dns {
        d.parse::<std::net::IpAddr>()
            .map_err(|_| format!("{source}: DNS server `{d}` is not an IP address"))?;
        s.push_str(&format!("DNS={d}\n"));
    }
    Ok(vec![(STATIC_FILE.into(), s)])
}

/// The networkd files for the whole config: `node.network` when set (an `ip=` argument, a
/// stamped static address), else a NoCloud network-config's links, else DHCP.
pub fn render_with_links(
    env: &AgentEnv,
    net: Option<&StaticNetwork>,
    nocloud: &[NetLink],
    macs: &[String],
    source: &str,
    nocloud_source: &str,
) -> Result<Vec<(String, String)>, String> {
    if net.is_none() && !nocloud.is_empty() {
        return crate::agent::ladder::nocloud::networkd::render(
            nocloud,
            &links(env),
            nocloud_source,
        );
    }
    render(env, net, macs, source)
}

/// The NoCloud links of a partial tree.
pub fn partial_links(tree: &Value) -> Vec<NetLink> {
    tree.pointer("/agent/network_config")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

/// Network links under `<root>/sys/class/net` with their MACs (empty when sysfs is absent).
pub fn links(env: &AgentEnv) -> Vec<(String, String)> {
    let dir = env.path("sys/class/net");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = rd
        .filter_map(|e| e.ok())
        .map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let mac = std::fs::read_to_string(dir.join(&n).join("address"))
                .unwrap_or_default()
                .trim()
                .to_string();
            (n, mac)
        })
        .collect();
    out.sort();
    out
}

/// Writes the files, removes kateskit files no longer wanted; true if anything changed.
pub fn apply(env: &AgentEnv, files: &[(String, String)]) -> Result<bool, crate::agent::AgentError> {
    let dir = env.path(NETWORK_DIR);
    let mut changed = false;
    for (name, body) in files {
        changed |=
            crate::agent::phases::host::write_if_changed(&dir.join(name), body.as_bytes(), 0o644)?;
    }
    let mut stale: Vec<String> = vec![STATIC_FILE.into(), DHCP_FILE.into()];
    if let Ok(rd) = std::fs::read_dir(&dir) {
        stale.extend(
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(crate::agent::ladder::nocloud::networkd::PREFIX)),
        );
    }
    for stale in &stale {
        let p = dir.join(stale);
        if !files.iter().any(|(n, _)| n == stale) && p.exists() {
            std::fs::remove_file(&p).map_err(|e| crate::fsutil::FsError {
                action: "removing",
                path: p.clone(),
                source: e,
            })?;
            changed = true;
        }
    }
    Ok(changed)
}

/// The static network of a partial tree, for networking before the config_url fetch.
pub fn partial(tree: &Value) -> (Option<StaticNetwork>, Vec<String>) {
    let net = tree
        .pointer("/node/network")
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    let macs = tree
        .pointer("/node/macs")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    (net, macs)
}

/// Renders the static network the local sources declare (kernel `ip=`, `node.network`, a
/// drive's network-config) before anything is fetched, so a `config_url` reachable only
/// through a static address can be fetched. Nothing declared: nothing written.
pub fn apply_local(env: &AgentEnv, tree: &Value) -> Result<(), crate::agent::AgentError> {
    let (net, macs) = partial(tree);
    let links = partial_links(tree);
    if net.is_none() && links.is_empty() {
        return Ok(());
    }
    let src = "the local config sources";
    let files = render_with_links(env, net.as_ref(), &links, &macs, src, src)
        .map_err(crate::agent::AgentError::Network)?;
    if apply(env, &files)? {
        reload(env)?;
    }
    Ok(())
}

/// Asks networkd to pick up changed files.
fn reload(env: &AgentEnv) -> Result<(), crate::agent::AgentError> {
    crate::agent::phases::systemctl(env, &["try-reload-or-restart", "systemd-networkd.service"])
        .map_err(crate::agent::AgentError::Network)
}

/// The network phase: the effective config's static network (or the drive's network-config)
/// as systemd-networkd files; networkd is reloaded only when a file changed.
pub(super) fn run(
    env: &AgentEnv,
    st: &mut crate::agent::phases::RunState,
) -> Result<crate::agent::phases::Finished, crate::agent::AgentError> {
    let cfg = st.effective.as_ref().expect("discover succeeded");
    let n = &cfg.node;
    let src = cfg
        .merged
        .source_of("node.network")
        .unwrap_or("no static address declared")
        .to_string();
    let links = &cfg.agent.network_config;
    let nc_src = cfg
        .merged
        .source_of("agent.network_config")
        .unwrap_or("network-config");
    if n.node.network.is_some() && !links.is_empty() {
        st.warnings.push(format!(
            "{nc_src}: not applied: node.network from {src} takes precedence"
        ));
    }
    let files = render_with_links(
        env,
        n.node.network.as_ref(),
        links,
        &n.node.macs,
        &src,
        nc_src,
    )
    .map_err(crate::agent::AgentError::Network)?;
    if apply(env, &files)? {
        reload(env)?;
    }
    Ok(crate::agent::phases::Finished::Done(
        files
            .iter()
            .map(|(f, _)| f.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfsroot_style_ip_argument() {
        let l = ip_arg(
            "192.0.2.21::192.0.2.1:255.255.255.0:a1:eth0:none:192.0.2.53",
            "/proc/cmdline",
        )
        .unwrap();
        assert_eq!(
            l.tree,
            json!({"node": {"network": {"addresses": ["192.0.2.21/24"], "dns": ["192.0.2.53"], "gateway": "192.0.2.1", "interface": "eth0"}}, "host": {"hostname": "a1"}})
        );
        assert!(ip_arg("dhcp", "x").unwrap().is_empty());
        assert!(ip_arg("192.0.2.300::::", "x")
            .unwrap_err()
            .contains("client address `192.0.2.300`"));
        assert!(ip_arg("192.0.2.2::192.0.2.1:255.0.255.0::eth0:none", "x")
            .unwrap_err()
            .contains("not contiguous"));
    }
}
