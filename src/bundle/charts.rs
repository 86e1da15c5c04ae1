//! HelmChart manifests (`helm.cattle.io/v1`) for the bundle components that come from Helm
//! charts: dex, the auth proxy (oauth2-proxy), the dashboard (Headlamp), cert-manager, internal
//! DNS (k8s_gateway), Longhorn and kube-vip (with its cloud provider, `bundle::kube_vip`). Chart coordinates and digests come from the lock file
//! `bundle/charts.toml`; k3s's packaged components are switched with `disable` instead. The
//! lock also pins Rook's operator chart (`[rook_ceph]`) and its CSI drivers chart
//! (`[rook_csi_drivers]`), whose manifests `bundle::rook` renders.

mod compat;
mod lock;
mod values;

pub use compat::{minor, K3sPin};
pub use lock::{ChartError, ChartLock, LockedChart};
pub(crate) use values::merge;
pub use values::proxy_hostname;

use serde_json::{json, Map, Value};

use super::Manifest;
use crate::nodecfg::NodeConfig;
use crate::spec::{BundleSpec, Component, StorageDriver};

/// The lock file shipped with this build.
pub const LOCK: &str = include_str!("../../bundle/charts.toml");

/// Components rendered here, in manifest order (kube-vip first: joining nodes wait for the API
/// VIP; cert-manager early: others may want its CRDs).
pub const COMPONENTS: [&str; 7] = [
    "kube_vip",
    "cert_manager",
    "dex",
    "auth_proxy",
    "dashboard",
    "internal_dns",
    "longhorn",
];
/// Lock entry of Rook's operator chart (rendered by `bundle::rook`, not here).
pub const ROOK: &str = "rook_ceph";
/// Lock entry of the Ceph CSI drivers chart, which Rook (since v1.20) needs beside its operator
/// chart to provision volumes (rendered by `bundle::rook`).
pub const ROOK_CSI: &str = "rook_csi_drivers";
/// Lock entry of kube-vip's cloud provider, rendered with the `kube_vip` component: it assigns
/// LoadBalancer Services their addresses, which kube-vip then announces.
pub const KUBE_VIP_CLOUD: &str = "kube_vip_cloud_provider";
/// The charts deployed with Rook, after its `rook-ceph-mon` Secret exists.
pub const ROOK_CHARTS: [&str; 2] = [ROOK, ROOK_CSI];
/// Charts that own data: on a failed upgrade helm-controller's default `failurePolicy`
/// (`reinstall`) uninstalls the release, which can delete its volumes; these get `abort`, which
/// leaves the release failed for a person to resolve. Field and values (`abort`, `reinstall`,
/// `retry`) as in k3s-io/helm-controller `pkg/apis/helm.cattle.io/v1/types.go`.
pub const STATEFUL: [&str; 2] = ["longhorn", ROOK];
/// Every table the lock may hold.
pub const LOCKED: [&str; 10] = [
    "kube_vip",
    KUBE_VIP_CLOUD,
    "cert_manager",
    "dex",
    "auth_proxy",
    "dashboard",
    "internal_dns",
    "longhorn",
    ROOK,
    ROOK_CSI,
];

/// Where the Helm job fetches the chart from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartSource {
    /// The chart repository (needs network at deploy time).
    Repo,
    /// k3s's static charts directory, filled by the image (`kateskit.bundle.chartArchives`).
    Static,
}

/// Components of `bundle` that are installed from a chart, in [`COMPONENTS`] order.
pub fn enabled(bundle: &BundleSpec) -> Vec<&'static str> {
    let on = |c: &str| match c {
        "dex" => bundle.dex.enable,
        "auth_proxy" => bundle.auth_proxy.enable,
        "dashboard" => bundle.dashboard.enable,
        "cert_manager" => bundle.cert_manager.enable,
        "internal_dns" => bundle.internal_dns.enable,
        "longhorn" => bundle.storage == StorageDriver::Longhorn,
        "kube_vip" => bundle.kube_vip.enable,
        _ => false,
    };
    COMPONENTS.into_iter().filter(|c| on(c)).collect()
}

/// Every locked chart a node with `bundle` deploys, Rook included: the archives the image must
/// ship in k3s's static charts directory for an air-gapped deploy.
pub fn archives(bundle: &BundleSpec) -> Vec<&'static str> {
    let mut out = enabled(bundle);
    if bundle.kube_vip.enable {
        out.insert(1, KUBE_VIP_CLOUD);
    }
    if bundle.storage == StorageDriver::RookCeph {
        out.extend(ROOK_CHARTS);
    }
    out
}

