//! The chart lock `bundle/charts.toml`: one pinned chart per component (coordinates, archive
//! digest and where it was read, supported Kubernetes range) and the `[k3s]` target. Parsing
//! refuses what would make a pin dishonest or unusable, naming the file and the fix.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{compat, K3sPin, LOCK, LOCKED};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ChartError {
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("{origin}: component `{component}` is enabled but has no [{component}] table; add repo, chart, version, namespace, url and digest for it")]
    Missing { origin: String, component: String },
    #[error("{origin}: [{component}] digest `{digest}` is not sha256:<64 hex digits>; copy the `digest` field of the chart repository's index.yaml")]
    BadDigest {
        origin: String,
        component: String,
        digest: String,
    },
    #[error("{origin}: [{component}] says verified = true but has no digest; add the digest or set verified = false")]
    VerifiedWithoutDigest { origin: String, component: String },
    #[error("{origin}: unknown component [{component}]; the lock holds: {}", LOCKED.join(", "))]
    Unknown { origin: String, component: String },
    #[error(
        "{origin}: [{component}] {field} `{value}` is not a Kubernetes minor such as \"1.35\""
    )]
    BadKubeVersion {
        origin: String,
        component: String,
        field: &'static str,
        value: String,
    },
    #[error("{origin}: [{component}] records a Kubernetes range without kube_min and kube_source; add both (the chart's Chart.yaml kubeVersion or its support matrix)")]
    RangeWithoutSource { origin: String, component: String },
    #[error(
        "{origin}: no [k3s] table; add version, kubernetes and source of the k3s the image ships"
    )]
    NoK3sPin { origin: String },
    #[error("{origin}: [{component}] {version} supports Kubernetes {range}, not {kube} of [k3s]; pin a release whose range includes it (with its digest, range and key list)")]
    OutOfRange {
        origin: String,
        component: String,
        version: String,
        kube: String,
        range: String,
    },
}

/// One locked chart.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedChart {
    pub repo: String,
    pub chart: String,
    pub version: String,
    pub namespace: String,
    pub url: String,
    #[serde(default)]
    pub digest: String,
    pub verified: bool,
    pub source: String,
    /// Supported Kubernetes minors (see [`LockedChart::supports`]) and where they were read.
    #[serde(default)]
    pub kube_min: Option<String>,
    #[serde(default)]
    pub kube_max: Option<String>,
    #[serde(default)]
    pub kube_source: Option<String>,
}

/// The parsed lock file, keyed by component.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartLock {
    pub origin: String,
    /// The `[k3s]` table: the Kubernetes the charts must run on.
    pub k3s: Option<K3sPin>,
    pub charts: BTreeMap<String, LockedChart>,
}

fn is_digest(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

impl ChartLock {
    /// Parses and checks a lock file; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<ChartLock, ChartError> {
        let parse_err = |e: toml::de::Error| ChartError::Parse {
            origin: origin.into(),
            message: e.to_string().trim().to_string(),
        };
        let mut table: toml::Table = toml::from_str(text).map_err(parse_err)?;
        let k3s = match table.remove("k3s") {
            Some(t) => Some(t.try_into().map_err(parse_err)?),
            None => None,
        };
        let charts: BTreeMap<String, LockedChart> =
            toml::Value::Table(table).try_into().map_err(parse_err)?;
        for (component, c) in &charts {
            let err =
                |f: fn(String, String) -> ChartError| Err(f(origin.into(), component.clone()));
            if !LOCKED.contains(&component.as_str()) {
                return err(|origin, component| ChartError::Unknown { origin, component });
            }
            if !c.digest.is_empty() && !is_digest(&c.digest) {
                return Err(ChartError::BadDigest {
                    origin: origin.into(),
                    component: component.clone(),
                    digest: c.digest.clone(),
                });
            }
            if c.verified && c.digest.is_empty() {
                return err(|origin, component| ChartError::VerifiedWithoutDigest {
                    origin,
                    component,
                });
            }
            compat::check_entry(origin, component, c)?;
        }
        Ok(ChartLock {
            origin: origin.into(),
            k3s,
            charts,
        })
    }

    /// The lock file compiled into this binary.
    pub fn bundled() -> Result<ChartLock, ChartError> {
        ChartLock::parse(LOCK, "bundle/charts.toml")
    }
}
