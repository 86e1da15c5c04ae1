//! The pinned charts take what KatesKit gives them: every key path rendered into a chart's
//! values exists in the key list recorded from that chart's values.yaml and templates at the
//! pinned version (tests/data/chart-keys, written by regen.py there).

use std::collections::BTreeSet;
use std::path::PathBuf;

use kateskit::bundle::charts::{self, ChartLock, ChartSource};
use kateskit::{nodecfg, spec};
use serde::Deserialize;
use serde_json::Value;

/// Values subtrees a chart takes as free-form maps or Kubernetes objects, so their sub-keys are
/// not in values.yaml: (chart, key path, why). Each path must itself be in the chart's list.
const FREE_FORM: &[(&str, &str, &str)] = &[
    (
        "dex",
        "config",
        "dex's own configuration file, passed through as is (values.yaml `config: {}`)",
    ),
    (
        "dex",
        "envFrom",
        "Kubernetes EnvFromSource objects (values.yaml `envFrom: []`)",
    ),
    (
        "oauth2-proxy",
        "extraArgs",
        "oauth2-proxy flags by name (values.yaml `extraArgs: {}`)",
    ),
    ("dex", "ingress.annotations", ANNOTATIONS),
    ("dex", "ingress.tls", INGRESS_TLS),
    ("oauth2-proxy", "ingress.annotations", ANNOTATIONS),
    ("oauth2-proxy", "ingress.tls", INGRESS_TLS),
    (
        "ceph-csi-drivers",
        "drivers.rbd.nodePlugin.volumes",
        CSI_VOLUMES,
    ),
    (
        "ceph-csi-drivers",
        "drivers.cephfs.nodePlugin.volumes",
        CSI_VOLUMES,
    ),
    (
        "kube-vip",
        "env",
        "kube-vip's flags as environment variables, any of kube-vip v1.0.4 pkg/kubevip/config_envvar.go (values.yaml `env:`)",
    ),
    (
        "kube-vip",
        "nodeSelector",
        "a Kubernetes node selector, label keys (values.yaml `nodeSelector: {}`)",
    ),
    (
        "kube-vip-cloud-provider",
        "cm.data",
        "the cloud provider's ConfigMap data, one key per address pool (values.yaml `cm: data: {}`)",
    ),
];
const ANNOTATIONS: &str = "Kubernetes annotations, any key (values.yaml `annotations: {}`)";
const INGRESS_TLS: &str =
    "Kubernetes IngressTLS objects, `hosts` and `secretName` (values.yaml `tls: []`)";
const CSI_VOLUMES: &str =
    "ceph-csi-operator VolumeSpec objects, a Kubernetes Volume and VolumeMount each (values.yaml `volumes: []`)";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn keys_file(chart: &str, version: &str) -> PathBuf {
    root().join(format!("tests/data/chart-keys/{chart}-{version}.txt"))
}

