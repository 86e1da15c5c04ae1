//! Checks that make dex and the bundle's Ingresses come up: dex exits at start without a
//! connector, and Ingresses without cert-manager have no certificate browsers or oauth2-proxy's
//! OIDC discovery accept.

use super::locate::KeyPath;
use super::validate::Checker;
use crate::bundle::tls;
use crate::spec::BundleSpec;

const CONNECTOR_FIX: &str = "add a connector to bundle.dex.values.config.connectors, e.g. [[bundle.dex.values.config.connectors]] with type = \"github\", id = \"github\", name = \"GitHub\" and its config (docs/auth.md), or set values.config.enablePasswordDB = true with values.config.staticPasswords";

pub(super) fn check_dex_and_tls(c: &mut Checker, b: &BundleSpec, p: &KeyPath) {
    if b.dex.enable {
        check_connectors(c, b, p);
    }
    let hosts = tls::ingress_hosts(b);
    if hosts.is_empty() {
        return;
    }
    if !b.cert_manager.enable {
        let at = if b.auth_proxy.enable {
            "auth_proxy"
        } else {
            "dex"
        };
        c.warn(
            p.key(at).key("enable"),
            format!("the Ingresses for {} get no TLS certificate without cert-manager, so browsers and the auth proxy's OIDC discovery of dex reject Traefik's self-signed default", hosts.join(", ")),
            "set bundle.cert_manager = { enable = true } (add values.acme_email for public names)",
        );
    } else if tls::acme_email(b).is_some() {
        if let Some(h) = hosts.iter().find(|h| !tls::is_public(h)) {
            c.warn(
                p.key("cert_manager").key("values").key("acme_email"),
                format!("`{h}` is not a public DNS name, so Let's Encrypt cannot issue for it: every Ingress gets its certificate from the Ingress CA instead (`kateskit cluster ingress-ca DIR` prints it for browsers)"),
                "use public names for dex's issuer and the auth proxy, or remove acme_email",
            );
        }
    }
}

/// Dex refuses to start with no connector and the password database off.
fn check_connectors(c: &mut Checker, b: &BundleSpec, p: &KeyPath) {
    let config = b.dex.values.get("config").and_then(|v| v.as_table());
    let password_db = config
        .and_then(|t| t.get("enablePasswordDB"))
        .and_then(|v| v.as_bool())
        == Some(true);
    let cp = p.key("dex").key("values").key("config").key("connectors");
    match config.and_then(|t| t.get("connectors")) {
        None if password_db => {}
        None => c.err(
            p.key("dex").key("enable"),
            "dex is enabled without a connector, and dex exits at start when it has none",
            CONNECTOR_FIX,
        ),
        Some(toml::Value::Array(list)) if list.is_empty() && !password_db => c.err(
            cp,
            "dex.values.config.connectors is empty, and dex exits at start without a connector",
            CONNECTOR_FIX,
        ),
        Some(toml::Value::Array(list)) => {
            for (i, conn) in list.iter().enumerate() {
                let text = |k: &str| conn.get(k).and_then(|v| v.as_str()).unwrap_or_default();
                if text("type").is_empty() || text("id").is_empty() {
                    c.err(
                        cp.idx(i),
                        format!("dex connector {i} needs a `type` and an `id`"),
                        "give it type = \"github\" (or ldap, oidc, ...), id = \"<unique name>\" and name",
                    );
                }
            }
        }
        Some(_) => c.err(
            cp,
            "dex.values.config.connectors is not a list of connector tables",
            CONNECTOR_FIX,
        ),
    }
}
