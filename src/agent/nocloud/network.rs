//! NoCloud `network-config`, version 1 or 2 (cloud-init's network_state.py), to the agent's
//! `agent.network_config` links. Bonds, bridges, VLANs and wifi are refused by name.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_yaml_ng::{Mapping, Value as Yaml};

use super::{key_str, kind, mapping, strings, yaml, Mapped};

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

fn refused(src: &str, what: &str) -> String {
    format!("{src}: {what} are not supported by KatesKit; configure the physical links only (ethernets / type physical), or stamp a NodeConfig")
}

fn text(v: Option<&Yaml>, src: &str) -> Result<Option<String>, String> {
    match v {
        None | Some(Yaml::Null) => Ok(None),
        Some(Yaml::String(s)) => Ok(Some(s.clone())),
        Some(Yaml::Number(n)) => Ok(Some(n.to_string())),
        Some(o) => Err(format!("{src}: expected text, found {}", kind(o))),
    }
}

fn num(v: Option<&Yaml>, src: &str) -> Result<Option<u32>, String> {
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

fn flag(v: Option<&Yaml>) -> bool {
    match v {
        Some(Yaml::Bool(b)) => *b,
        Some(Yaml::String(s)) => matches!(s.to_ascii_lowercase().as_str(), "true" | "yes" | "on"),
        _ => false,
    }
}

fn ip(s: &str, src: &str, what: &str) -> Result<String, String> {
    s.parse::<std::net::IpAddr>()
        .map(|_| s.to_string())
        .map_err(|_| format!("{src}: {what} `{s}` is not an IP address"))
}

/// `addr` with a prefix: already CIDR, or with a dotted `netmask`, or a host address.
fn cidr(addr: &str, netmask: Option<&str>, src: &str) -> Result<String, String> {
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

fn route_to(to: &str, src: &str) -> Result<String, String> {
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
        Some(Yaml::Number(n)) if n.as_u64() == Some(1) => v1(m, top, src)?,
        Some(Yaml::Number(n)) if n.as_u64() == Some(2) => v2(m, top, src)?,
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

fn v2(m: &mut Mapped, top: &Mapping, src: &str) -> Result<Vec<NetLink>, String> {
    let mut out = Vec::new();
    for (k, v) in top {
        match key_str(k).as_str() {
            "version" | "renderer" => {}
            "ethernets" => {
                let eths = mapping(v, &format!("{src} ethernets"))?;
                for (id, e) in eths {
                    let id = key_str(id);
                    out.push(v2_link(
                        m,
                        &id,
                        mapping(e, &format!("{src} ethernets.{id}"))?,
                        &format!("{src} ethernets.{id}"),
                    )?);
                }
            }
            "bonds" => return Err(refused(src, "bonds")),
            "bridges" => return Err(refused(src, "bridges")),
            "vlans" => return Err(refused(src, "VLANs")),
            "wifis" => return Err(refused(src, "wifi links")),
            other => m.unmapped(src, other, "no networkd equivalent in KatesKit"),
        }
    }
    Ok(out)
}

fn v2_link(m: &mut Mapped, id: &str, e: &Mapping, src: &str) -> Result<NetLink, String> {
    let mut l = NetLink {
        id: id.to_string(),
        ..Default::default()
    };
    for (k, v) in e {
        let key = key_str(k);
        let ks = format!("{src}.{key}");
        match key.as_str() {
            "match" => {
                for (mk, mv) in mapping(v, &ks)? {
                    match key_str(mk).as_str() {
                        "macaddress" => {
                            l.match_mac = text(Some(mv), &ks)?.map(|s| s.to_ascii_lowercase())
                        }
                        "name" => l.match_name = text(Some(mv), &ks)?,
                        "driver" => l.match_driver = text(Some(mv), &ks)?,
                        other => {
                            m.unmapped(&ks, other, "networkd matching by MAC, name and driver only")
                        }
                    }
                }
            }
            "set-name" => l.set_name = text(Some(v), &ks)?,
            "dhcp4" => l.dhcp4 = flag(Some(v)),
            "dhcp6" => l.dhcp6 = flag(Some(v)),
            "addresses" => {
                for (i, a) in v
                    .as_sequence()
                    .ok_or_else(|| format!("{ks}: expected a list"))?
                    .iter()
                    .enumerate()
                {
                    match a {
                        Yaml::String(s) => l.addresses.push(cidr(s, None, &format!("{ks}[{i}]"))?),
                        _ => return Err(format!("{ks}[{i}]: only addresses in CIDR form are supported (no lifetime or label)")),
                    }
                }
            }
            "gateway4" => {
                l.gateway4 = text(Some(v), &ks)?
                    .map(|g| ip(&g, &ks, "gateway"))
                    .transpose()?
            }
            "gateway6" => {
                l.gateway6 = text(Some(v), &ks)?
                    .map(|g| ip(&g, &ks, "gateway"))
                    .transpose()?
            }
            "routes" => {
                for (i, r) in v
                    .as_sequence()
                    .ok_or_else(|| format!("{ks}: expected a list"))?
                    .iter()
                    .enumerate()
                {
                    let rs = format!("{ks}[{i}]");
                    let r = mapping(r, &rs)?;
                    let to = text(r.get("to"), &rs)?.ok_or_else(|| format!("{rs}: has no `to`"))?;
                    l.routes.push(NetRoute {
                        to: route_to(&to, &rs)?,
                        via: text(r.get("via"), &rs)?
                            .map(|g| ip(&g, &rs, "via"))
                            .transpose()?,
                        metric: num(r.get("metric"), &rs)?,
                    });
                    for rk in r
                        .keys()
                        .map(key_str)
                        .filter(|k| !["to", "via", "metric"].contains(&k.as_str()))
                    {
                        m.unmapped(&rs, &rk, "routes carry to, via and metric only");
                    }
                }
            }
            "nameservers" => {
                let ns = mapping(v, &ks)?;
                for a in strings(
                    ns.get("addresses").unwrap_or(&Yaml::Null),
                    &format!("{ks}.addresses"),
                )? {
                    l.dns.push(ip(&a, &ks, "name server")?);
                }
                l.search.extend(strings(
                    ns.get("search").unwrap_or(&Yaml::Null),
                    &format!("{ks}.search"),
                )?);
            }
            "mtu" => l.mtu = num(Some(v), &ks)?,
            other => m.unmapped(src, other, "not rendered to networkd by KatesKit"),
        }
    }
    if l.match_mac.is_none() && l.match_name.is_none() && l.match_driver.is_none() {
        // netplan: without `match`, the id is the interface name.
        l.match_name = Some(id.to_string());
    }
    Ok(l)
}

fn v1(m: &mut Mapped, top: &Mapping, src: &str) -> Result<Vec<NetLink>, String> {
    let items = top
        .get("config")
        .and_then(Yaml::as_sequence)
        .ok_or_else(|| format!("{src}: version 1 needs a `config` list"))?;
    let mut out = Vec::new();
    let (mut dns, mut search, mut routes) = (Vec::new(), Vec::new(), Vec::new());
    for (i, it) in items.iter().enumerate() {
        let is = format!("{src} config[{i}]");
        let it = mapping(it, &is)?;
        match it.get("type").and_then(Yaml::as_str) {
            Some("physical") => out.push(v1_physical(m, it, &is)?),
            Some("nameserver") => {
                for a in strings(it.get("address").unwrap_or(&Yaml::Null), &is)? {
                    dns.push(ip(&a, &is, "name server")?);
                }
                search.extend(strings(it.get("search").unwrap_or(&Yaml::Null), &is)?);
            }
            Some("route") => routes.push(v1_route(it, &is)?),
            Some("bond") => return Err(refused(&is, "bonds")),
            Some("bridge") => return Err(refused(&is, "bridges")),
            Some("vlan") => return Err(refused(&is, "VLANs")),
            Some(other) => {
                return Err(format!(
                    "{is}: type `{other}` is not supported (physical, nameserver, route)"
                ))
            }
            None => return Err(format!("{is}: has no type")),
        }
    }
    // Global name servers and routes go on every link that has a static or DHCP config.
    for l in &mut out {
        l.dns.extend(dns.iter().cloned());
        l.search.extend(search.iter().cloned());
        if !l.addresses.is_empty() {
            l.routes.extend(routes.iter().cloned());
        }
    }
    Ok(out)
}

fn v1_route(r: &Mapping, src: &str) -> Result<NetRoute, String> {
    let dest = text(r.get("destination").or(r.get("network")), src)?
        .ok_or_else(|| format!("{src}: route has no destination"))?;
    let mask = text(r.get("netmask"), src)?;
    let to = if dest == "default" {
        "0.0.0.0/0".into()
    } else {
        cidr(&dest, mask.as_deref(), src)?
    };
    Ok(NetRoute {
        to,
        via: text(r.get("gateway"), src)?
            .map(|g| ip(&g, src, "gateway"))
            .transpose()?,
        metric: num(r.get("metric"), src)?,
    })
}

fn v1_physical(m: &mut Mapped, it: &Mapping, src: &str) -> Result<NetLink, String> {
    let name =
        text(it.get("name"), src)?.ok_or_else(|| format!("{src}: a physical link needs a name"))?;
    let mac = text(it.get("mac_address"), src)?.map(|s| s.to_ascii_lowercase());
    let mut l = NetLink {
        id: name.clone(),
        mtu: num(it.get("mtu"), src)?,
        ..Default::default()
    };
    // v1 names the link: with a MAC, the link of that MAC is renamed to `name`.
    match mac {
        Some(mac) => {
            l.match_mac = Some(mac);
            l.set_name = Some(name);
        }
        None => l.match_name = Some(name),
    }
    for k in it
        .keys()
        .map(key_str)
        .filter(|k| !["type", "name", "mac_address", "mtu", "subnets"].contains(&k.as_str()))
    {
        m.unmapped(src, &k, "not rendered to networkd by KatesKit");
    }
    let subnets = it
        .get("subnets")
        .and_then(Yaml::as_sequence)
        .cloned()
        .unwrap_or_default();
    for (j, s) in subnets.iter().enumerate() {
        let ss = format!("{src}.subnets[{j}]");
        let s = mapping(s, &ss)?;
        match s.get("type").and_then(Yaml::as_str) {
            Some("dhcp" | "dhcp4") => l.dhcp4 = true,
            Some("dhcp6" | "ipv6_dhcpv6-stateful" | "ipv6_dhcpv6-stateless" | "ipv6_slaac") => l.dhcp6 = true,
            Some("static" | "static6") => {
                let addr = text(s.get("address"), &ss)?.ok_or_else(|| format!("{ss}: static subnet has no address"))?;
                let a = cidr(&addr, text(s.get("netmask"), &ss)?.as_deref(), &ss)?;
                if let Some(g) = text(s.get("gateway"), &ss)? {
                    let g = ip(&g, &ss, "gateway")?;
                    if g.contains(':') { l.gateway6 = Some(g) } else { l.gateway4 = Some(g) }
                }
                l.addresses.push(a);
            }
            Some("manual") => {}
            other => return Err(format!("{ss}: subnet type {} is not supported (static, static6, dhcp, dhcp4, dhcp6, manual)", other.unwrap_or("missing"))),
        }
        for a in strings(s.get("dns_nameservers").unwrap_or(&Yaml::Null), &ss)? {
            l.dns.push(ip(&a, &ss, "name server")?);
        }
        l.search
            .extend(strings(s.get("dns_search").unwrap_or(&Yaml::Null), &ss)?);
        for (r, route) in s
            .get("routes")
            .and_then(Yaml::as_sequence)
            .cloned()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            l.routes.push(v1_route(
                mapping(route, &ss)?,
                &format!("{ss}.routes[{r}]"),
            )?);
        }
        for k in s.keys().map(key_str).filter(|k| {
            ![
                "type",
                "address",
                "netmask",
                "gateway",
                "dns_nameservers",
                "dns_search",
                "routes",
            ]
            .contains(&k.as_str())
        }) {
            m.unmapped(&ss, &k, "not rendered to networkd by KatesKit");
        }
    }
    Ok(l)
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
