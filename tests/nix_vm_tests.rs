//! Nix evaluation tier for the NixOS VM tests, which only `nix flake check` can run: every test
//! file in nix/tests is wired into the checks, the bundle tests' image gate fails at once naming
//! what is missing (and hands the test its images once they are filled in), every image entry
//! is complete but for its digest, and the fixtures the tests boot are what they claim to be.

mod nixtool;

use std::collections::BTreeSet;

use kateskit::spec;
use nixtool::{eval_json, nix_str, repo};
use serde_json::{json, Value};

/// Files in nix/tests that are helpers or data, not tests.
const NOT_TESTS: [&str; 3] = ["default.nix", "lib.nix", "bundle-images.nix"];

#[test]
fn every_vm_test_file_is_a_flake_check() {
    let dir = repo().join("nix/tests");
    let files: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".nix") && !NOT_TESTS.contains(&n.as_str()))
        .collect();
    assert!(files.len() >= 9, "{files:?}");
    let default = std::fs::read_to_string(dir.join("default.nix")).unwrap();
    for f in &files {
        assert!(
            default.contains(&format!("import ./{f} args")),
            "nix/tests/default.nix does not run {f}"
        );
    }
    let checks = std::fs::read_to_string(repo().join("nix/checks.nix")).unwrap();
    assert!(
        checks.contains("import ./tests { inherit pkgs self kit; }"),
        "nix/checks.nix does not include the VM tests"
    );
    let flake = std::fs::read_to_string(repo().join("flake.nix")).unwrap();
    assert!(flake.contains("nix/checks.nix"), "flake.nix has no checks");
}

/// lib.nix with stand-ins for the few `pkgs` attributes the gate touches.
fn gate(entries: &str) -> Option<Value> {
    let state = tempfile::tempdir().unwrap();
    eval_json(
        state.path(),
        &format!(
            "let pkgs = {{ lib.concatMapStringsSep = sep: f: l: builtins.concatStringsSep sep (map f l);
                 runCommand = name: env: script: {{ gate = name; inherit script; }};
                 dockerTools.pullImage = a: \"pulled:${{a.imageName}}:${{a.finalImageTag}}@${{a.imageDigest}}\"; }};
                 t = import ./nix/tests/lib.nix {{ inherit pkgs; kateskit = null; }};
             in t.needsImages \"vm-x\" ({entries}) (images: {{ ran = images; }})"
        ),
    )
}

#[test]
fn a_test_without_its_images_fails_at_once_naming_them() {
    let Some(v) = gate(
        "[ { imageName = \"a/one\"; finalImageTag = \"v1\"; imageDigest = \"sha256:1\"; hash = \"h\"; }
           { imageName = \"b/two\"; finalImageTag = \"v2\"; imageDigest = \"\"; hash = \"\"; } ]",
    ) else {
        return;
    };
    assert_eq!(v["gate"], "kateskit-vm-x-needs-images");
    let script = v["script"].as_str().unwrap();
    assert!(script.contains("for: b/two:v2\""), "{script}");
    assert!(!script.contains("a/one"), "{script}");
    assert!(script.contains("exit 1"), "{script}");
    let v = gate(
        "[ { imageName = \"a/one\"; finalImageTag = \"v1\"; imageDigest = \"sha256:1\"; hash = \"h\"; } ]",
    )
    .unwrap();
    assert_eq!(v, json!({ "ran": ["pulled:a/one:v1@sha256:1"] }));
}

#[test]
fn every_bundle_image_entry_names_an_image_and_a_tag() {
    let state = tempfile::tempdir().unwrap();
    let Some(v) = eval_json(state.path(), "import ./nix/tests/bundle-images.nix") else {
        return;
    };
    let sets = v.as_object().unwrap();
    let names: BTreeSet<&str> = sets.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from(["dns_auth", "kube_vip", "longhorn", "rook"])
    );
    for (set, entries) in sets {
        for e in entries.as_array().unwrap() {
            let name = e["imageName"].as_str().unwrap();
            let tag = e["finalImageTag"].as_str().unwrap();
            assert!(name.contains('/') && !name.contains(':'), "{set}: {name}");
            assert!(tag.starts_with('v'), "{set}: {name}:{tag}");
            assert!(e.get("imageDigest").is_some() && e.get("hash").is_some());
        }
    }
    // kube-vip's images are the pinned charts' appVersions.
    let lock = kateskit::bundle::charts::ChartLock::bundled().unwrap();
    assert_eq!(
        lock.charts["kube_vip"].version, "0.9.9",
        "bump bundle-images.nix with the pin"
    );
    assert_eq!(sets["kube_vip"][0]["finalImageTag"], "v1.0.4");
}

