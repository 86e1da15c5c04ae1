//! network-config version 2 (netplan form): `ethernets` only.

use serde_yaml_ng::{Mapping, Value as Yaml};

use super::network::{cidr, flag, ip, num, refused, route_to, text, NetLink, NetRoute};
use super::{key_str, mapping, strings, Mapped};

/// The links of a version 2 document; bonds, bridges, VLANs and wifi are refused.
pub fn map(m: &mut Mapped, top: &Mapping, src: &str) -> Result<Vec<NetLink>, String> {
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
