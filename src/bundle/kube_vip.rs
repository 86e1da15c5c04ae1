//! kube-vip, the load balancer that replaces k3s's servicelb: one DaemonSet on the servers
//! holds the API VIP (`network.api_vip`, ARP with leader election, so one server answers for
//! it at a time) and announces the addresses of LoadBalancer Services, which kube-vip's cloud
//! provider assigns from `bundle.kube_vip.values.service_range`. Values as the pinned charts
//! take them (kube-vip/helm-charts tags kube-vip-0.9.9 and kube-vip-cloud-provider-0.2.10:
//! `config.address`, `env.*` flags of kube-vip v1.0.4 `pkg/kubevip/config_envvar.go`,
//! `cm.data` of the cloud provider's ConfigMap).

use serde_json::{json, Value};

use super::charts::{self, ChartError, ChartLock, ChartSource, KUBE_VIP_CLOUD};
use super::Manifest;
use crate::nodecfg::NodeConfig;
use crate::spec::BundleSpec;

/// Keys of `bundle.kube_vip.values` KatesKit reads itself; the rest go to the kube-vip chart.
pub const SERVICE_RANGE: &str = "service_range";
pub const INTERFACE: &str = "interface";

/// The cloud provider's pool key for `range`: `cidr-global` for a CIDR, `range-global` for
/// `first-last` (kube-vip-cloud-provider README, "global" pools serve every namespace).
pub fn pool_key(range: &str) -> &'static str {
    if range.contains('/') {
        "cidr-global"
    } else {
        "range-global"
    }
}

/// kube-vip's values for a server: the VIP from the NodeConfig, the interface from the user's
/// `values.interface`, else the one every server names, else detected (empty).
pub fn values(cfg: &NodeConfig, bundle: &BundleSpec) -> Value {
    let mut user = charts::user_values(&bundle.kube_vip);
    user.remove(SERVICE_RANGE);
    let interface = user
        .remove(INTERFACE)
        .and_then(|v| v.as_str().map(str::to_string))
        .or_else(|| cfg.k3s.api_vip_interface.clone())
        .unwrap_or_default();
    let address = cfg.k3s.api_vip.clone().unwrap_or_default();
    let subnet = if address.contains(':') { "128" } else { "32" };
    let mut d = json!({
        "config": { "address": address },
        "env": {
            "vip_interface": interface,
            "vip_arp": "true",
            "vip_subnet": subnet,
            "vip_leaderelection": "true",
            "cp_enable": "true",
            // The leader's own API server answers on the VIP; no IPVS balancing in front.
            "lb_enable": "false",
            "svc_enable": "true",
            "svc_election": "false",
        },
        // Servers only (k3s labels them), whatever taints they carry.
        "nodeSelector": { "node-role.kubernetes.io/control-plane": "true" },
        "tolerations": [
            { "operator": "Exists", "effect": "NoSchedule" },
            { "operator": "Exists", "effect": "NoExecute" },
        ],
    });
    charts::merge(&mut d, Value::Object(user));
    d
}

/// The cloud provider's values: the pool every LoadBalancer Service draws from.
pub fn cloud_values(bundle: &BundleSpec) -> Value {
    match bundle
        .kube_vip
        .values
        .get(SERVICE_RANGE)
        .and_then(|v| v.as_str())
    {
        Some(range) => json!({ "cm": { "data": { pool_key(range): range } } }),
        None => json!({}),
    }
}

/// Both HelmCharts of the component, kube-vip first.
pub fn render(
    cfg: &NodeConfig,
    bundle: &BundleSpec,
    lock: &ChartLock,
    source: ChartSource,
) -> Result<Vec<Manifest>, ChartError> {
    let mut out = Vec::new();
    for (component, values) in [
        ("kube_vip", values(cfg, bundle)),
        (KUBE_VIP_CLOUD, cloud_values(bundle)),
    ] {
        let locked = lock
            .charts
            .get(component)
            .ok_or_else(|| ChartError::Missing {
                origin: lock.origin.clone(),
                component: component.into(),
            })?;
        out.push(Manifest {
            file_name: format!("kateskit-{}.yaml", locked.chart),
            yaml: charts::to_yaml(&charts::helm_chart(component, locked, &values, source)),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cidr_and_a_range_go_to_their_pool_keys() {
        assert_eq!(pool_key("192.0.2.192/27"), "cidr-global");
        assert_eq!(pool_key("192.0.2.200-192.0.2.219"), "range-global");
    }
}
