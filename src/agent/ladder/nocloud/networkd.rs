//! `agent.network_config` links rendered to systemd-networkd files.

use super::network::NetLink;

/// File names the renderer owns (stale ones are removed when the config changes).
pub const PREFIX: &str = "10-kateskit-nc-";

fn safe(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// (file name, contents) for every link: a `.network` file, plus a `.link` file for `set_name`.
/// `have` are the machine's links (name, MAC); a MAC no link has fails closed.
pub fn render(
    links: &[NetLink],
    have: &[(String, String)],
    source: &str,
) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (i, l) in links.iter().enumerate() {
        let stem = format!("{PREFIX}{i:02}-{}", safe(&l.id));
        let mut matcher = String::new();
        if let Some(mac) = &l.match_mac {
            if !have.is_empty() && !have.iter().any(|(_, m)| m.eq_ignore_ascii_case(mac)) {
                let macs: Vec<&str> = have.iter().map(|(_, m)| m.as_str()).collect();
                return Err(format!("{source}: link `{}` matches MAC {mac}, which no interface has (have: {}); fix the network-config's match", l.id, macs.join(", ")));
            }
            matcher.push_str(&format!("MACAddress={mac}\n"));
        }
        if let Some(n) = &l.match_name {
            matcher.push_str(&format!("Name={n}\n"));
        }
        if let Some(d) = &l.match_driver {
            matcher.push_str(&format!("Driver={d}\n"));
        }
        let mut s = format!(
            "# Written by kateskit from {source} ({}).\n[Match]\n{matcher}\n",
            l.id
        );
        if let Some(mtu) = l.mtu {
            s.push_str(&format!("[Link]\nMTUBytes={mtu}\n\n"));
        }
        s.push_str("[Network]\n");
        s.push_str(match (l.dhcp4, l.dhcp6) {
            (true, true) => "DHCP=yes\n",
            (true, false) => "DHCP=ipv4\n",
            (false, true) => "DHCP=ipv6\n",
            (false, false) => "DHCP=no\n",
        });
        for a in &l.addresses {
            s.push_str(&format!("Address={a}\n"));
        }
        for g in l.gateway4.iter().chain(&l.gateway6) {
            s.push_str(&format!("Gateway={g}\n"));
        }
        for d in &l.dns {
            s.push_str(&format!("DNS={d}\n"));
        }
        if !l.search.is_empty() {
            s.push_str(&format!("Domains={}\n", l.search.join(" ")));
        }
        for r in &l.routes {
            s.push_str(&format!("\n[Route]\nDestination={}\n", r.to));
            if let Some(v) = &r.via {
                s.push_str(&format!("Gateway={v}\n"));
            }
            if let Some(m) = r.metric {
                s.push_str(&format!("Metric={m}\n"));
            }
        }
        out.push((format!("{stem}.network"), s));
        if let Some(name) = &l.set_name {
            let Some(mac) = &l.match_mac else {
                return Err(format!("{source}: link `{}` sets the name {name} without matching a MAC; add match.macaddress", l.id));
            };
            out.push((
                format!("{stem}.link"),
                format!("# Written by kateskit from {source} ({}).\n[Match]\nMACAddress={mac}\n\n[Link]\nName={name}\n", l.id),
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::network::NetRoute;
    use super::*;

    #[test]
    fn renders_static_link_with_route_and_rename() {
        let l = NetLink {
            id: "id0".into(),
            match_mac: Some("52:54:00:aa:00:01".into()),
            set_name: Some("lan0".into()),
            addresses: vec!["192.0.2.10/24".into()],
            gateway4: Some("192.0.2.1".into()),
            dns: vec!["192.0.2.53".into()],
            search: vec!["example.org".into()],
            routes: vec![NetRoute {
                to: "198.51.100.0/24".into(),
                via: Some("192.0.2.254".into()),
                metric: Some(5),
            }],
            ..Default::default()
        };
        let files = render(std::slice::from_ref(&l), &[], "nc").unwrap();
        assert_eq!(files[0].0, "10-kateskit-nc-00-id0.network");
        assert_eq!(files[0].1, "# Written by kateskit from nc (id0).\n[Match]\nMACAddress=52:54:00:aa:00:01\n\n[Network]\nDHCP=no\nAddress=192.0.2.10/24\nGateway=192.0.2.1\nDNS=192.0.2.53\nDomains=example.org\n\n[Route]\nDestination=198.51.100.0/24\nGateway=192.0.2.254\nMetric=5\n");
        assert_eq!(files[1].0, "10-kateskit-nc-00-id0.link");
        assert!(files[1].1.ends_with("[Link]\nName=lan0\n"));
        let e = render(&[l], &[("eth0".into(), "52:54:00:bb:00:01".into())], "nc").unwrap_err();
        assert!(e.contains("which no interface has"), "{e}");
    }
}