/// fixtures/homelab-longhorn is examples/homelab with Longhorn, nothing else.
#[test]
fn the_longhorn_fixture_is_the_homelab_example_with_longhorn() {
    let homelab = spec::load(&repo().join("examples/homelab/cluster.toml")).unwrap();
    let fixture =
        spec::load(&repo().join("nix/tests/fixtures/homelab-longhorn/cluster.toml")).unwrap();
    let mut want = homelab.spec.clone();
    want.bundle.storage = spec::StorageDriver::Longhorn;
    assert_eq!(fixture.spec, want);
}

/// The fixtures the bundle tests boot hold what their tests check.
#[test]
fn the_bundle_fixtures_enable_what_their_tests_check() {
    let load = |n: &str| {
        spec::load(&repo().join(format!("nix/tests/fixtures/{n}/cluster.toml")))
            .unwrap()
            .spec
    };
    let rook = load("rook-trio");
    assert_eq!(rook.bundle.storage, spec::StorageDriver::RookCeph);
    assert_eq!(
        rook.nodes
            .iter()
            .filter(|n| !n.osd_disks.is_empty())
            .count(),
        3
    );
    let web = load("dns-auth");
    for on in [
        &web.bundle.internal_dns,
        &web.bundle.dex,
        &web.bundle.auth_proxy,
        &web.bundle.cert_manager,
    ] {
        assert!(on.enable);
    }
    let vip = load("vip-trio");
    assert!(vip.bundle.kube_vip.enable && !vip.bundle.servicelb.enable);
    assert_eq!(vip.network.api_vip.as_deref(), Some("192.168.1.100"));
    // Every server names eth1, so kube-vip binds it rather than detecting it.
    let cfg = kateskit::nodecfg::render_public(&vip, "s2").unwrap();
    assert_eq!(cfg.k3s.api_vip_interface.as_deref(), Some("eth1"));
    assert_eq!(
        cfg.k3s.server_url.as_deref(),
        Some("https://192.168.1.100:6443")
    );
}

