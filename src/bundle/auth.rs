//! Wiring between dex and the auth proxy (oauth2-proxy): one OIDC client that both sides must
//! agree on. Dex gets a static client whose secret it reads from an environment variable; the
//! proxy gets the client id and secret and its cookie secret from a Secret. Neither secret is
//! stored anywhere: both are derived from the cluster's server token with HMAC-SHA256 under
//! separate labels, so every server renders the same values, clusters made before this existed
//! need no new files, and rotating the server token rotates them too (logging everyone out).

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::pki::derive::hmac_label as hmac;
use crate::secret::Secret;

/// The OIDC client id the proxy uses at dex.
pub const CLIENT_ID: &str = "kateskit-auth-proxy";
/// Secret (in the proxy's namespace) holding `client-id`, `client-secret`, `cookie-secret`, the
/// keys the oauth2-proxy chart reads through `config.existingSecret`.
pub const PROXY_SECRET: &str = "kateskit-auth-proxy";
/// Secret (in dex's namespace) holding the client secret under the environment variable name
/// dex's static client reads it from.
pub const DEX_SECRET: &str = "kateskit-auth-proxy-client";
pub const DEX_SECRET_ENV: &str = "KATESKIT_AUTH_PROXY_CLIENT_SECRET";

/// The derived secrets; never logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSecrets {
    pub client_secret: Secret,
    /// 32 bytes, URL-safe base64: oauth2-proxy wants an AES key of 16, 24 or 32 bytes.
    pub cookie_secret: Secret,
}

/// Derives the client and cookie secrets from the server token.
pub fn derive(server_token: &str) -> AuthSecrets {
    AuthSecrets {
        client_secret: hex::encode(hmac(server_token, "kateskit/auth-proxy/client-secret/v1"))
            .into(),
        cookie_secret: base64::engine::general_purpose::URL_SAFE
            .encode(hmac(server_token, "kateskit/auth-proxy/cookie-secret/v1"))
            .into(),
    }
}

/// Where the proxy is reached: its OAuth callback at dex, and its Ingress.
pub fn redirect_url(hostname: &str) -> String {
    format!("https://{hostname}/oauth2/callback")
}

/// Dex values for the proxy's static client (the secret comes from [`DEX_SECRET`]).
pub fn dex_values(hostname: &str) -> Value {
    json!({
        "config": { "staticClients": [{
            "id": CLIENT_ID,
            "name": "KatesKit auth proxy",
            "redirectURIs": [redirect_url(hostname)],
            "secretEnv": DEX_SECRET_ENV,
        }] },
        "envFrom": [{ "secretRef": { "name": DEX_SECRET } }],
    })
}

/// oauth2-proxy values: OIDC against dex, credentials from [`PROXY_SECRET`], an Ingress on the
/// bundled Traefik for `hostname`.
pub fn proxy_values(issuer: &str, hostname: &str) -> Value {
    json!({
        "config": { "existingSecret": PROXY_SECRET },
        "extraArgs": {
            "provider": "oidc",
            "oidc-issuer-url": issuer,
            "redirect-url": redirect_url(hostname),
        },
        "ingress": {
            "enabled": true,
            "className": "traefik",
            "path": "/",
            "hosts": [hostname],
        },
    })
}

/// Secrets cert-manager stores the Ingress certificates in (dex's and the proxy's namespace).
pub const DEX_TLS_SECRET: &str = "dex-tls";
pub const PROXY_TLS_SECRET: &str = "oauth2-proxy-tls";
const CA_MOUNT: &str = "/etc/kateskit-ca";

/// Dex's Ingress on Traefik for its issuer URL, so oauth2-proxy's OIDC discovery
/// (`<issuer>/.well-known/openid-configuration`) and browsers reach it.
pub fn dex_ingress(host: &str, path: &str) -> Value {
    json!({ "ingress": {
        "enabled": true,
        "className": "traefik",
        "hosts": [{ "host": host, "paths": [{ "path": path, "pathType": "Prefix" }] }],
    } })
}

/// With the cluster CA issuer, dex's certificate is signed by a root no image trusts: the proxy
/// reads it from the `ca.crt` of its own Ingress certificate's Secret (same issuer).
pub fn proxy_ca_trust() -> Value {
    json!({
        "extraArgs": { "provider-ca-file": format!("{CA_MOUNT}/ca.crt") },
        "extraVolumes": [{ "name": "kateskit-ca", "secret": {
            "secretName": PROXY_TLS_SECRET,
            "items": [{ "key": "ca.crt", "path": "ca.crt" }],
        } }],
        "extraVolumeMounts": [{ "name": "kateskit-ca", "mountPath": CA_MOUNT, "readOnly": true }],
    })
}

