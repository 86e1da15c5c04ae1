//! NoCloud `network-config`, version 1 or 2 (cloud-init's network_state.py), to the agent's
//! `agent.network_config` links. Bonds, bridges, VLANs and wifi are refused by name.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_yaml_ng::Value as Yaml;

use super::{kind, mapping, yaml, Mapped};

/// One link to configure, matched by MAC or name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct NetLink {
    /// The config's own name for the link (v2 id, v1 name).
    pub id: String,
    pub match_mac: Option<String>,
    /// Interface name or glob.
    pub match_name: Option<String>,
    pub match_driver: Option<String>,
    /// Renames the link (a systemd .link file, applied when udev next sees it).
    pub set_name: Option<String>,
    pub dhcp4: bool,
    pub dhcp6: bool,
    /// Static addresses in CIDR form.
    pub addresses: Vec<String>,
    pub gateway4: Option<String>,
    pub gateway6: Option<String>,
    pub routes: Vec<NetRoute>,
    pub dns: Vec<String>,
    pub search: Vec<String>,
    pub mtu: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct NetRoute {
    /// Destination in CIDR form (`default` is written as 0.0.0.0/0 or ::/0).
    pub to: String,
    pub via: Option<String>,
    pub metric: Option<u32>,
}

pub(super) fn refused(src: &str, what: &str) -> String {
    format!("{src}: {what} are not supported by KatesKit; configure the physical links only (ethernets / type physical), or stamp a NodeConfig")
}

pub(super) fn text(v: Option<&Yaml>, src: &str) -> Result<Option<String>, String> {
    match v {
        None | Some(Yaml::Null) => Ok(None),
        Some(Yaml::String(s)) => Ok(Some(s.clone())),
        Some(Yaml::Number(n)) => Ok(Some(n.to_string())),
        Some(o) => Err(format!("{src}: expected text, found {}", kind(o))),
    }
}

pub(super) fn num(v: Option<&Yaml>, src: &str) -> Result<Option<u32>, String> {
    match v {
        None | Some(Yaml::Null) => Ok(None),
        Some(Yaml::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| format!("{src}: `{n}` is not a positive number")),
        Some(Yaml::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| format!("{src}: `{s}` is not a number")),
        Some(o) => Err(format!("{src}: expected a number, found {}", kind(o))),
    }
}

pub(super) fn flag(v: Option<&Yaml>) -> bool {
    match v {
        Some(Yaml::Bool(b)) => *b,
        Some(Yaml::String(s)) => matches!(s.to_ascii_lowercase().as_str(), "true" | "yes" | "on"),
        _ => false,
    }
}

pub(super) fn ip(s: &str, src: &str, what: &str) -> Result<String, String> {
    s.parse::<std::net::IpAddr>()
        .map(|_| s.to_string())
        .map_err(|_| format!("{src}: {what} `{s}` is not an IP address"))
}

/// `addr` with a prefix: already CIDR, or with a dotted `netmask`, or a host address.
pub(super) fn cidr(addr: &str, netmask: Option<&str>, src: &str) -> Result<String, String> {
    let bad = || {
        format!("{src}: address `{addr}` is not an IP address in CIDR form (e.g. 192.0.2.11/24)")
    };
    if addr.contains('/') {
        addr.parse::<ipnet::IpNet>().map_err(|_| bad())?;
        return Ok(addr.to_string());
    }
    let a: std::net::IpAddr = addr.parse().map_err(|_| bad())?;
    let prefix = match netmask {
        Some(m) if m.contains('.') => {
            let bits = u32::from(
                m.parse::<std::net::Ipv4Addr>()
                    .map_err(|_| format!("{src}: netmask `{m}` is not dotted"))?,
            );
            if bits.leading_ones() + bits.trailing_zeros() != 32 {
                return Err(format!("{src}: netmask {m} is not contiguous"));
            }
            bits.leading_ones()
        }
        Some(m) => m
            .parse()
            .map_err(|_| format!("{src}: netmask `{m}` is neither dotted nor a prefix length"))?,
        None if a.is_ipv4() => 32,
        None => 128,
    };
    Ok(format!("{a}/{prefix}"))
}

pub(super) fn route_to(to: &str, src: &str) -> Result<String, String> {
    if to == "default" {
        return Ok("0.0.0.0/0".into());
    }
    cidr(to, None, src)
}

