//! HelmChart rendering from the chart lock: a golden file for the rack example's first server,
//! plus the cases around it (agents, homelab, static chart source, broken lock files).
//! Regenerate the golden file with KATESKIT_UPDATE_GOLDEN=1 and review the diff.

use std::path::Path;

use kateskit::bundle::charts::{self, ChartError, ChartLock, ChartSource};
use kateskit::{nodecfg, spec};

fn node(example: &str, name: &str) -> nodecfg::NodeConfig {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let loaded = spec::load(&root.join("examples").join(example).join("cluster.toml")).unwrap();
    nodecfg::render_public(&loaded.spec, name).unwrap()
}

fn joined(m: &[kateskit::bundle::Manifest]) -> String {
    m.iter()
        .map(|m| format!("# {}\n{}", m.file_name, m.yaml))
        .collect::<Vec<_>>()
        .join("---\n")
}

#[test]
fn rack_server_matches_golden() {
    let lock = ChartLock::bundled().unwrap();
    let got = joined(&charts::render(&node("rack", "s1"), &lock, ChartSource::Repo).unwrap());
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/bundle-rack-s1.yaml");
    if std::env::var_os("KATESKIT_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap();
    assert_eq!(got, want, "rendered bundle differs from {}", path.display());
}

#[test]
fn every_manifest_is_a_helmchart_with_locked_coordinates() {
    let lock = ChartLock::bundled().unwrap();
    let out = charts::render(&node("rack", "s2"), &lock, ChartSource::Repo).unwrap();
    // rack enables kube-vip (+ its cloud provider), dex, auth proxy, dashboard, cert-manager
    // (+ its issuer) and internal DNS.
    assert_eq!(out.len(), 8);
    for m in out
        .iter()
        .filter(|m| m.file_name != "kateskit-cert-manager-issuer.yaml")
    {
        let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&m.yaml).unwrap();
        assert_eq!(v["apiVersion"], "helm.cattle.io/v1");
        assert_eq!(v["kind"], "HelmChart");
        assert_eq!(v["metadata"]["namespace"], "kube-system");
        let component = v["metadata"]["annotations"]["kateskit.dev/component"]
            .as_str()
            .unwrap();
        let locked = &lock.charts[component];
        assert_eq!(v["spec"]["repo"].as_str(), Some(locked.repo.as_str()));
        assert_eq!(v["spec"]["version"].as_str(), Some(locked.version.as_str()));
        assert_eq!(
            v["spec"]["targetNamespace"].as_str(),
            Some(locked.namespace.as_str())
        );
        assert_eq!(m.file_name, format!("kateskit-{}.yaml", locked.chart));
    }
    let dex: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &out.iter()
            .find(|m| m.file_name == "kateskit-dex.yaml")
            .unwrap()
            .yaml,
    )
    .unwrap();
    let values: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(dex["spec"]["valuesContent"].as_str().unwrap()).unwrap();
    assert_eq!(values["config"]["issuer"], "https://dex.rack.example.com");
}

#[test]
fn servers_with_secrets_get_the_auth_proxy_secrets_before_dex() {
    use kateskit::bundle::auth;
    let lock = ChartLock::bundled().unwrap();
    let mut cfg = node("rack", "s1");
    let token = "K10aaaa::server:0123456789abcdef";
    cfg.secrets = Some(nodecfg::NodeSecrets {
        token: token.into(),
        ca_hash: "aaaa".into(),
        agent_token: None,
        ca_files: Default::default(),
        ceph_fsid: "f".into(),
        node_password: None,
        ceph_mon_secret: None,
        ceph_admin_secret: None,
        ingress_ca_crt: None,
        ingress_ca_key: None,
    });
    let out = charts::render(&cfg, &lock, ChartSource::Repo).unwrap();
    let names: Vec<_> = out.iter().map(|m| m.file_name.as_str()).collect();
    let at = |n: &str| names.iter().position(|&x| x == n).unwrap();
    assert!(
        at("kateskit-auth-proxy-secrets.yaml") < at("kateskit-dex.yaml"),
        "{names:?}"
    );
    let docs: Vec<serde_yaml_ng::Value> =
        serde_yaml_ng::Deserializer::from_str(&out[at("kateskit-auth-proxy-secrets.yaml")].yaml)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
    let kinds: Vec<_> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Namespace", "Namespace", "Secret", "Secret"]);
    let want = auth::derive(token);
    let proxy = docs
        .iter()
        .find(|d| d["metadata"]["name"] == auth::PROXY_SECRET)
        .unwrap();
    assert_eq!(
        proxy["metadata"]["namespace"],
        lock.charts["auth_proxy"].namespace.as_str()
    );
    assert_eq!(
        proxy["stringData"]["client-secret"],
        want.client_secret.expose()
    );
    assert_eq!(
        proxy["stringData"]["cookie-secret"],
        want.cookie_secret.expose()
    );
    let dex = docs
        .iter()
        .find(|d| d["metadata"]["name"] == auth::DEX_SECRET)
        .unwrap();
    assert_eq!(
        dex["metadata"]["namespace"],
        lock.charts["dex"].namespace.as_str()
    );
    assert_eq!(
        dex["stringData"][auth::DEX_SECRET_ENV],
        want.client_secret.expose()
    );
    // The public render (what Nix computes) carries no secrets, so no Secret manifest.
    let public = charts::render(&node("rack", "s1"), &lock, ChartSource::Repo).unwrap();
    assert!(public
        .iter()
        .all(|m| !m.yaml.contains(want.client_secret.expose())));
    assert!(public
        .iter()
        .all(|m| m.file_name != "kateskit-auth-proxy-secrets.yaml"));
}