/// A user's own `config.staticClients` and `envFrom` lists would replace the proxy's entries
/// (lists do not merge): append ours to the user's lists instead. A user client with the proxy's
/// id is the user's deliberate override and is kept alone.
pub fn keep_proxy_entries(user: &mut Map<String, Value>, ours: &Value) {
    let append =
        |list: Option<&mut Value>, extra: &Value, same: &dyn Fn(&Value, &Value) -> bool| {
            if let (Some(Value::Array(list)), Some(extra)) = (list, extra.as_array()) {
                for e in extra {
                    if !list.iter().any(|u| same(u, e)) {
                        list.push(e.clone());
                    }
                }
            }
        };
    append(
        user.get_mut("config")
            .and_then(|c| c.get_mut("staticClients")),
        &ours["config"]["staticClients"],
        &|u, e| u.get("id").is_some() && u.get("id") == e.get("id"),
    );
    append(user.get_mut("envFrom"), &ours["envFrom"], &|u, e| u == e);
}

/// The two Secrets (with their namespaces, which may not exist yet when k3s applies this file).
pub fn secret_documents(s: &AuthSecrets, dex_ns: &str, proxy_ns: &str) -> Vec<Value> {
    let namespace = |name: &str| json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name } });
    let secret = |name: &str, ns: &str, data: Value| {
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": { "name": name, "namespace": ns },
            "type": "Opaque",
            "stringData": data,
        })
    };
    let mut docs = vec![namespace(dex_ns)];
    if proxy_ns != dex_ns {
        docs.push(namespace(proxy_ns));
    }
    docs.push(secret(
        DEX_SECRET,
        dex_ns,
        json!({ DEX_SECRET_ENV: s.client_secret }),
    ));
    docs.push(secret(
        PROXY_SECRET,
        proxy_ns,
        json!({
            "client-id": CLIENT_ID,
            "client-secret": s.client_secret,
            "cookie-secret": s.cookie_secret,
        }),
    ));
    docs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivation_is_stable_separated_and_sized_for_oauth2_proxy() {
        let a = derive("K10abc::server:0123");
        assert_eq!(a, derive("K10abc::server:0123"));
        let b = derive("K10abc::server:0124");
        assert_ne!(a.client_secret, b.client_secret);
        assert_ne!(a.cookie_secret, b.cookie_secret);
        assert_ne!(
            a.client_secret.expose(),
            hex::encode(
                base64::engine::general_purpose::URL_SAFE
                    .decode(a.cookie_secret.expose())
                    .unwrap()
            )
        );
        let key = base64::engine::general_purpose::URL_SAFE
            .decode(a.cookie_secret.expose())
            .unwrap();
        assert_eq!(key.len(), 32);
        assert_eq!(a.client_secret.expose().len(), 64);
        assert!(!format!("{a:?}").contains(a.client_secret.expose()));
    }

    #[test]
    fn both_sides_name_the_same_client_secret_and_callback() {
        let s = derive("t");
        let docs = secret_documents(&s, "dex", "oauth2-proxy");
        let dex = dex_values("auth.example.com");
        let client = &dex["config"]["staticClients"][0];
        let env = client["secretEnv"].as_str().unwrap();
        let dex_secret = docs
            .iter()
            .find(|d| d["metadata"]["name"] == dex["envFrom"][0]["secretRef"]["name"])
            .unwrap();
        assert_eq!(dex_secret["metadata"]["namespace"], "dex");
        assert_eq!(dex_secret["stringData"][env], s.client_secret.expose());
        let proxy = proxy_values("https://dex.example.com", "auth.example.com");
        let proxy_secret = docs
            .iter()
            .find(|d| d["metadata"]["name"] == proxy["config"]["existingSecret"])
            .unwrap();
        assert_eq!(proxy_secret["metadata"]["namespace"], "oauth2-proxy");
        assert_eq!(
            proxy_secret["stringData"]["client-secret"],
            s.client_secret.expose()
        );
        assert_eq!(proxy_secret["stringData"]["client-id"], client["id"]);
        assert_eq!(
            proxy["extraArgs"]["redirect-url"],
            client["redirectURIs"][0]
        );
        assert_eq!(docs[0]["kind"], "Namespace");
    }
}
