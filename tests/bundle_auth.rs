//! Dex and the auth proxy as rendered for k3s: dex refuses to be enabled without a connector,
//! its issuer gets an Ingress, a user's own dex lists keep the proxy's client, and both
//! Ingresses get TLS from cert-manager (ACME for public names, else the Ingress CA).

use kateskit::bundle::charts::{self, ChartLock, ChartSource};
use kateskit::{nodecfg, spec};
use serde_yaml_ng::Value;

const NODES: &str = "[[nodes]]\nname = \"s1\"\nrole = \"server\"\n";

fn bundle(extra: &str, cert_manager: &str, issuer: &str, proxy: &str) -> String {
    format!(
        "[cluster]\nname = \"t\"\n[bundle]\nauth_proxy = {{ enable = true, values = {{ hostname = \"{proxy}\" }} }}\n{cert_manager}\n[bundle.dex]\nenable = true\n[bundle.dex.values]\nissuer = \"{issuer}\"\n{extra}\n[[bundle.dex.values.config.connectors]]\ntype = \"github\"\nid = \"github\"\nname = \"GitHub\"\n{NODES}"
    )
}

/// Values of each chart (by file name) and the rendered issuer file, plus the warnings.
fn render(src: &str) -> (Vec<(String, Value)>, Vec<String>) {
    let (spec, diags) = spec::parse_str(src, "cluster.toml").unwrap_or_else(|e| panic!("{e}"));
    let cfg = nodecfg::render_public(&spec, "s1").unwrap();
    let lock = ChartLock::bundled().unwrap();
    let out = charts::render(&cfg, &lock, ChartSource::Static)
        .unwrap()
        .into_iter()
        .map(|m| {
            let v = if m.file_name == "kateskit-cert-manager-issuer.yaml" {
                Value::String(m.yaml)
            } else {
                let doc: Value = serde_yaml_ng::from_str(&m.yaml).unwrap();
                serde_yaml_ng::from_str(doc["spec"]["valuesContent"].as_str().unwrap_or("{}"))
                    .unwrap()
            };
            (m.file_name, v)
        })
        .collect();
    (out, diags.into_iter().map(|d| d.to_string()).collect())
}

fn values<'a>(out: &'a [(String, Value)], file: &str) -> &'a Value {
    &out.iter().find(|(f, _)| f == file).unwrap().1
}