#[test]
fn agents_get_no_charts_and_the_homelab_gets_longhorn_only() {
    let lock = ChartLock::bundled().unwrap();
    assert!(
        charts::render(&node("rack", "a1"), &lock, ChartSource::Repo)
            .unwrap()
            .is_empty()
    );
    let homelab = charts::render(&node("homelab", "box"), &lock, ChartSource::Repo).unwrap();
    let files: Vec<&str> = homelab.iter().map(|m| m.file_name.as_str()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].contains("longhorn"), "{files:?}");
}

#[test]
fn static_source_points_at_the_k3s_static_charts_dir() {
    let lock = ChartLock::bundled().unwrap();
    let mut cfg = node("homelab", "box");
    cfg.bundle.as_mut().unwrap().storage = spec::StorageDriver::Longhorn;
    let out = charts::render(&cfg, &lock, ChartSource::Static).unwrap();
    assert_eq!(out.len(), 1);
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&out[0].yaml).unwrap();
    assert_eq!(
        v["spec"]["chart"],
        "https://%{KUBERNETES_API}%/static/charts/longhorn.tgz"
    );
    assert!(v["spec"]["repo"].is_null() && v["spec"]["version"].is_null());
}

#[test]
fn lock_file_entries_are_complete_and_honest() {
    let lock = ChartLock::bundled().unwrap();
    for c in charts::LOCKED {
        let e = lock
            .charts
            .get(c)
            .unwrap_or_else(|| panic!("bundle/charts.toml has no [{c}]"));
        assert!(
            e.url.ends_with(".tgz") && e.url.starts_with("https://"),
            "[{c}] url {}",
            e.url
        );
        assert!(!e.source.is_empty(), "[{c}] has no source");
        if e.verified {
            assert!(
                e.digest.starts_with("sha256:"),
                "[{c}] verified without digest"
            );
        }
    }
}

#[test]
fn broken_lock_files_name_the_file_and_the_fix() {
    let bad_digest = charts::LOCK.replacen("sha256:24d486ac", "sha256:XYZ", 1);
    let e = ChartLock::parse(&bad_digest, "my.toml").unwrap_err();
    assert!(
        matches!(e, ChartError::BadDigest { ref component, .. } if component == "dex"),
        "{e}"
    );
    assert!(e.to_string().starts_with("my.toml: [dex] digest"));

    let unknown = format!("{}\n[grafana]\nrepo = \"r\"\nchart = \"c\"\nversion = \"1\"\nnamespace = \"n\"\nurl = \"u\"\nverified = false\nsource = \"s\"\n", charts::LOCK);
    assert!(matches!(
        ChartLock::parse(&unknown, "x").unwrap_err(),
        ChartError::Unknown { .. }
    ));

    let no_digest = charts::LOCK.replacen(
        "digest = \"sha256:24d486ac2182b919483a9840339997443793ce637e3f10d37ab3284eaa229d33\"\n",
        "",
        1,
    );
    assert!(matches!(
        ChartLock::parse(&no_digest, "x").unwrap_err(),
        ChartError::VerifiedWithoutDigest { .. }
    ));

    let dex_start = charts::LOCK.find("[dex]").unwrap();
    let dex_end = charts::LOCK.find("[auth_proxy]").unwrap();
    let without_dex = format!("{}{}", &charts::LOCK[..dex_start], &charts::LOCK[dex_end..]);
    let lock = ChartLock::parse(&without_dex, "short.toml").unwrap();
    let e = charts::render(&node("rack", "s1"), &lock, ChartSource::Repo).unwrap_err();
    assert_eq!(
        e,
        ChartError::Missing {
            origin: "short.toml".into(),
            component: "dex".into()
        }
    );
}

