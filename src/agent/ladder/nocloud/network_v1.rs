//! network-config version 1: `physical`, `nameserver` and `route` entries.

use serde_yaml_ng::{Mapping, Value as Yaml};

use super::network::{cidr, ip, num, refused, text, NetLink, NetRoute};
use super::{key_str, mapping, strings, Mapped};

/// The links of a version 1 document; bonds, bridges and VLANs are refused.
pub fn map(m: &mut Mapped, top: &Mapping, src: &str) -> Result<Vec<NetLink>, String> {
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