/// `nix flake check` without /dev/kvm: every VM test derivation drops nixpkgs' `kvm` system
/// feature through the framework's `overrideTestDerivation` (keeping `nixos-test`), so Nix
/// schedules it and the driver's QEMU runs under TCG; the image gates are plain builds.
#[test]
fn no_vm_test_requires_kvm() {
    let state = tempfile::tempdir().unwrap();
    let Some(v) = eval_json(
        state.path(),
        &format!(
            "let
               # nixos/lib/testing/run.nix: requiredSystemFeatures = [ \"nixos-test\" ] ++ [ \"kvm\" ] on Linux.
               drv = attrs: attrs // {{ overrideTestDerivation = f: drv (attrs // f attrs); }};
               pkgs = {{
                 path = {};
                 lib.concatMapStringsSep = sep: f: l: builtins.concatStringsSep sep (map f l);
                 stdenv.hostPlatform.system = \"x86_64-linux\";
                 runCommand = name: env: script: {{ inherit name; }};
                 testers.runNixOSTest = test: drv {{ inherit (test) name; requiredSystemFeatures = [ \"nixos-test\" \"kvm\" ]; }};
               }};
               checks = import ./nix/tests {{ inherit pkgs; self.packages.x86_64-linux.kateskit = null; kit = {{ }}; }};
             in builtins.mapAttrs (n: c: {{ inherit (c) name; features = c.requiredSystemFeatures or [ ]; }}) checks",
            nix_str(&repo().join("tests/nixtool/pkgs-path"))
        ),
    ) else {
        return;
    };
    let checks = v.as_object().unwrap();
    assert!(checks.len() >= 9, "{v}");
    let mut vm = 0;
    for (name, c) in checks {
        let features = c["features"].as_array().unwrap();
        assert!(
            !features.contains(&json!("kvm")),
            "{name} still requires kvm: {c}"
        );
        if c["name"].as_str().unwrap().starts_with("kateskit-") && !features.is_empty() {
            assert_eq!(features, &vec![json!("nixos-test")], "{name}");
            vm += 1;
        }
    }
    // The five tests without an image gate are real test derivations here.
    assert!(vm >= 5, "{v}");
}

/// The test VMs reach no network, and the agent fails its k3s-config phase (k3s stays down)
/// when a chart archive the bundle needs is neither in the image nor downloadable
/// (docs/agent.md, "Chart archives"). So every VM test whose cluster enables a chart ships the
/// archives: `kateskit.bundle.chartArchives`, or each archive as `services.k3s.charts.<name>`.
#[test]
fn every_vm_test_ships_the_chart_archives_its_cluster_needs() {
    let dir = repo().join("nix/tests");
    let mut checked = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".nix") || NOT_TESTS.contains(&name.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let spec = if let Some(rest) = text.split("./fixtures/").nth(1) {
            dir.join("fixtures")
                .join(rest.split([';', ' ']).next().unwrap())
        } else if let Some(rest) = text.split("../../examples/").nth(1) {
            repo()
                .join("examples")
                .join(rest.split([';', ' ']).next().unwrap())
        } else {
            panic!("nix/tests/{name}: no cluster spec found");
        };
        let loaded = spec::load(&spec.join("cluster.toml"))
            .unwrap_or_else(|e| panic!("nix/tests/{name}: {}: {e}", spec.display()));
        let needed = kateskit::bundle::charts::archives(&loaded.spec.bundle);
        let all = text.contains("kateskit.bundle.chartArchives = true;");
        let missing: Vec<&str> = needed
            .iter()
            .copied()
            .filter(|c| !all && !text.contains(&format!("services.k3s.charts.{c} =")))
            .collect();
        assert!(
            missing.is_empty(),
            "nix/tests/{name}: its cluster ({}) needs the chart archives {missing:?}, which the VM cannot download; set kateskit.bundle.chartArchives = true",
            spec.display()
        );
        checked += 1;
    }
    assert!(checked >= 9);
}

/// In a VM test with several nodes, every node is addressed on the test network (eth1) with its
/// default route there: k3s and flannel use the interface of the default route, and a route
/// through the driver's user network (the same address on every VM) would leave the nodes
/// unable to reach each other's pods.
#[test]
fn multi_node_fixtures_route_through_the_test_network() {
    let mut checked = 0;
    for e in std::fs::read_dir(repo().join("nix/tests/fixtures")).unwrap() {
        let dir = e.unwrap().path();
        let loaded = spec::load(&dir.join("cluster.toml")).unwrap();
        if loaded.spec.nodes.len() < 2 {
            continue;
        }
        for n in &loaded.spec.nodes {
            let where_ = format!("{}: node {}", dir.display(), n.name);
            let net = n
                .network
                .as_ref()
                .unwrap_or_else(|| panic!("{where_}: no static address on the test network"));
            assert_eq!(net.interface.as_deref(), Some("eth1"), "{where_}");
            assert!(net.addresses[0].starts_with("192.168.1."), "{where_}");
            assert_eq!(
                net.gateway.as_deref(),
                Some("192.168.1.254"),
                "{where_}: no default route on eth1"
            );
        }
        checked += 1;
    }
    assert!(checked >= 4, "{checked}");
}