/// helm-controller's default `failurePolicy: reinstall` uninstalls a chart whose upgrade
/// failed, which deletes a storage system's volumes; stateful charts get `abort`, the others
/// keep the default.
#[test]
fn stateful_charts_abort_instead_of_reinstalling() {
    let lock = ChartLock::bundled().unwrap();
    let policy = |yaml: &str| {
        let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).unwrap();
        v["spec"]["failurePolicy"].as_str().map(str::to_string)
    };
    let mut cfg = node("homelab", "box");
    cfg.bundle.as_mut().unwrap().storage = spec::StorageDriver::Longhorn;
    for source in [ChartSource::Repo, ChartSource::Static] {
        let out = charts::render(&cfg, &lock, source).unwrap();
        assert_eq!(policy(&out[0].yaml).as_deref(), Some("abort"), "{source:?}");
    }
    for m in charts::render(&node("rack", "s1"), &lock, ChartSource::Repo)
        .unwrap()
        .into_iter()
        .filter(|m| m.file_name != "kateskit-cert-manager-issuer.yaml")
    {
        assert_eq!(policy(&m.yaml), None, "{} is stateless", m.file_name);
    }
    let rack =
        spec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/rack/cluster.toml"))
            .unwrap()
            .spec;
    // Rook's operator owns the cluster; its CSI drivers chart holds only the drivers' settings,
    // which a reinstall puts back.
    let rook = kateskit::bundle::rook::render(&rack).unwrap();
    let policies: Vec<Option<String>> = serde_yaml_ng::Deserializer::from_str(&rook[0].yaml)
        .map(|d| {
            let v: serde_yaml_ng::Value = serde::Deserialize::deserialize(d).unwrap();
            v["spec"]["failurePolicy"].as_str().map(str::to_string)
        })
        .collect();
    assert_eq!(policies, [Some("abort".to_string()), None]);
}

fn chart_values(out: &[kateskit::bundle::Manifest], file: &str) -> serde_yaml_ng::Value {
    let m = out.iter().find(|m| m.file_name == file).unwrap();
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&m.yaml).unwrap();
    serde_yaml_ng::from_str(v["spec"]["valuesContent"].as_str().unwrap()).unwrap()
}

/// kube-vip holds the API VIP the servers' certificates name and announces Services from the
/// pool its cloud provider hands out; the interface follows the user, then the servers' shared
/// static interface, else detection.
#[test]
fn kube_vip_serves_the_api_vip_and_the_service_pool() {
    let lock = ChartLock::bundled().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut rack = spec::load(&root.join("examples/rack/cluster.toml"))
        .unwrap()
        .spec;
    let cfg = nodecfg::render_public(&rack, "s1").unwrap();
    assert_eq!(cfg.k3s.tls_sans[0], "192.0.2.10", "the VIP is a SAN");
    let out = charts::render(&cfg, &lock, ChartSource::Repo).unwrap();
    let vip = chart_values(&out, "kateskit-kube-vip.yaml");
    assert_eq!(vip["config"]["address"], "192.0.2.10");
    for (flag, want) in [
        ("cp_enable", "true"),
        ("svc_enable", "true"),
        ("vip_arp", "true"),
        ("vip_leaderelection", "true"),
        ("vip_interface", ""),
        ("vip_subnet", "32"),
    ] {
        assert_eq!(vip["env"][flag], want, "{flag}");
    }
    assert_eq!(
        vip["nodeSelector"]["node-role.kubernetes.io/control-plane"],
        "true"
    );
    let cloud = chart_values(&out, "kateskit-kube-vip-cloud-provider.yaml");
    assert_eq!(
        cloud["cm"]["data"]["range-global"],
        "192.0.2.200-192.0.2.219"
    );

    // Every server names eth1: kube-vip binds it; a user's interface wins over it.
    for s in rack
        .nodes
        .iter_mut()
        .filter(|n| n.role == spec::Role::Server)
    {
        s.network.as_mut().unwrap().interface = Some("eth1".into());
    }
    let vip_of = |rack: &spec::ClusterSpec| {
        let cfg = nodecfg::render_public(rack, "s2").unwrap();
        chart_values(
            &charts::render(&cfg, &lock, ChartSource::Repo).unwrap(),
            "kateskit-kube-vip.yaml",
        )
    };
    assert_eq!(vip_of(&rack)["env"]["vip_interface"], "eth1");
    rack.nodes[2].network.as_mut().unwrap().interface = Some("eth2".into());
    assert_eq!(
        vip_of(&rack)["env"]["vip_interface"],
        "",
        "servers disagree: detect"
    );
    let values = &mut rack.bundle.kube_vip.values;
    values.insert("interface".into(), "bond0".into());
    values.insert("service_range".into(), "192.0.2.192/27".into());
    let cfg = nodecfg::render_public(&rack, "s3").unwrap();
    let out = charts::render(&cfg, &lock, ChartSource::Static).unwrap();
    assert_eq!(
        chart_values(&out, "kateskit-kube-vip.yaml")["env"]["vip_interface"],
        "bond0"
    );
    let vip = chart_values(&out, "kateskit-kube-vip.yaml");
    assert!(vip.get("interface").is_none() && vip.get("service_range").is_none());
    let cloud = chart_values(&out, "kateskit-kube-vip-cloud-provider.yaml");
    assert_eq!(cloud["cm"]["data"]["cidr-global"], "192.0.2.192/27");
    for (file, tgz) in [
        ("kateskit-kube-vip.yaml", "kube_vip.tgz"),
        (
            "kateskit-kube-vip-cloud-provider.yaml",
            "kube_vip_cloud_provider.tgz",
        ),
    ] {
        let m = out.iter().find(|m| m.file_name == file).unwrap();
        assert!(
            m.yaml.contains(&format!("/static/charts/{tgz}")),
            "{}",
            m.yaml
        );
    }
}
