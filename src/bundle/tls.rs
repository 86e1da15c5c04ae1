//! TLS for the bundle's Ingresses (dex's issuer, the auth proxy) from cert-manager. One issuer
//! serves every Ingress of the cluster: Let's Encrypt (ACME HTTP-01 through Traefik) when
//! `cert_manager.values.acme_email` is set and every Ingress name is public, else a CA issuer
//! signing with the cluster's Ingress CA (`secrets/ingress-ca.*`, made by `cluster init`, so
//! `kateskit cluster ingress-ca` can print the root browsers must import before any node
//! boots; the auth proxy trusts it for dex). Without cert-manager the Ingresses get no `tls`
//! and validation warns.

use serde_json::{json, Value};

use crate::spec::BundleSpec;

/// Let's Encrypt ClusterIssuer, rendered when an ACME email is set.
pub const ACME_ISSUER: &str = "letsencrypt";
/// ClusterIssuer signing with the Ingress CA.
pub const CA_ISSUER: &str = "kateskit-ca";
/// `kubernetes.io/tls` Secret holding the Ingress CA (`tls.crt`, `tls.key`), in cert-manager's
/// namespace: a ClusterIssuer reads its Secret from the cluster resource namespace, which is
/// cert-manager's own namespace by default (cert-manager.io/docs/configuration/ca/).
pub const CA_SECRET: &str = "kateskit-ingress-ca";

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

/// The ClusterIssuer every Ingress uses, for a bundle with cert-manager: the CA issuer reading
/// [`CA_SECRET`] (field `spec.ca.secretName`, cert-manager.io/docs/configuration/ca/), or ACME
/// when an email is set and every name is public. Holds no key: the Secret comes from
/// [`ca_secret_documents`], on nodes that carry secrets only.
pub fn issuers(b: &BundleSpec) -> Vec<Value> {
    let cluster_issuer = |name: &str, spec: Value| {
        json!({ "apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
                "metadata": { "name": name }, "spec": spec })
    };
    match (issuer(b), acme_email(b)) {
        (Some(ACME_ISSUER), Some(email)) => vec![cluster_issuer(
            ACME_ISSUER,
            json!({ "acme": {
                "server": "https://acme-v02.api.letsencrypt.org/directory",
                "email": email,
                "privateKeySecretRef": { "name": "letsencrypt-account-key" },
                "solvers": [{ "http01": { "ingress": { "ingressClassName": "traefik" } } }],
            } }),
        )],
        (Some(_), _) => vec![cluster_issuer(
            CA_ISSUER,
            json!({ "ca": { "secretName": CA_SECRET } }),
        )],
        (None, _) => Vec::new(),
    }
}

/// The CA issuer's Secret in `cert_ns` (with its Namespace, which may not exist yet when k3s
/// applies the file): the Ingress CA certificate and SEC1 key as cert-manager's CA issuer
/// reads them (`tls.crt`, `tls.key`).
pub fn ca_secret_documents(cert: &str, key: &str, cert_ns: &str) -> Vec<Value> {
    vec![
        json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": cert_ns } }),
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": { "name": CA_SECRET, "namespace": cert_ns },
            "type": "kubernetes.io/tls",
            "stringData": { "tls.crt": cert, "tls.key": key },
        }),
    ]
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
