//! The pinned charts fit what KatesKit gives them: every key path rendered into a chart's values
//! exists in the key list recorded from that chart's values.yaml and templates at the pinned
//! version (tests/data/chart-keys, written by regen.py there), and every pin's recorded
//! Kubernetes range holds the k3s of [k3s] in bundle/charts.toml.

use std::collections::BTreeSet;
use std::path::PathBuf;

use kateskit::bundle::charts::{self, ChartError, ChartLock, ChartSource};
use kateskit::{nodecfg, spec};
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
];

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
    let mut bad = Vec::new();
    for m in charts::render(cfg, lock, ChartSource::Repo).unwrap() {
        let doc: Value = serde_yaml::from_str(&m.yaml).unwrap();
        let Some(values) = doc["spec"]["valuesContent"].as_str() else {
            continue;
        };
        let chart = doc["metadata"]["name"].as_str().unwrap();
        let version = doc["spec"]["version"].as_str().unwrap();
        let known = key_list(chart, version);
        let mut rendered = BTreeSet::new();
        paths(&serde_yaml::from_str(values).unwrap(), "", &mut rendered);
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

#[test]
fn every_pin_has_a_key_list_and_the_free_form_keys_exist() {
    let lock = ChartLock::bundled().unwrap();
    for c in charts::COMPONENTS {
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
fn every_pin_supports_the_pinned_k3s() {
    let lock = ChartLock::bundled().unwrap();
    let pin = lock
        .k3s
        .as_ref()
        .expect("bundle/charts.toml has a [k3s] table");
    assert!(pin.source.contains("NixOS/nixpkgs @ "), "{}", pin.source);
    assert!(
        pin.version.starts_with(&format!("{}.", pin.kubernetes)),
        "{pin:?}"
    );
    for c in charts::COMPONENTS {
        let e = &lock.charts[c];
        assert!(
            e.kube_min.is_some() && e.kube_source.is_some(),
            "[{c}] has no recorded range"
        );
    }
    assert_eq!(lock.check_kubernetes(), Ok(()));
}

fn with(find: &str, replace: &str) -> ChartLock {
    assert!(charts::LOCK.contains(find), "{find}");
    ChartLock::parse(&charts::LOCK.replacen(find, replace, 1), "my.toml").unwrap()
}

#[test]
fn a_pin_whose_range_excludes_the_k3s_is_refused() {
    // cert-manager 1.20 stops at 1.35: the next minor, k3s's upgrade path, is outside.
    let e = with("kube_max = \"1.36\"", "kube_max = \"1.35\"")
        .check_kubernetes()
        .unwrap_err();
    assert!(
        matches!(&e, ChartError::OutOfRange { component, kube, .. } if component == "cert_manager" && kube == "1.36"),
        "{e}"
    );
    assert!(
        e.to_string().starts_with(
            "my.toml: [cert_manager] v1.21.1 supports Kubernetes 1.33 to 1.35, not 1.36"
        ),
        "{e}"
    );
    // Longhorn 1.3 ends at 1.24; its successors start at 1.25.
    let old = with(
        "kube_min = \"1.25\"",
        "kube_min = \"1.21\"\nkube_max = \"1.24\"",
    );
    let e = old.check_kubernetes().unwrap_err();
    assert!(
        matches!(&e, ChartError::OutOfRange { component, kube, .. } if component == "longhorn" && kube == "1.35"),
        "{e}"
    );
    let future = with("kube_min = \"1.25\"", "kube_min = \"1.37\"");
    assert!(future.check_kubernetes().is_err());
    // A rendered component without a range cannot be shown to fit.
    let none = with("kube_min = \"1.14\"\n", "");
    let e = none.check_kubernetes().unwrap_err();
    assert!(
        matches!(&e, ChartError::OutOfRange { component, .. } if component == "dex"),
        "{e}"
    );
}

#[test]
fn malformed_ranges_and_a_missing_k3s_table_name_the_fix() {
    let bad = charts::LOCK.replacen("kube_min = \"1.25\"", "kube_min = \"v1.25\"", 1);
    let e = ChartLock::parse(&bad, "my.toml").unwrap_err();
    assert_eq!(
        e.to_string(),
        "my.toml: [longhorn] kube_min `v1.25` is not a Kubernetes minor such as \"1.35\""
    );
    let unsourced = charts::LOCK.replacen("kube_source = \"longhorn/", "# kube_source = \"", 1);
    assert!(matches!(
        ChartLock::parse(&unsourced, "x").unwrap_err(),
        ChartError::RangeWithoutSource { component, .. } if component == "longhorn"
    ));
    let start = charts::LOCK.find("\n[k3s]\n").unwrap();
    let end = charts::LOCK.find("\n[dex]\n").unwrap();
    let no_k3s = format!("{}{}", &charts::LOCK[..start], &charts::LOCK[end..]);
    let lock = ChartLock::parse(&no_k3s, "x.toml").unwrap();
    assert_eq!(
        lock.check_kubernetes(),
        Err(ChartError::NoK3sPin {
            origin: "x.toml".into()
        })
    );
    assert_eq!(charts::minor("1.35"), Some((1, 35)));
    assert_eq!(charts::minor("1.35.0"), None);
}

#[test]
fn regen_script_is_documented_and_reads_the_lock() {
    let script = std::fs::read_to_string(root().join("tests/data/chart-keys/regen.py")).unwrap();
    assert!(
        script.contains("bundle\", \"charts.toml"),
        "regen.py reads the lock"
    );
    for c in charts::COMPONENTS {
        assert!(
            script.contains(&format!("\"{c}\":")),
            "regen.py has no source for [{c}]"
        );
    }
}
