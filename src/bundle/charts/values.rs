//! Chart values per component: KatesKit's defaults, the few cluster.toml keys KatesKit
//! understands translated to the chart's own keys, then the user's remaining values merged on
//! top (user wins, objects merge key by key).

use serde_json::{json, Map, Value};

use super::user_values;
use crate::bundle::{auth, tls};
use crate::spec::BundleSpec;

/// The auth proxy's public hostname (`bundle.auth_proxy.values.hostname`), when it is on.
pub fn proxy_hostname(b: &BundleSpec) -> Option<String> {
    b.auth_proxy
        .enable
        .then(|| b.auth_proxy.values.get("hostname"))
        .flatten()
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

/// Values for `component`, and an optional extra manifest (name, document) it needs.
pub(super) fn values(component: &str, b: &BundleSpec) -> (Value, Option<(String, Value)>) {
    let dex_issuer = b
        .dex
        .values
        .get("issuer")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let (mut user, defaults, extra) = match component {
        "dex" => {
            let mut u = user_values(&b.dex);
            let mut d = json!({ "config": { "storage": { "type": "kubernetes", "config": { "inCluster": true } } } });
            if let Some(issuer) = u.remove("issuer") {
                d["config"]["issuer"] = issuer;
            }
            if let Some(host) = proxy_hostname(b) {
                merge(&mut d, auth::dex_values(&host));
                auth::keep_proxy_entries(&mut u, &d);
            }
            if let Some((host, path)) = dex_issuer.as_deref().and_then(tls::host_and_path) {
                merge(&mut d, auth::dex_ingress(&host, &path));
                merge(&mut d, tls::ingress_values(b, &host, auth::DEX_TLS_SECRET));
            }
            (u, d, None)
        }
        "auth_proxy" => {
            // With dex in the bundle, the proxy is dex's OIDC client (see bundle::auth).
            let mut u = user_values(&b.auth_proxy);
            let host = u.remove("hostname");
            let d = match (
                &dex_issuer,
                b.dex.enable,
                host.as_ref().and_then(|h| h.as_str()),
            ) {
                (Some(issuer), true, Some(host)) => {
                    let mut d = auth::proxy_values(issuer, host);
                    merge(&mut d, tls::ingress_values(b, host, auth::PROXY_TLS_SECRET));
                    if tls::issuer(b) == Some(tls::CA_ISSUER) {
                        merge(&mut d, auth::proxy_ca_trust());
                    }
                    d
                }
                _ => json!({}),
            };
            (u, d, None)
        }
        "dashboard" => (user_values(&b.dashboard), json!({}), None),
        "cert_manager" => {
            let mut u = user_values(&b.cert_manager);
            // The chart installs its CRDs only when asked; `crds.enabled` replaced the deprecated
            // `installCRDs` (cert-manager values.yaml at the pinned v1.21).
            let d = json!({ "crds": { "enabled": true } });
            // Read by bundle::tls, which renders the ClusterIssuers.
            u.remove("acme_email");
            (u, d, None)
        }
        "internal_dns" => {
            let mut u = user_values(&b.internal_dns);
            let mut d = json!({});
            if let Some(zone) = u.remove("zone") {
                d["domain"] = zone;
            }
            (u, d, None)
        }
        "longhorn" => {
            let d = json!({ "defaultSettings": { "defaultDataPath": "/var/lib/longhorn" } });
            (Map::new(), d, None)
        }
        _ => (Map::new(), json!({}), None),
    };
    let mut merged = defaults;
    merge(&mut merged, Value::Object(std::mem::take(&mut user)));
    (merged, extra)
}

/// Recursive merge: objects merge key by key, anything else in `top` replaces `base`.
pub(crate) fn merge(base: &mut Value, top: Value) {
    match (base, top) {
        (Value::Object(b), Value::Object(t)) => {
            for (k, v) in t {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, t) => *slot = t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_defaults_and_lets_user_win() {
        let mut base = json!({ "a": { "x": 1, "y": 2 }, "b": [1] });
        merge(&mut base, json!({ "a": { "y": 3, "z": 4 }, "b": [2, 3] }));
        assert_eq!(
            base,
            json!({ "a": { "x": 1, "y": 3, "z": 4 }, "b": [2, 3] })
        );
    }
}
