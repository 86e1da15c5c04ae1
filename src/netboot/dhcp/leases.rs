//! Full mode's address pool: offers held briefly in memory, bound and declined addresses
//! persisted atomically in `<state>/dhcp-leases.json` and reloaded on restart.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use super::config::FullConfig;
use super::DhcpError;
use crate::mac::MacAddr;

/// How long an offered address stays held for the client that was offered it.
pub const OFFER_HOLD_SECS: u64 = 60;
/// How long a declined address (in use by someone else, RFC 2131 3.1.5) stays out of the pool.
pub const DECLINE_HOLD_SECS: u64 = 600;
const FILE: &str = "dhcp-leases.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeaseState {
    Offered,
    Bound,
    Declined,
}

/// One address and who holds it until when (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Lease {
    pub ip: Ipv4Addr,
    pub mac: Option<MacAddr>,
    pub state: LeaseState,
    pub expires: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct OnDisk {
    version: u32,
    leases: Vec<Lease>,
}

/// The pool of one `--range` plus the reservations.
#[derive(Debug)]
pub struct Leases {
    path: PathBuf,
    first: u32,
    last: u32,
    netmask: u32,
    reservations: HashMap<MacAddr, Ipv4Addr>,
    by_ip: BTreeMap<Ipv4Addr, Lease>,
}

pub fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Leases {
    /// Checks the range and loads the lease file (none yet is an empty pool).
    pub fn load(cfg: &FullConfig) -> Result<Leases, DhcpError> {
        let (first, last, mask) = (
            u32::from(cfg.first),
            u32::from(cfg.last),
            u32::from(cfg.netmask),
        );
        let bad = |why| DhcpError::BadRange {
            first: cfg.first,
            last: cfg.last,
            why,
        };
        if first > last {
            return Err(bad("FIRST is after LAST"));
        }
        if first & mask != last & mask {
            return Err(bad(
                "FIRST and LAST are in different subnets for the netmask",
            ));
        }
        std::fs::create_dir_all(&cfg.state_dir).map_err(|source| DhcpError::LeaseRead {
            path: cfg.state_dir.clone(),
            source,
        })?;
        let path = cfg.state_dir.join(FILE);
        let by_ip = match std::fs::read(&path) {
            Ok(b) => {
                let d: OnDisk =
                    serde_json::from_slice(&b).map_err(|source| DhcpError::LeaseParse {
                        path: path.clone(),
                        source,
                    })?;
                d.leases.into_iter().map(|l| (l.ip, l)).collect()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => return Err(DhcpError::LeaseRead { path, source }),
        };
        Ok(Leases {
            path,
            first,
            last,
            netmask: mask,
            reservations: cfg.reservations.clone(),
            by_ip,
        })
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    pub fn all(&self) -> impl Iterator<Item = &Lease> {
        self.by_ip.values()
    }

    fn in_range(&self, ip: Ipv4Addr) -> bool {
        (self.first..=self.last).contains(&u32::from(ip))
    }

    /// True when `ip` is on this pool's subnet (reservations may sit outside the range).
    pub fn on_subnet(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.netmask == self.first & self.netmask
    }

    fn reserved_for_other(&self, ip: Ipv4Addr, mac: MacAddr) -> bool {
        self.reservations.iter().any(|(m, r)| *r == ip && *m != mac)
    }

    /// Whether `mac` may have `ip` at `now`.
    pub fn available(&self, ip: Ipv4Addr, mac: MacAddr, now: u64) -> bool {
        if self.reservations.get(&mac) == Some(&ip) {
            return true;
        }
        if !self.in_range(ip) || self.reserved_for_other(ip, mac) {
            return false;
        }
        match self.by_ip.get(&ip) {
            None => true,
            Some(l) if l.expires <= now => true,
            Some(l) => l.state != LeaseState::Declined && l.mac == Some(mac),
        }
    }

    /// The live lease (offered or bound) of `mac`.
    pub fn of(&self, mac: MacAddr, now: u64) -> Option<&Lease> {
        self.by_ip
            .values()
            .find(|l| l.mac == Some(mac) && l.state != LeaseState::Declined && l.expires > now)
    }

    /// The address to offer `mac`: its reservation, its current lease, the address it asked
    /// for, else the first free one (never used before expired ones).
    pub fn choose(&self, mac: MacAddr, requested: Option<Ipv4Addr>, now: u64) -> Option<Ipv4Addr> {
        if let Some(r) = self.reservations.get(&mac) {
            return Some(*r);
        }
        if let Some(l) = self.of(mac, now) {
            if self.available(l.ip, mac, now) {
                return Some(l.ip);
            }
        }
        if let Some(ip) = requested.filter(|ip| self.available(*ip, mac, now)) {
            return Some(ip);
        }
        let free = |ip: &Ipv4Addr| !self.reserved_for_other(*ip, mac);
        let mut expired = None;
        for n in self.first..=self.last {
            let ip = Ipv4Addr::from(n);
            match self.by_ip.get(&ip) {
                None if free(&ip) => return Some(ip),
                Some(l) if l.expires <= now && free(&ip) && expired.is_none() => expired = Some(ip),
                _ => {}
            }
        }
        expired
    }

    /// Records `ip` for `mac` (dropping any other address it held) and persists a change to
    /// a bound or declined address.
    pub fn set(
        &mut self,
        ip: Ipv4Addr,
        mac: Option<MacAddr>,
        state: LeaseState,
        expires: u64,
    ) -> Result<(), DhcpError> {
        if state == LeaseState::Offered {
            let held = self.by_ip.get(&ip);
            if held.is_some_and(|l| l.state == LeaseState::Bound && l.mac == mac && l.mac.is_some())
            {
                // Offering a client its own bound address: the lease stays bound (and saved).
                return Ok(());
            }
        }
        let mut persist = state != LeaseState::Offered;
        if let Some(m) = mac {
            let old: Vec<Ipv4Addr> = self
                .by_ip
                .values()
                .filter(|l| l.mac == Some(m) && l.ip != ip && l.state != LeaseState::Declined)
                .map(|l| l.ip)
                .collect();
            for o in old {
                persist |= self
                    .by_ip
                    .remove(&o)
                    .is_some_and(|l| l.state == LeaseState::Bound);
            }
        }
        if let Some(prev) = self.by_ip.insert(
            ip,
            Lease {
                ip,
                mac,
                state,
                expires,
            },
        ) {
            persist |= prev.state != LeaseState::Offered;
        }
        if persist {
            self.save()?;
        }
        Ok(())
    }

    /// Frees `ip` if `mac` holds it (RELEASE, or an offer the client turned down).
    pub fn free(&mut self, ip: Ipv4Addr, mac: MacAddr) -> Result<bool, DhcpError> {
        match self.by_ip.get(&ip) {
            Some(l) if l.mac == Some(mac) && l.state != LeaseState::Declined => {
                let was_bound = l.state == LeaseState::Bound;
                self.by_ip.remove(&ip);
                if was_bound {
                    self.save()?;
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn save(&self) -> Result<(), DhcpError> {
        let d = OnDisk {
            version: 1,
            leases: self
                .by_ip
                .values()
                .filter(|l| l.state != LeaseState::Offered)
                .cloned()
                .collect(),
        };
        let mut json = serde_json::to_vec_pretty(&d).expect("leases serialise");
        json.push(b'\n');
        crate::fsutil::write_atomic(&self.path, &json, 0o644)?;
        Ok(())
    }
}
