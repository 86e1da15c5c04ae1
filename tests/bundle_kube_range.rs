//! Every chart pin runs on the k3s the image ships: bundle/charts.toml records the k3s
//! Kubernetes minor (and the next one, nixpkgs' upgrade path) and each pin's supported range
//! with its source, and `ChartLock::check_kubernetes` refuses a pin whose range excludes them.

use kateskit::bundle::charts::{self, ChartError, ChartLock};

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
    for c in charts::COMPONENTS.iter().chain(&charts::ROOK_CHARTS) {
        let e = &lock.charts[*c];
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

/// Rook is checked like the rendered charts: v1.18 (Kubernetes 1.29 to 1.34 in its
/// Documentation/Getting-Started/Prerequisites) is refused on k3s 1.35, and so is a Rook entry
/// that records no range at all.
#[test]
fn rook_is_held_to_the_pinned_k3s_too() {
    let range = "kube_min = \"1.31\"\nkube_max = \"1.36\"\n";
    assert!(charts::LOCK.contains(range), "Rook's recorded range");
    let old = charts::LOCK
        .replacen(range, "kube_min = \"1.29\"\nkube_max = \"1.34\"\n", 1)
        .replacen("version = \"v1.20.6\"", "version = \"v1.18.7\"", 1);
    let e = ChartLock::parse(&old, "my.toml")
        .unwrap()
        .check_kubernetes()
        .unwrap_err();
    assert_eq!(
        e.to_string().split(';').next().unwrap(),
        "my.toml: [rook_ceph] v1.18.7 supports Kubernetes 1.29 to 1.34, not 1.35 of [k3s]"
    );
    let unranged: String = charts::LOCK
        .replacen(range, "", 1)
        .lines()
        .filter(|l| !l.starts_with("kube_source = \"rook/rook"))
        .map(|l| format!("{l}\n"))
        .collect();
    let e = ChartLock::parse(&unranged, "x.toml")
        .unwrap()
        .check_kubernetes()
        .unwrap_err();
    assert!(
        matches!(&e, ChartError::OutOfRange { component, .. } if component == "rook_ceph"),
        "{e}"
    );
    let csi = with("kube_min = \"1.32\"", "kube_min = \"1.37\"")
        .check_kubernetes()
        .unwrap_err();
    assert!(
        matches!(&csi, ChartError::OutOfRange { component, .. } if component == "rook_csi_drivers"),
        "{csi}"
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

/// kube-vip's two charts are rendered together, so both must record a range that holds the
/// pinned k3s.
#[test]
fn kube_vip_and_its_cloud_provider_are_held_to_the_pinned_k3s() {
    let cloud =
        "kube_min = \"1.19\"\nkube_source = \"kube-vip/helm-charts tag kube-vip-cloud-provider";
    let e = with(
        cloud,
        "kube_source = \"kube-vip/helm-charts tag kube-vip-cloud-provider",
    )
    .check_kubernetes()
    .unwrap_err();
    assert!(
        matches!(&e, ChartError::OutOfRange { component, .. } if component == "kube_vip_cloud_provider"),
        "{e}"
    );
    let e = with(
        "kube_min = \"1.21\"",
        "kube_min = \"1.21\"\nkube_max = \"1.34\"",
    )
    .check_kubernetes()
    .unwrap_err();
    assert!(
        matches!(&e, ChartError::OutOfRange { component, kube, .. } if component == "kube_vip" && kube == "1.35"),
        "{e}"
    );
}
