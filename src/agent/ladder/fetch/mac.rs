//! Which MAC `${mac}` stands for: one that does not change when k3s, flannel or a container
//! runtime add links. In order: `BOOTIF=` on the kernel command line (the NIC the firmware
//! booted from), else the link of the default route, else the physical links only (those with
//! a `device` in sysfs, so never `cni0`, `flannel.1`, `docker0`, `veth*` or a bridge), one with
//! carrier first, then by name.

use crate::agent::ladder::argsplit;

use crate::agent::AgentEnv;

/// `aa:bb:cc:dd:ee:ff` from pxelinux's `01-aa-bb-cc-dd-ee-ff` (hardware type 1, Ethernet), or
/// from six octets separated by `-` or `:`.
pub fn bootif(value: &str) -> Option<String> {
    crate::mac::MacAddr::from_bootif(value).map(|m| m.to_string())
}

fn link_mac(env: &AgentEnv, link: &str) -> Option<String> {
    let a = std::fs::read_to_string(env.path("sys/class/net").join(link).join("address")).ok()?;
    let a = a.trim().to_ascii_lowercase();
    (bootif(&a).as_deref() == Some(a.as_str()) && a != "00:00:00:00:00:00").then_some(a)
}

/// The link of the IPv4 default route with the lowest metric, else of an IPv6 default route.
fn default_route_link(env: &AgentEnv) -> Option<String> {
    let v4 = std::fs::read_to_string(env.path("proc/net/route")).unwrap_or_default();
    let best = v4
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let flags = u32::from_str_radix(f.get(3)?, 16).ok()?;
            let up = flags & 0x1 != 0;
            (f.len() >= 8 && f[1] == "00000000" && f[7] == "00000000" && up)
                .then(|| (f[6].parse::<u64>().unwrap_or(u64::MAX), f[0].to_string()))
        })
        .min();
    if let Some((_, link)) = best {
        return Some(link);
    }
    let v6 = std::fs::read_to_string(env.path("proc/net/ipv6_route")).unwrap_or_default();
    v6.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let flags = u32::from_str_radix(f.get(8)?, 16).ok()?;
            // RTF_UP set, RTF_REJECT (the kernel's unreachable default on `lo`) clear.
            let usable = flags & 0x1 != 0 && flags & 0x200 == 0;
            let default = f[0].bytes().all(|b| b == b'0') && f[1] == "00";
            let metric = u64::from_str_radix(f[5], 16).unwrap_or(u64::MAX);
            (f.len() >= 10 && default && usable && f[9] != "lo").then(|| (metric, f[9].to_string()))
        })
        .min()
        .map(|(_, link)| link)
}

/// The physical Ethernet links and their MACs (never a bridge or a virtual link), ones with
/// carrier first, then by name: what stands for the machine.
pub fn physical(env: &AgentEnv) -> Vec<(String, String)> {
    let net = env.path("sys/class/net");
    let Ok(rd) = std::fs::read_dir(&net) else {
        return Vec::new();
    };
    let mut found: Vec<(bool, String, String)> = rd
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let dir = net.join(&name);
            let ether = std::fs::read_to_string(dir.join("type"))
                .map(|t| t.trim() == "1")
                .unwrap_or(true);
            if !dir.join("device").exists() || dir.join("bridge").exists() || !ether {
                return None;
            }
            let carrier = std::fs::read_to_string(dir.join("carrier"))
                .map(|c| c.trim() == "1")
                .unwrap_or(false);
            Some((!carrier, name.clone(), link_mac(env, &name)?))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, n, mac)| (n, mac)).collect()
}

fn physical_mac(env: &AgentEnv) -> Option<String> {
    physical(env).into_iter().next().map(|(_, mac)| mac)
}