/// Maps `network-config` into `m`: `agent.network_config`, and `node.network` cleared so the
/// drive's network replaces a static address from a lower rung (an `ip=` argument still wins).
pub fn map(m: &mut Mapped, bytes: &[u8], src: &str) -> Result<(), String> {
    let doc = yaml(bytes, src)?;
    let top = mapping(&doc, src)?;
    let top = match top.get("network") {
        Some(n) => mapping(n, &format!("{src} network"))?,
        None => top,
    };
    if top.get("config").and_then(Yaml::as_str) == Some("disabled") {
        m.warnings.push(format!(
            "{src}: `config: disabled`; the agent's default (DHCP on wired links) applies"
        ));
        return Ok(());
    }
    let links = match top.get("version") {
        Some(Yaml::Number(n)) if n.as_u64() == Some(1) => super::network_v1::map(m, top, src)?,
        Some(Yaml::Number(n)) if n.as_u64() == Some(2) => super::network_v2::map(m, top, src)?,
        other => {
            return Err(format!(
            "{src}: version {} is not 1 or 2; write `version: 2` (netplan form) or `version: 1`",
            other.map(super::to_json).unwrap_or(json!("missing"))
        ))
        }
    };
    if links.is_empty() {
        return Ok(());
    }
    m.set("agent", "network_config", json!(links), src);
    m.set("node", "network", serde_json::Value::Null, src);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(doc: &str) -> Result<(Vec<NetLink>, Vec<String>), String> {
        let mut m = Mapped::new();
        map(&mut m, doc.as_bytes(), "nc")?;
        let l = m
            .layer
            .tree
            .pointer("/agent/network_config")
            .cloned()
            .unwrap_or(json!([]));
        Ok((serde_json::from_value(l).unwrap(), m.warnings))
    }

    #[test]
    fn v2_static_by_mac() {
        let (l, w) = links("version: 2\nethernets:\n  id0:\n    match: {macaddress: '52:54:00:AA:00:01'}\n    set-name: lan0\n    addresses: [192.0.2.10/24]\n    gateway4: 192.0.2.1\n    routes: [{to: 198.51.100.0/24, via: 192.0.2.254, metric: 5}]\n    nameservers: {addresses: [192.0.2.53], search: [example.org]}\n").unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(l[0].match_mac.as_deref(), Some("52:54:00:aa:00:01"));
        assert_eq!(l[0].set_name.as_deref(), Some("lan0"));
        assert_eq!(l[0].addresses, ["192.0.2.10/24"]);
        assert_eq!(l[0].gateway4.as_deref(), Some("192.0.2.1"));
        assert_eq!(
            l[0].routes[0],
            NetRoute {
                to: "198.51.100.0/24".into(),
                via: Some("192.0.2.254".into()),
                metric: Some(5)
            }
        );
        assert_eq!(
            (l[0].dns.clone(), l[0].search.clone()),
            (
                vec!["192.0.2.53".to_string()],
                vec!["example.org".to_string()]
            )
        );
        let (l, _) =
            links("network:\n  version: 2\n  ethernets:\n    eth0: {dhcp4: true}\n").unwrap();
        assert_eq!(
            (l[0].match_name.as_deref(), l[0].dhcp4),
            (Some("eth0"), true)
        );
    }

    #[test]
    fn v1_static_nameserver_and_route() {
        let (l, _) = links("version: 1\nconfig:\n- type: physical\n  name: eth0\n  mac_address: '52:54:00:aa:00:01'\n  subnets:\n  - type: static\n    address: 192.0.2.10\n    netmask: 255.255.255.0\n    gateway: 192.0.2.1\n    dns_search: [a.example]\n- type: nameserver\n  address: [192.0.2.53]\n  search: [example.org]\n- type: route\n  destination: 198.51.100.0/24\n  gateway: 192.0.2.254\n").unwrap();
        assert_eq!(l[0].addresses, ["192.0.2.10/24"]);
        assert_eq!(l[0].set_name.as_deref(), Some("eth0"));
        assert_eq!(l[0].dns, ["192.0.2.53"]);
        assert_eq!(l[0].search, ["a.example", "example.org"]);
        assert_eq!(l[0].routes[0].to, "198.51.100.0/24");
    }

    #[test]
    fn bonds_bridges_vlans_are_refused() {
        for doc in [
            "version: 2\nbonds: {bond0: {interfaces: [a]}}\n",
            "version: 2\nbridges: {br0: {}}\n",
            "version: 2\nvlans: {v1: {id: 1, link: a}}\n",
            "version: 1\nconfig: [{type: bond, name: b}]\n",
        ] {
            let e = links(doc).unwrap_err();
            assert!(e.contains("are not supported by KatesKit"), "{e}");
        }
        assert!(links("version: 3\n").unwrap_err().contains("is not 1 or 2"));
    }
}