fn ids(v: &Value) -> Vec<&str> {
    v["config"]["staticClients"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect()
}

#[test]
fn user_clients_and_env_are_merged_with_the_proxy_client() {
    let extra = "envFrom = [{ secretRef = { name = \"dex-github\" } }]\n[[bundle.dex.values.config.staticClients]]\nid = \"grafana\"\nname = \"Grafana\"\nredirectURIs = [\"https://grafana.example.com/login/generic_oauth\"]\nsecretEnv = \"GRAFANA_SECRET\"";
    let src = bundle(extra, "", "https://dex.example.com", "auth.example.com");
    let (out, _) = render(&src);
    let dex = values(&out, "kateskit-dex.yaml");
    assert_eq!(ids(dex), ["grafana", "kateskit-auth-proxy"]);
    let env: Vec<&str> = dex["envFrom"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| e["secretRef"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(env, ["dex-github", "kateskit-auth-proxy-client"]);
    assert_eq!(dex["config"]["connectors"][0]["id"], "github");
}

#[test]
fn a_user_client_with_the_proxy_id_replaces_it_once() {
    let extra = "[[bundle.dex.values.config.staticClients]]\nid = \"kateskit-auth-proxy\"\nname = \"mine\"\nredirectURIs = [\"https://auth.example.com/oauth2/callback\"]\nsecretEnv = \"KATESKIT_AUTH_PROXY_CLIENT_SECRET\"";
    let (out, _) = render(&bundle(
        extra,
        "",
        "https://dex.example.com",
        "auth.example.com",
    ));
    let dex = values(&out, "kateskit-dex.yaml");
    assert_eq!(ids(dex), ["kateskit-auth-proxy"]);
    assert_eq!(dex["config"]["staticClients"][0]["name"], "mine");
}

#[test]
fn dex_issuer_gets_an_ingress_for_its_host_and_path() {
    let (out, _) = render(&bundle(
        "",
        "",
        "https://id.example.com/dex",
        "auth.example.com",
    ));
    let ing = &values(&out, "kateskit-dex.yaml")["ingress"];
    assert_eq!(ing["enabled"], true);
    assert_eq!(ing["className"], "traefik");
    assert_eq!(ing["hosts"][0]["host"], "id.example.com");
    assert_eq!(ing["hosts"][0]["paths"][0]["path"], "/dex");
}

#[test]
fn without_cert_manager_ingresses_have_no_tls_and_a_warning_says_so() {
    let (out, warnings) = render(&bundle(
        "",
        "",
        "https://dex.example.com",
        "auth.example.com",
    ));
    for f in ["kateskit-dex.yaml", "kateskit-oauth2-proxy.yaml"] {
        assert!(values(&out, f)["ingress"]["tls"].is_null(), "{f}");
    }
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("cluster.toml:4:25: warning:")
                && w.contains("dex.example.com, auth.example.com get no TLS certificate")),
        "{warnings:?}"
    );
}

#[test]
fn public_names_with_an_acme_email_use_letsencrypt() {
    let cm = "cert_manager = { enable = true, values = { acme_email = \"ops@example.com\" } }";
    let (out, warnings) = render(&bundle(
        "",
        cm,
        "https://dex.example.com",
        "auth.example.com",
    ));
    assert!(warnings.is_empty(), "{warnings:?}");
    for (f, host, secret) in [
        ("kateskit-dex.yaml", "dex.example.com", "dex-tls"),
        (
            "kateskit-oauth2-proxy.yaml",
            "auth.example.com",
            "oauth2-proxy-tls",
        ),
    ] {
        let ing = &values(&out, f)["ingress"];
        assert_eq!(
            ing["annotations"]["cert-manager.io/cluster-issuer"],
            "letsencrypt"
        );
        assert_eq!(ing["tls"][0]["secretName"], secret);
        assert_eq!(ing["tls"][0]["hosts"][0], host);
    }
    let proxy = values(&out, "kateskit-oauth2-proxy.yaml");
    assert!(proxy["extraArgs"]["provider-ca-file"].is_null());
    let issuers = values(&out, "kateskit-cert-manager-issuer.yaml")
        .as_str()
        .unwrap();
    assert!(issuers.contains("email: ops@example.com"), "{issuers}");
    assert!(!issuers.contains("kateskit-ca"), "ACME only: {issuers}");
}

/// Internal names (or no ACME email) use the cluster CA, and the proxy trusts that CA for dex.
#[test]
fn internal_names_use_the_cluster_ca_which_the_proxy_trusts() {
    let cm = "cert_manager = { enable = true, values = { acme_email = \"ops@example.com\" } }";
    let (out, warnings) = render(&bundle(
        "",
        cm,
        "https://dex.rack.internal",
        "auth.rack.internal",
    ));
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("`dex.rack.internal` is not a public DNS name")),
        "{warnings:?}"
    );
    for f in ["kateskit-dex.yaml", "kateskit-oauth2-proxy.yaml"] {
        assert_eq!(
            values(&out, f)["ingress"]["annotations"]["cert-manager.io/cluster-issuer"],
            "kateskit-ca",
            "{f}"
        );
    }
    let proxy = values(&out, "kateskit-oauth2-proxy.yaml");
    assert_eq!(
        proxy["extraArgs"]["provider-ca-file"],
        "/etc/kateskit-ca/ca.crt"
    );
    assert_eq!(
        proxy["extraVolumes"][0]["secret"]["secretName"],
        proxy["ingress"]["tls"][0]["secretName"]
    );
    assert_eq!(
        proxy["extraVolumeMounts"][0]["mountPath"],
        "/etc/kateskit-ca"
    );
    let issuers: Vec<serde_yaml_ng::Value> = serde_yaml_ng::Deserializer::from_str(
        values(&out, "kateskit-cert-manager-issuer.yaml")
            .as_str()
            .unwrap(),
    )
    .map(|d| serde::Deserialize::deserialize(d).unwrap())
    .collect();
    // One CA issuer reading the Ingress CA's Secret: no in-cluster self-signed root, and no
    // key material in the public render.
    assert_eq!(issuers.len(), 1, "{issuers:?}");
    assert_eq!(issuers[0]["kind"], "ClusterIssuer");
    assert_eq!(issuers[0]["metadata"]["name"], "kateskit-ca");
    assert_eq!(
        issuers[0]["spec"]["ca"]["secretName"],
        "kateskit-ingress-ca"
    );
    assert!(out
        .iter()
        .all(|(f, _)| f != "kateskit-ingress-ca-secret.yaml"));
}

#[test]
fn the_examples_pass_cluster_check() {
    for ex in ["rack", "homelab"] {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(ex)
            .join("cluster.toml");
        spec::load(&p).unwrap_or_else(|e| panic!("{ex}: {e}"));
    }
}