/// The MAC for `${mac}`, or `None` when the machine has no usable link.
pub fn choose(env: &AgentEnv) -> Option<String> {
    let line = std::fs::read_to_string(&env.cmdline).unwrap_or_default();
    let boot = argsplit::split(&line)
        .params
        .into_iter()
        .filter(|a| a.key == "BOOTIF")
        .filter_map(|a| a.value)
        .next_back();
    if let Some(mac) = boot.as_deref().and_then(bootif) {
        return Some(mac);
    }
    if let Some(mac) = default_route_link(env).and_then(|l| link_mac(env, &l)) {
        return Some(mac);
    }
    physical_mac(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake sysfs link: physical ones have a `device`, bridges a `bridge` directory.
    fn link(root: &std::path::Path, name: &str, mac: &str, kind: &str, carrier: bool) {
        let d = root.join("sys/class/net").join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("address"), format!("{mac}\n")).unwrap();
        std::fs::write(d.join("type"), "1\n").unwrap();
        std::fs::write(d.join("carrier"), if carrier { "1\n" } else { "0\n" }).unwrap();
        match kind {
            "physical" => std::fs::create_dir_all(d.join("device")).unwrap(),
            "bridge" => std::fs::create_dir_all(d.join("bridge")).unwrap(),
            _ => {}
        }
    }

    const ROUTE_HEAD: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";

    #[test]
    fn pxelinux_bootif_forms() {
        assert_eq!(
            bootif("01-52-54-00-AA-bb-cc").as_deref(),
            Some("52:54:00:aa:bb:cc")
        );
        assert_eq!(
            bootif("52:54:00:aa:bb:cc").as_deref(),
            Some("52:54:00:aa:bb:cc")
        );
        assert_eq!(bootif("20-52-54-00-aa-bb-cc"), None);
        assert_eq!(bootif("01-52-54-00-aa"), None);
        assert_eq!(bootif("zz:54:00:aa:bb:cc"), None);
    }

    #[test]
    fn virtual_links_never_stand_for_the_machine() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let env = super::super::test_env(r);
        // Names that sort before the NIC: what k3s, flannel and Docker add after boot.
        link(r, "br0", "02:00:00:00:00:01", "bridge", true);
        link(r, "cni0", "02:00:00:00:00:02", "bridge", true);
        link(r, "docker0", "02:00:00:00:00:03", "virtual", true);
        link(r, "enp0s1", "52:54:00:00:00:09", "physical", false);
        link(r, "enp1s0", "52:54:00:00:00:10", "physical", true);
        link(r, "flannel.1", "02:00:00:00:00:04", "virtual", true);
        link(r, "lo", "00:00:00:00:00:00", "virtual", true);
        link(r, "veth1234", "02:00:00:00:00:05", "virtual", true);
        assert_eq!(choose(&env).as_deref(), Some("52:54:00:00:00:10"));

        // The default route's link wins over the carrier rule.
        std::fs::create_dir_all(r.join("proc/net")).unwrap();
        std::fs::write(
            r.join("proc/net/route"),
            format!("{ROUTE_HEAD}enp1s0\t0002A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\nenp0s1\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"),
        )
        .unwrap();
        assert_eq!(choose(&env).as_deref(), Some("52:54:00:00:00:09"));

        // BOOTIF names the NIC the firmware booted from.
        std::fs::write(r.join("cmdline"), "quiet BOOTIF=01-52-54-00-00-00-77\n").unwrap();
        assert_eq!(choose(&env).as_deref(), Some("52:54:00:00:00:77"));
    }

    #[test]
    fn ipv6_default_route_and_no_links() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let env = super::super::test_env(r);
        assert_eq!(choose(&env), None);
        link(r, "eth9", "52:54:00:00:00:99", "virtual", true);
        link(r, "enp2s0", "52:54:00:00:00:20", "physical", false);
        std::fs::create_dir_all(r.join("proc/net")).unwrap();
        let zero = "0".repeat(32);
        std::fs::write(
            r.join("proc/net/ipv6_route"),
            format!("{zero} 00 {zero} 00 {zero} ffffffff 00000001 00000000 00200200       lo\n{zero} 00 {zero} 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003     eth9\n"),
        )
        .unwrap();
        assert_eq!(choose(&env).as_deref(), Some("52:54:00:00:00:99"));
    }
}
