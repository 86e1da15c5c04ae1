//! TLS for the bundle's Ingresses (dex's issuer, the auth proxy) from cert-manager. One issuer
//! serves every Ingress of the cluster: Let's Encrypt (ACME HTTP-01 through Traefik) when
//! `cert_manager.values.acme_email` is set and every Ingress name is public, else a cluster CA
//! the bundle renders (a self-signed root in cert-manager's namespace that signs the Ingress
//! certificates; browsers need that root imported, and the auth proxy trusts it for dex).
//! Without cert-manager the Ingresses get no `tls` and validation warns.

use serde_json::{json, Value};

use crate::spec::BundleSpec;

/// Let's Encrypt ClusterIssuer, rendered when an ACME email is set.
pub const ACME_ISSUER: &str = "letsencrypt";
/// ClusterIssuer signing with the cluster CA.
pub const CA_ISSUER: &str = "kateskit-ca";
/// ClusterIssuer that only signs the cluster CA's own root.
pub const ROOT_ISSUER: &str = "kateskit-selfsigned";
/// Secret (in cert-manager's namespace) holding the cluster CA; `ca.crt` is the root to import.
pub const CA_SECRET: &str = "kateskit-cluster-ca";

/// Top-level names that no public CA issues for (RFC 6761, RFC 8375, common LAN suffixes).
const PRIVATE_SUFFIXES: [&str; 8] = [
    "local",
    "internal",
    "lan",
    "home.arpa",
    "localhost",
    "test",
    "invalid",
    "localdomain",
];

/// True when an ACME CA can issue for `host`: a dotted name outside the private suffixes.
pub fn is_public(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h.contains('.')
        && h.parse::<std::net::IpAddr>().is_err()
        && !PRIVATE_SUFFIXES
            .iter()
            .any(|s| h == *s || h.ends_with(&format!(".{s}")))
}

/// Host and path of an `https://host[:port][/path]` URL (path `/` when absent).
pub fn host_and_path(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("https://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    let host = authority.split(':').next()?.to_string();
    (!host.is_empty()).then(|| (host, if path.is_empty() { "/" } else { path }.to_string()))
}

/// The hosts of every Ingress the bundle renders: dex's issuer and the auth proxy.
pub fn ingress_hosts(b: &BundleSpec) -> Vec<String> {
    let mut out = Vec::new();
    if b.dex.enable {
        if let Some((h, _)) = dex_issuer(b).as_deref().and_then(host_and_path) {
            out.push(h);
        }
    }
    if let Some(h) = super::charts::proxy_hostname(b) {
        out.push(h);
    }
    out
}

pub(crate) fn dex_issuer(b: &BundleSpec) -> Option<String> {
    b.dex
        .values
        .get("issuer")
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

/// The ACME contact, when set.
pub fn acme_email(b: &BundleSpec) -> Option<String> {
    b.cert_manager
        .values
        .get("acme_email")
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

/// The ClusterIssuer every Ingress uses, or none without cert-manager.
pub fn issuer(b: &BundleSpec) -> Option<&'static str> {
    if !b.cert_manager.enable {
        return None;
    }
    let public = ingress_hosts(b).iter().all(|h| is_public(h));
    Some(if acme_email(b).is_some() && public {
        ACME_ISSUER
    } else {
        CA_ISSUER
    })
}

/// Ingress values (`annotations`, `tls`) for `host`: the same keys in the dex and oauth2-proxy
/// charts. Empty without cert-manager.
pub fn ingress_values(b: &BundleSpec, host: &str, secret: &str) -> Value {
    match issuer(b) {
        None => json!({}),
        Some(i) => json!({ "ingress": {
            "annotations": { "cert-manager.io/cluster-issuer": i },
            "tls": [{ "secretName": secret, "hosts": [host] }],
        } }),
    }
}

/// The ClusterIssuers (and the CA's root Certificate, in `cert_ns`) for a bundle with
/// cert-manager: the cluster CA always (names ACME cannot serve fall back to it), ACME when an
/// email is set.
pub fn issuers(b: &BundleSpec, cert_ns: &str) -> Vec<Value> {
    let cluster_issuer = |name: &str, spec: Value| {
        json!({ "apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
                "metadata": { "name": name }, "spec": spec })
    };
    let mut out = vec![
        cluster_issuer(ROOT_ISSUER, json!({ "selfSigned": {} })),
        json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": { "name": CA_SECRET, "namespace": cert_ns },
            "spec": {
                "isCA": true,
                "commonName": "KatesKit cluster CA",
                "secretName": CA_SECRET,
                "duration": "87600h",
                "privateKey": { "algorithm": "ECDSA", "size": 256 },
                "issuerRef": { "name": ROOT_ISSUER, "kind": "ClusterIssuer", "group": "cert-manager.io" },
            },
        }),
        cluster_issuer(CA_ISSUER, json!({ "ca": { "secretName": CA_SECRET } })),
    ];
    if let Some(email) = acme_email(b) {
        out.push(cluster_issuer(
            ACME_ISSUER,
            json!({ "acme": {
                "server": "https://acme-v02.api.letsencrypt.org/directory",
                "email": email,
                "privateKeySecretRef": { "name": "letsencrypt-account-key" },
                "solvers": [{ "http01": { "ingress": { "ingressClassName": "traefik" } } }],
            } }),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_names_exclude_private_suffixes_addresses_and_single_labels() {
        for h in [
            "dex.example.com",
            "auth.rack.example.com.",
            "a.internal.example.org",
        ] {
            assert!(is_public(h), "{h}");
        }
        for h in [
            "dex.rack.internal",
            "box.local",
            "nas.home.arpa",
            "HOST.LAN",
            "localhost",
            "dex",
            "192.0.2.10",
            "x.test",
        ] {
            assert!(!is_public(h), "{h}");
        }
    }

    #[test]
    fn issuer_urls_split_into_host_and_path() {
        let hp = |u| host_and_path(u).map(|(h, p)| format!("{h} {p}"));
        assert_eq!(
            hp("https://dex.example.com").as_deref(),
            Some("dex.example.com /")
        );
        assert_eq!(
            hp("https://id.example.com:8443/dex/").as_deref(),
            Some("id.example.com /dex")
        );
        assert_eq!(hp("http://dex.example.com"), None);
        assert_eq!(hp("https:///dex"), None);
    }
}
