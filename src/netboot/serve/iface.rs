//! What DHCP needs from the host and the fleet: the interface's netmask (full mode hands it
//! out) and which machines are known (cluster.toml's MACs, plus approvals as they appear).

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::path::Path;

use crate::netboot::dhcp::{KnownMachines, MacAddr};
use crate::netboot::fleet::approved::ApprovedMacs;

/// The IPv4 netmask of `iface`'s first address, if it has one.
pub fn netmask(iface: &str) -> Option<Ipv4Addr> {
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills ifap with a list we free below and only read in between.
    if unsafe { libc::getifaddrs(&mut ifap) } != 0 {
        return None;
    }
    let mut found = None;
    let mut p = ifap;
    while !p.is_null() {
        // SAFETY: p walks the list getifaddrs returned.
        let a = unsafe { &*p };
        p = a.ifa_next;
        if a.ifa_addr.is_null() || a.ifa_netmask.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { std::ffi::CStr::from_ptr(a.ifa_name) };
        // SAFETY: ifa_addr points to a sockaddr whose family says its size.
        if name.to_bytes() != iface.as_bytes()
            || i32::from(unsafe { (*a.ifa_addr).sa_family }) != libc::AF_INET
        {
            continue;
        }
        // SAFETY: an AF_INET address's netmask is a sockaddr_in.
        let m = unsafe { &*(a.ifa_netmask as *const libc::sockaddr_in) };
        found = Some(Ipv4Addr::from(u32::from_be(m.sin_addr.s_addr)));
        break;
    }
    // SAFETY: ifap came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(ifap) };
    found
}

/// Known machines: the fixed set from cluster.toml, and any MAC an approval names (the
/// approvals re-read only when their directory changed: asked on every packet).
pub struct Known {
    macs: HashSet<MacAddr>,
    approved: ApprovedMacs,
}

impl Known {
    pub fn new(macs: HashSet<MacAddr>, state_dir: &Path) -> Known {
        Known {
            macs,
            approved: ApprovedMacs::new(state_dir),
        }
    }
}

impl KnownMachines for Known {
    fn is_known(&self, mac: &MacAddr) -> bool {
        self.macs.contains(mac) || self.approved.contains(&mac.to_string())
    }
}
