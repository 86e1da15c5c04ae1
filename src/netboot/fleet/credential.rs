//! Per-node status credentials: HMAC-SHA256 of the MAC under a key kept in the state directory
//! (`status.key`, 0600, made on first use). The config response carries a node's credential in
//! its `agent.phone_home` URL; the server stores no credential, only the key.

use std::path::Path;

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use super::FleetError;
use crate::fsutil;
use crate::secret::Secret;

pub const KEY_FILE: &str = "status.key";

/// The status key.
pub struct StatusKey([u8; 32]);

impl StatusKey {
    /// Reads the key, making it (0600) when the state directory has none.
    pub fn open(state_dir: &Path) -> Result<StatusKey, FleetError> {
        let path = state_dir.join(KEY_FILE);
        if !path.exists() {
            let mut k = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut k);
            match fsutil::write_new(&path, hex::encode(k).as_bytes(), 0o600) {
                Ok(()) => {}
                // Another process made it first: use theirs.
                Err(e) if e.source.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e.into()),
            }
        }
        let text = fsutil::read_string(&path)?;
        let mut k = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut k).map_err(|e| FleetError::Parse {
            path: path.clone(),
            reason: format!(
                "{e}: expected 64 hex digits; remove it to make a new key (nodes then need their config fetched again)"
            ),
        })?;
        Ok(StatusKey(k))
    }

    fn mac_of(&self, mac: &str) -> Hmac<Sha256> {
        let mut m = Hmac::<Sha256>::new_from_slice(&self.0).expect("any key length");
        m.update(b"kateskit status v1\0");
        m.update(mac.as_bytes());
        m
    }

    /// The credential of `mac`.
    pub fn credential(&self, mac: &str) -> Secret {
        Secret::new(hex::encode(self.mac_of(mac).finalize().into_bytes()))
    }

    /// Checks a presented credential in constant time.
    pub fn verify(&self, mac: &str, presented: &str) -> bool {
        let mut raw = [0u8; 32];
        if hex::decode_to_slice(presented.trim(), &mut raw).is_err() {
            return false;
        }
        self.mac_of(mac).verify_slice(&raw).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_per_mac_and_survive_a_restart() {
        let d = tempfile::tempdir().unwrap();
        let k = StatusKey::open(d.path()).unwrap();
        let a = k.credential("52:54:00:00:00:01");
        assert!(k.verify("52:54:00:00:00:01", a.expose()));
        assert!(!k.verify("52:54:00:00:00:02", a.expose()));
        assert!(!k.verify("52:54:00:00:00:01", "not hex"));
        let again = StatusKey::open(d.path()).unwrap();
        assert!(again.verify("52:54:00:00:00:01", a.expose()));
    }
}