/// HelmChart manifests for a node; empty for agents, which carry no bundle.
pub fn render(
    cfg: &NodeConfig,
    lock: &ChartLock,
    source: ChartSource,
) -> Result<Vec<Manifest>, ChartError> {
    let Some(bundle) = &cfg.bundle else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for component in enabled(bundle) {
        let locked = lock
            .charts
            .get(component)
            .ok_or_else(|| ChartError::Missing {
                origin: lock.origin.clone(),
                component: component.into(),
            })?;
        if component == "dex" {
            out.extend(auth_secrets(cfg, bundle, lock));
        }
        if component == "kube_vip" {
            out.extend(super::kube_vip::render(cfg, bundle, lock, source)?);
            continue;
        }
        let (values, extra) = values::values(component, bundle);
        out.push(Manifest {
            file_name: format!("kateskit-{}.yaml", locked.chart),
            yaml: to_yaml(&helm_chart(component, locked, &values, source)),
        });
        if component == "cert_manager" {
            let docs = super::tls::issuers(bundle);
            out.push(Manifest {
                file_name: "kateskit-cert-manager-issuer.yaml".into(),
                yaml: docs.iter().map(to_yaml).collect::<Vec<_>>().join("---\n"),
            });
            out.extend(ingress_ca_secret(cfg, &locked.namespace));
        }
        if let Some((name, doc)) = extra {
            out.push(Manifest {
                file_name: format!("kateskit-{name}.yaml"),
                yaml: to_yaml(&doc),
            });
        }
    }
    Ok(out)
}

/// The dex/auth-proxy Secrets, on nodes that carry secrets (the public render has none).
fn auth_secrets(cfg: &NodeConfig, bundle: &BundleSpec, lock: &ChartLock) -> Option<Manifest> {
    let secrets = cfg.secrets.as_ref()?;
    values::proxy_hostname(bundle)?;
    let ns = |c: &str| lock.charts.get(c).map(|l| l.namespace.clone());
    let docs = super::auth::secret_documents(
        &super::auth::derive(secrets.token.expose()),
        &ns("dex")?,
        &ns("auth_proxy")?,
    );
    Some(Manifest {
        file_name: "kateskit-auth-proxy-secrets.yaml".into(),
        yaml: docs.iter().map(to_yaml).collect::<Vec<_>>().join("---\n"),
    })
}

/// The CA issuer's Secret, on servers whose NodeConfig carries the Ingress CA (the public
/// render has none, so the key never reaches Nix).
fn ingress_ca_secret(cfg: &NodeConfig, cert_ns: &str) -> Option<Manifest> {
    let s = cfg.secrets.as_ref()?;
    let docs = super::tls::ca_secret_documents(
        s.ingress_ca_crt.as_ref()?,
        s.ingress_ca_key.as_ref()?.expose(),
        cert_ns,
    );
    Some(Manifest {
        file_name: "kateskit-ingress-ca-secret.yaml".into(),
        yaml: docs.iter().map(to_yaml).collect::<Vec<_>>().join("---\n"),
    })
}

/// A k3s `HelmChart` for a locked chart; with [`ChartSource::Static`] the chart is the
/// archive k3s serves from its static charts directory.
pub(crate) fn helm_chart(
    component: &str,
    c: &LockedChart,
    values: &Value,
    source: ChartSource,
) -> Value {
    let mut annotations = Map::new();
    annotations.insert("kateskit.dev/component".into(), json!(component));
    annotations.insert("kateskit.dev/chart-version".into(), json!(c.version));
    if !c.digest.is_empty() {
        annotations.insert("kateskit.dev/chart-digest".into(), json!(c.digest));
    }
    let mut spec = Map::new();
    match source {
        ChartSource::Repo => {
            spec.insert("repo".into(), json!(c.repo));
            spec.insert("chart".into(), json!(c.chart));
            spec.insert("version".into(), json!(c.version));
        }
        ChartSource::Static => {
            spec.insert(
                "chart".into(),
                json!(format!(
                    "https://%{{KUBERNETES_API}}%/static/charts/{component}.tgz"
                )),
            );
        }
    }
    spec.insert("targetNamespace".into(), json!(c.namespace));
    spec.insert("createNamespace".into(), json!(true));
    if STATEFUL.contains(&component) {
        spec.insert("failurePolicy".into(), json!("abort"));
    }
    if values.as_object().is_some_and(|m| !m.is_empty()) {
        spec.insert("valuesContent".into(), json!(to_yaml(values)));
    }
    json!({
        "apiVersion": "helm.cattle.io/v1",
        "kind": "HelmChart",
        "metadata": { "name": c.chart, "namespace": "kube-system", "annotations": annotations },
        "spec": spec,
    })
}

pub(crate) fn to_yaml(v: &Value) -> String {
    serde_yaml_ng::to_string(v).expect("JSON values always serialize to YAML")
}

/// A component's user values as JSON (TOML values map one to one).
pub(crate) fn user_values(c: &Component) -> Map<String, Value> {
    c.values
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                serde_json::to_value(v).expect("TOML values serialize to JSON"),
            )
        })
        .collect()
}
