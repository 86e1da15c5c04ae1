//! An Ethernet hardware address: the key of every per-machine decision, and the one parser of
//! MAC text (cluster.toml, kernel arguments, `BOOTIF=`, iPXE's `${mac:hexhyp}`, approvals).

use std::fmt;
use std::str::FromStr;

/// A 48-bit MAC address; displayed `aa:bb:cc:dd:ee:ff` (lower case, as cluster.toml and
/// leases store it), parsed from `:` or `-` separated hex.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// pxelinux's `BOOTIF=01-aa-bb-cc-dd-ee-ff` (hardware type 1, Ethernet), or six octets
    /// separated by `-` or `:`.
    pub fn from_bootif(value: &str) -> Option<MacAddr> {
        let octets = value.strip_prefix("01-").filter(|r| r.len() == 17);
        octets.unwrap_or(value).parse().ok()
    }

    /// The `aa-bb-cc-dd-ee-ff` form iPXE's `${mac:hexhyp}` produces (safe in URLs and paths).
    pub fn hexhyp(&self) -> String {
        self.to_string().replace(':', "-")
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MacAddr({self})")
    }
}

/// Why a MAC address string was refused.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a MAC address (expected six hex pairs like aa:bb:cc:dd:ee:ff)")]
pub struct BadMac(String);

impl FromStr for MacAddr {
    type Err = BadMac;
    fn from_str(s: &str) -> Result<Self, BadMac> {
        let parts: Vec<&str> = s.split([':', '-']).collect();
        if parts.len() != 6 {
            return Err(BadMac(s.to_string()));
        }
        let mut out = [0u8; 6];
        for (o, p) in out.iter_mut().zip(parts) {
            // Two hex digits exactly: from_str_radix alone would take a sign (`+a`).
            if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(BadMac(s.to_string()));
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| BadMac(s.to_string()))?;
        }
        Ok(MacAddr(out))
    }
}

impl TryFrom<String> for MacAddr {
    type Error = BadMac;
    fn try_from(s: String) -> Result<Self, BadMac> {
        s.parse()
    }
}

impl From<MacAddr> for String {
    fn from(m: MacAddr) -> String {
        m.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_separators_and_prints_lower_case() {
        let m: MacAddr = "52:54:00:AB:cd:01".parse().unwrap();
        assert_eq!(m.to_string(), "52:54:00:ab:cd:01");
        assert_eq!(m, "52-54-00-ab-cd-01".parse().unwrap());
        assert_eq!(m.hexhyp(), "52-54-00-ab-cd-01");
        for bad in [
            "",
            "52:54:00:ab:cd",
            "52:54:00:ab:cd:0g",
            "525:4:00:ab:cd:01",
            "+2:54:00:ab:cd:01",
            "52:54:00:ab:cd:01:02",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn bootif_takes_the_pxelinux_form_and_plain_octets() {
        let m = MacAddr::from_bootif("01-52-54-00-AB-cd-01").unwrap();
        assert_eq!(m.to_string(), "52:54:00:ab:cd:01");
        assert_eq!(MacAddr::from_bootif("52:54:00:ab:cd:01"), Some(m));
        assert_eq!(MacAddr::from_bootif("52-54-00-ab-cd-01"), Some(m));
        // Hardware type 6 (IEEE 802) is not Ethernet's; six groups are the octets themselves.
        assert_eq!(MacAddr::from_bootif("06-52-54-00-ab-cd-01"), None);
        assert_eq!(
            MacAddr::from_bootif("01-52-54-00-ab-cd").map(|m| m.to_string()),
            Some("01:52:54:00:ab:cd".to_string())
        );
    }
}
