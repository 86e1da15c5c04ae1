//! Checks of the load balancer: exactly one of k3s's servicelb and kube-vip answers
//! LoadBalancer Services, and kube-vip has the addresses it announces.

use std::net::IpAddr;

use ipnet::IpNet;

use super::locate::KeyPath;
use super::model::ClusterSpec;
use super::validate::Checker;
use crate::bundle::kube_vip::{INTERFACE, SERVICE_RANGE};

/// The addresses of `first-last` or a CIDR, as an inclusive range; `None` when malformed.
pub fn parse_range(s: &str) -> Option<(IpAddr, IpAddr)> {
    if let Ok(net) = s.parse::<IpNet>() {
        return Some((net.network(), net.broadcast()));
    }
    let (a, b) = s.split_once('-')?;
    let (a, b): (IpAddr, IpAddr) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a.is_ipv4() == b.is_ipv4() && a <= b).then_some((a, b))
}

pub(super) fn check_load_balancer(c: &mut Checker, spec: &ClusterSpec) {
    let b = &spec.bundle;
    let p = KeyPath::root().key("bundle");
    let vip = spec.network.api_vip.as_deref();
    if !b.kube_vip.enable {
        // Without a load balancer no LoadBalancer Service (Traefik's, internal DNS, the
        // user's) ever gets an external address.
        if !b.servicelb.enable {
            c.err(
                p.key("servicelb").key("enable"),
                "servicelb is disabled and no other load balancer replaces it, so Traefik's and every other LoadBalancer Service would stay Pending with no external address",
                "enable kube-vip instead (bundle.kube_vip = { enable = true, values = { service_range = \"192.0.2.200-192.0.2.219\" } } with network.api_vip), or remove `servicelb = { enable = false }`",
            );
        }
        if vip.is_some() {
            c.warn(
                KeyPath::root().key("network").key("api_vip"),
                "nothing in the bundle serves api_vip, yet joining nodes and kubeconfigs use it",
                "enable bundle.kube_vip to announce it from the servers, or serve it with a load balancer of your own",
            );
        }
        return;
    }
    let at = p.key("kube_vip");
    if b.servicelb.enable {
        c.err(
            at.key("enable"),
            "kube_vip is on while servicelb is on (its default): two controllers would claim every LoadBalancer Service",
            "set servicelb = { enable = false } in [bundle] (kube-vip replaces it)",
        );
    }
    if vip.is_none() {
        c.err(
            at.key("enable"),
            "kube_vip announces network.api_vip, which is not set",
            "set api_vip in [network] to a free address on the servers' subnet, e.g. api_vip = \"192.0.2.10\"",
        );
    }
    match b.kube_vip.values.get(INTERFACE) {
        Some(toml::Value::String(s)) if !s.is_empty() && !s.contains(char::is_whitespace) => {}
        None => {}
        Some(_) => c.err(
            at.key("values").key(INTERFACE),
            "kube_vip values.interface is not an interface name",
            "write the servers' interface, e.g. interface = \"eth0\", or remove it to use the default route's",
        ),
    }
    let range_at = at.key("values").key(SERVICE_RANGE);
    let range = match b.kube_vip.values.get(SERVICE_RANGE) {
        None => {
            return c.err(
                at.key("enable"),
                "kube_vip has no values.service_range, the addresses it gives LoadBalancer Services, so they would stay Pending",
                "add values = { service_range = \"192.0.2.200-192.0.2.219\" } (or a CIDR) to bundle.kube_vip: free addresses on the servers' subnet",
            )
        }
        Some(toml::Value::String(s)) => s,
        Some(_) => return c.err(range_at, "kube_vip values.service_range is not a string", "write \"first-last\" or a CIDR, e.g. \"192.0.2.200-192.0.2.219\""),
    };
    let Some((first, last)) = parse_range(range) else {
        return c.err(
            range_at,
            format!("kube_vip service_range `{range}` is neither first-last nor a CIDR"),
            "write \"192.0.2.200-192.0.2.219\" or \"192.0.2.192/27\" (both ends of one family, first ≤ last)",
        );
    };
    if let Some(ip) = vip.and_then(|v| v.parse::<IpAddr>().ok()) {
        if first <= ip && ip <= last {
            c.err(
                range_at,
                format!("kube_vip service_range `{range}` holds api_vip {ip}: a Service could be given the API's address"),
                "move api_vip or the range so they do not overlap",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_cidrs_parse_and_nonsense_does_not() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            parse_range("192.0.2.200-192.0.2.219"),
            Some((ip("192.0.2.200"), ip("192.0.2.219")))
        );
        assert_eq!(
            parse_range("192.0.2.192/27"),
            Some((ip("192.0.2.192"), ip("192.0.2.223")))
        );
        for bad in [
            "192.0.2.9-192.0.2.1",
            "192.0.2.1-2001:db8::1",
            "eth0",
            "192.0.2.1",
        ] {
            assert_eq!(parse_range(bad), None, "{bad}");
        }
    }
}
