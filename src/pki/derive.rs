//! Secrets derived from the server token with HMAC-SHA256 under fixed labels: every holder of
//! the cluster directory (and every server) computes the same value, nothing new is stored, and
//! rotating the server token rotates them all.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// HMAC-SHA256 of `label` under `key`.
pub fn hmac_label(key: &str, label: &str) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    mac.update(label.as_bytes());
    mac.finalize().into_bytes().into()
}

/// k3s's node password for `node` (32 hex characters, the form k3s generates itself). Derived,
/// so a node whose `/etc/rancher/node/password` is gone (a tmpfs root, a reinstalled OS disk)
/// writes the same one again and is not rejected as an impostor of its own name. Only this
/// node's NodeConfig carries it; other nodes cannot compute it without the server token.
pub fn node_password(server_token: &str, node: &str) -> String {
    let label = format!("kateskit/k3s-node-password/v1/{node}");
    hex::encode(&hmac_label(server_token, &label)[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_passwords_are_stable_per_node_and_token() {
        let a = node_password("K10abc::server:s1", "n1");
        assert_eq!(a, node_password("K10abc::server:s1", "n1"));
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, node_password("K10abc::server:s1", "n2"));
        assert_ne!(a, node_password("K10abc::server:s2", "n1"));
    }
}
