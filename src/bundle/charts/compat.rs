//! Which Kubernetes versions the pinned charts run on. The lock records the k3s the image ships
//! (`[k3s]`: its Kubernetes minor and the next one, nixpkgs' upgrade path) and each chart's
//! supported range with its source; a chart whose range excludes either is refused, since
//! Helm would install it and it would then fail at run time (as Longhorn 1.3 does on 1.25+).

use serde::Deserialize;

use super::{ChartError, ChartLock, LockedChart};

/// The k3s release the bundle targets (`[k3s]` in the lock).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct K3sPin {
    /// k3s release, e.g. `1.35.0+k3s3`.
    pub version: String,
    /// Its Kubernetes minor, e.g. `1.35`.
    pub kubernetes: String,
    /// The next minor, which the charts must also support so the cluster can be upgraded.
    #[serde(default)]
    pub next: Option<String>,
    pub source: String,
}

impl K3sPin {
    /// The minors every chart must support: the pinned one, then `next`.
    pub fn targets(&self) -> Vec<&str> {
        std::iter::once(self.kubernetes.as_str())
            .chain(self.next.as_deref())
            .collect()
    }
}

/// `"1.35"` as (1, 35); `None` for anything that is not `<major>.<minor>`.
pub fn minor(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('.')?;
    let num = |x: &str| {
        (!x.is_empty() && x.bytes().all(|c| c.is_ascii_digit())).then(|| x.parse().ok())?
    };
    Some((num(a)?, num(b)?))
}

impl LockedChart {
    /// Whether the recorded range holds Kubernetes minor `kube`; `None` without a range.
    pub fn supports(&self, kube: (u32, u32)) -> Option<bool> {
        let min = minor(self.kube_min.as_deref()?)?;
        let max_ok = self
            .kube_max
            .as_deref()
            .and_then(minor)
            .is_none_or(|m| kube <= m);
        Some(min <= kube && max_ok)
    }
}

/// Checks the range fields of one entry as the lock is parsed.
pub(super) fn check_entry(
    origin: &str,
    component: &str,
    c: &LockedChart,
) -> Result<(), ChartError> {
    for (field, value) in [("kube_min", &c.kube_min), ("kube_max", &c.kube_max)] {
        if let Some(v) = value.as_deref().filter(|v| minor(v).is_none()) {
            return Err(ChartError::BadKubeVersion {
                origin: origin.into(),
                component: component.into(),
                field,
                value: v.into(),
            });
        }
    }
    // A range needs its lower bound and where it was read.
    if (c.kube_max.is_some() && c.kube_min.is_none())
        || (c.kube_min.is_some() && c.kube_source.is_none())
    {
        return Err(ChartError::RangeWithoutSource {
            origin: origin.into(),
            component: component.into(),
        });
    }
    Ok(())
}

impl ChartLock {
    /// Refuses a lock whose charts (the rendered components, kube-vip's cloud provider, Rook's
    /// charts, and any other
    /// entry that records a range) do not support every [`K3sPin::targets`] minor.
    pub fn check_kubernetes(&self) -> Result<(), ChartError> {
        let pin = self.k3s.as_ref().ok_or_else(|| ChartError::NoK3sPin {
            origin: self.origin.clone(),
        })?;
        for kube in pin.targets() {
            let want = minor(kube).ok_or_else(|| ChartError::BadKubeVersion {
                origin: self.origin.clone(),
                component: "k3s".into(),
                field: "kubernetes",
                value: kube.into(),
            })?;
            for (component, c) in &self.charts {
                let required = super::COMPONENTS.contains(&component.as_str())
                    || super::ROOK_CHARTS.contains(&component.as_str())
                    || component == super::KUBE_VIP_CLOUD;
                match c.supports(want) {
                    Some(true) => {}
                    None if !required => {}
                    _ => {
                        return Err(ChartError::OutOfRange {
                            origin: self.origin.clone(),
                            component: component.clone(),
                            version: c.version.clone(),
                            kube: kube.into(),
                            range: format!(
                                "{} to {}",
                                c.kube_min.as_deref().unwrap_or("?"),
                                c.kube_max.as_deref().unwrap_or("any newer")
                            ),
                        })
                    }
                }
            }
        }
        Ok(())
    }
}