fn key_list(chart: &str, version: &str) -> BTreeSet<String> {
    let path = keys_file(chart, version);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run tests/data/chart-keys/regen.py after bumping a pin",
            path.display()
        )
    });
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Key paths of a values tree, in regen.py's format (`.` joins, `\.` escapes, `[]` for lists).
fn paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let seg = k.replace('.', "\\.");
                let p = if prefix.is_empty() {
                    seg
                } else {
                    format!("{prefix}.{seg}")
                };
                out.insert(p.clone());
                paths(v, &p, out);
            }
        }
        Value::Array(items) => {
            for item in items.iter().filter(|i| i.is_object()) {
                out.insert(format!("{prefix}[]"));
                paths(item, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

fn free_form(chart: &str, path: &str) -> bool {
    FREE_FORM.iter().any(|(c, p, _)| {
        *c == chart
            && (path == *p
                || path.starts_with(&format!("{p}."))
                || path.starts_with(&format!("{p}[]")))
    })
}

/// Rendered key paths absent from their chart's list, as `chart-version: path`.
fn unknown_keys(cfg: &nodecfg::NodeConfig, lock: &ChartLock) -> Vec<String> {
    unknown_in(&charts::render(cfg, lock, ChartSource::Repo).unwrap())
}

fn unknown_in(manifests: &[kateskit::bundle::Manifest]) -> Vec<String> {
    let mut bad = Vec::new();
    // A manifest file may hold several documents (a HelmChart and the objects it needs).
    let docs = manifests.iter().flat_map(|m| {
        serde_yaml_ng::Deserializer::from_str(&m.yaml)
            .map(|d| Value::deserialize(d).unwrap())
            .collect::<Vec<_>>()
    });
    for doc in docs {
        if doc["kind"] != "HelmChart" {
            continue;
        }
        let Some(values) = doc["spec"]["valuesContent"].as_str() else {
            continue;
        };
        let chart = doc["metadata"]["name"].as_str().unwrap();
        let version = doc["spec"]["version"].as_str().unwrap();
        let known = key_list(chart, version);
        let mut rendered = BTreeSet::new();
        paths(&serde_yaml_ng::from_str(values).unwrap(), "", &mut rendered);
        for p in rendered
            .into_iter()
            .filter(|p| !known.contains(p) && !free_form(chart, p))
        {
            bad.push(format!("{chart}-{version}: {p}"));
        }
    }
    bad
}

fn servers(example: &str) -> Vec<nodecfg::NodeConfig> {
    let loaded = spec::load(&root().join("examples").join(example).join("cluster.toml")).unwrap();
    let s = &loaded.spec;
    s.nodes
        .iter()
        .filter(|n| n.role == spec::Role::Server)
        .map(|n| nodecfg::render_public(s, &n.name).unwrap())
        .collect()
}

/// Every example's servers, plus the rack with Longhorn instead of Rook, so every component
/// is rendered at least once.
fn configs() -> Vec<nodecfg::NodeConfig> {
    let mut all: Vec<_> = ["homelab", "rack"].into_iter().flat_map(servers).collect();
    let mut longhorn = servers("rack").remove(0);
    longhorn.bundle.as_mut().unwrap().storage = spec::StorageDriver::Longhorn;
    all.push(longhorn);
    all
}

#[test]
fn every_rendered_values_key_exists_in_the_pinned_chart() {
    let lock = ChartLock::bundled().unwrap();
    let mut seen = BTreeSet::new();
    for cfg in configs() {
        let bad = unknown_keys(&cfg, &lock);
        assert!(
            bad.is_empty(),
            "keys the pinned charts do not have:\n{}",
            bad.join("\n")
        );
        seen.extend(charts::enabled(cfg.bundle.as_ref().unwrap()));
    }
    assert_eq!(
        seen,
        charts::COMPONENTS.into_iter().collect(),
        "every component is rendered"
    );
}

/// Rook's operator and CSI drivers charts, rendered by `bundle::rook` for the rack.
#[test]
fn rook_chart_values_exist_in_the_pinned_charts() {
    let rack = spec::load(&root().join("examples/rack/cluster.toml"))
        .unwrap()
        .spec;
    let manifests = kateskit::bundle::rook::render(&rack).unwrap();
    let bad = unknown_in(&manifests[..1]);
    assert!(
        bad.is_empty(),
        "keys Rook's chart does not have:\n{}",
        bad.join("\n")
    );
    let names: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&manifests[0].yaml)
        .map(|d| Value::deserialize(d).unwrap()["metadata"]["name"].clone())
        .collect();
    assert_eq!(names, ["rook-ceph", "ceph-csi-drivers"]);
}

#[test]
fn every_pin_has_a_key_list_and_the_free_form_keys_exist() {
    let lock = ChartLock::bundled().unwrap();
    for c in charts::LOCKED {
        let pin = &lock.charts[c];
        let text = std::fs::read_to_string(keys_file(&pin.chart, &pin.version)).unwrap();
        assert!(
            text.contains("generated by regen.py"),
            "[{c}] key list is not generated"
        );
        assert!(
            key_list(&pin.chart, &pin.version).len() > 10,
            "[{c}] key list is empty"
        );
    }
    for (chart, path, why) in FREE_FORM {
        let pin = lock.charts.values().find(|p| p.chart == *chart).unwrap();
        assert!(
            key_list(chart, &pin.version).contains(*path),
            "{chart}: {path} ({why})"
        );
    }
}

#[test]
fn a_key_the_chart_lacks_is_reported() {
    let lock = ChartLock::bundled().unwrap();
    let mut cfg = servers("rack").remove(0);
    let b = cfg.bundle.as_mut().unwrap();
    b.dashboard
        .values
        .insert("replicas".into(), toml::Value::Integer(2));
    b.auth_proxy
        .values
        .insert("ingress".into(), toml::toml! { classname = "nginx" }.into());
    b.auth_proxy.values.insert(
        "extraArgs".into(),
        toml::toml! { "skip-provider-button" = true }.into(),
    );
    let mut bad = unknown_keys(&cfg, &lock);
    bad.sort();
    let dashboard = &lock.charts["dashboard"];
    let proxy = &lock.charts["auth_proxy"];
    assert_eq!(
        bad,
        [
            format!("headlamp-{}: replicas", dashboard.version),
            format!("oauth2-proxy-{}: ingress.classname", proxy.version),
        ],
        "a misspelt key is caught, a free-form map is not"
    );
}

#[test]
fn regen_script_is_documented_and_reads_the_lock() {
    let script = std::fs::read_to_string(root().join("tests/data/chart-keys/regen.py")).unwrap();
    assert!(
        script.contains("bundle\", \"charts.toml"),
        "regen.py reads the lock"
    );
    for c in charts::LOCKED {
        assert!(
            script.contains(&format!("\"{c}\":")),
            "regen.py has no source for [{c}]"
        );
    }
}
