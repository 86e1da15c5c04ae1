//! Nix evaluation tier: module outputs, evaluated from the module files with stand-ins for
//! `pkgs` and `config` and a `lib` whose mkIf/mkMerge/mkOverride build nixpkgs' values and whose
//! `resolve` merges definitions as the module system does (tests/nixtool/modlib.nix, itself
//! checked by nix_modlib.rs). Where nixpkgs defines the same option, a stand-in of that
//! definition is merged too, so a case asserts which value wins. The full NixOS evaluation
//! runs in `nix flake check` (docs/nix.md).

mod nixtool;

use serde_json::{json, Value};

use kateskit::{nodecfg, spec};
use nixtool::{eval_json, nix_str, repo};

const LIB: &str = "lib = import ./tests/nixtool/modlib.nix;";

fn eval(body: &str) -> Option<Value> {
    let state = tempfile::tempdir().unwrap();
    eval_json(
        state.path(),
        &format!("let {LIB} pkgs = {{ coreutils = \"/coreutils\"; }}; in {body}"),
    )
}

fn flannel(backend: &str) -> Option<Value> {
    eval(&format!(
        "let m = lib.resolve [ (import ./modules/flannel.nix {{ inherit lib; config.kateskit = {{ enable = true; flannel.backend = \"{backend}\"; k3s.openFirewall = true; cluster.normalized = {{ }}; }}; }}).config
               # nixpkgs' option defaults (kernel.nix, firewall.nix): []
               {{ boot.kernelModules = lib.mkOptionDefault [ ]; networking.firewall = {{ allowedUDPPorts = lib.mkOptionDefault [ ]; trustedInterfaces = lib.mkOptionDefault [ ]; }}; }} ];
         in {{ modules = m.boot.kernelModules; udp = m.networking.firewall.allowedUDPPorts; trusted = m.networking.firewall.trustedInterfaces; }}"
    ))
}

#[test]
fn flannel_backends_load_their_modules_and_open_their_ports() {
    let Some(vxlan) = flannel("vxlan") else {
        return;
    };
    assert_eq!(
        vxlan,
        json!({ "modules": ["vxlan"], "udp": [8472], "trusted": ["flannel.1"] })
    );
    assert_eq!(
        flannel("host-gw").unwrap(),
        json!({ "modules": [], "udp": [], "trusted": [] })
    );
    let wg = flannel("wireguard-native").unwrap();
    assert_eq!(wg["modules"], json!(["wireguard"]));
    assert_eq!(wg["udp"], json!([51820, 51821]));
}

#[test]
fn k3s_unit_waits_for_the_agent_and_its_role_file() {
    let Some(v) = eval(
        "let m = lib.resolve [ (import ./modules/k3s.nix { inherit lib; pkgs = pkgs // { writeShellScript = n: t: \"/script\"; }; config = { kateskit = { enable = true; k3s = { package = \"/k3s\"; openFirewall = true; }; }; services.k3s.package = \"/k3s\"; services.timesyncd.enable = true; }; }).config
               # What nixpkgs' k3s module defines at normal priority for a server (facts 1.2).
               { systemd.services.k3s.serviceConfig = { Type = \"notify\"; EnvironmentFile = null; ExecStart = \"/k3s/bin/k3s server\"; }; } ];
         in { unit = m.systemd.services.k3s; tcp = m.networking.firewall.allowedTCPPorts; k3s = m.services.k3s; wait = m.systemd.services.systemd-time-wait-sync; }",
    ) else {
        return;
    };
    let unit = &v["unit"];
    assert_eq!(unit["requires"], json!(["kateskit-agent.service"]));
    // k3s does not wait for the clock: it starts once time-sync.target is reached, which the
    // wait-sync unit holds (bounded) until timesyncd has set the time.
    assert_eq!(
        unit["after"],
        json!(["kateskit-agent.service", "time-sync.target"])
    );
    assert_eq!(unit["wants"], json!(["time-sync.target"]));
    assert_eq!(v["wait"]["wantedBy"], json!(["sysinit.target"]));
    assert_eq!(v["wait"]["serviceConfig"]["TimeoutStartSec"], "3min");
    assert_eq!(
        unit["unitConfig"]["ConditionPathExists"],
        "/etc/kateskit/k3s.env"
    );
    // k3s.nix's mkForce values win over nixpkgs' role-fixed ones.
    assert_eq!(unit["serviceConfig"]["Type"], "exec");
    assert_eq!(unit["serviceConfig"]["ExecStart"], "/script");
    assert_eq!(
        unit["serviceConfig"]["EnvironmentFile"],
        "/etc/kateskit/k3s.env"
    );
    assert_eq!(v["tcp"], json!([6443, 10250, 2379, 2380]));
    // Only options that do not act through ExecStart are taken from services.k3s.
    let mut keys: Vec<&str> = v["k3s"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(keys, ["enable", "package"]);
}

#[test]
fn agent_unit_and_image_json_follow_the_contract() {
    let rack = repo().join("examples/rack");
    let expr = format!(
        "let nodes = import ./nix/render.nix {rack};
             m = lib.resolve [ (import ./modules/agent.nix {{ inherit lib pkgs; config.kateskit = {{ enable = true; package = \"/kk\"; imageVariant = \"raw\"; node = \"a1\"; nodeConfigs = nodes; cluster.normalized.cluster.name = \"rack\"; agent.extraPath = [ ]; }}; }}).config ];
             u = m.systemd.services.kateskit-agent;
             j = m.systemd.services.kateskit-join;
         in {{ image = builtins.fromJSON m.environment.etc.\"kateskit/image.json\".text; inherit (u) after before wants wantedBy; sc = u.serviceConfig; join = {{ inherit (j) after requires wantedBy; sc = j.serviceConfig; }}; }}",
        rack = nix_str(&rack)
    );
    let Some(v) = eval(&expr) else { return };
    assert_eq!(
        v["after"],
        json!(["local-fs.target", "network-online.target"])
    );
    assert_eq!(v["before"], json!(["k3s.service"]));
    assert_eq!(v["wants"], json!(["network-online.target"]));
    assert_eq!(v["sc"]["Type"], "oneshot");
    assert_eq!(
        v["sc"]["ExecStart"],
        "/kk/bin/kateskit agent run --before-k3s"
    );
    // The join is verified by a second run after k3s (the first unit runs before it).
    assert_eq!(v["join"]["after"], json!(["k3s.service"]));
    assert_eq!(v["join"]["requires"], json!(["k3s.service"]));
    assert_eq!(v["join"]["sc"]["ExecStart"], "/kk/bin/kateskit agent run");
    assert_eq!(v["join"]["sc"]["Type"], "oneshot");
    assert_eq!(v["sc"]["StandardOutput"], "journal+console");
    let image = &v["image"];
    assert_eq!(image["apiVersion"], "kateskit.dev/v1");
    assert_eq!(image["kind"], "ImageDefaults");
    assert_eq!(
        (
            image["variant"].as_str(),
            image["node"].as_str(),
            image["cluster"].as_str()
        ),
        (Some("raw"), Some("a1"), Some("rack"))
    );
    let loaded = spec::load(&rack.join("cluster.toml")).unwrap();
    for n in &loaded.spec.nodes {
        let rust =
            serde_json::to_value(nodecfg::render_public(&loaded.spec, &n.name).unwrap()).unwrap();
        assert_eq!(image["nodes"][&n.name], rust, "image.json node {}", n.name);
    }
}

#[test]
fn storage_drivers_prepare_the_host() {
    let ceph = |driver: &str| {
        eval(&format!(
            "let m = lib.resolve [ (import ./modules/ceph.nix {{ inherit lib; pkgs = pkgs // {{ lvm2 = \"/lvm2\"; }} // lib.genAttrs [ \"nfs-utils\" \"openiscsi\" \"cryptsetup\" \"curl\" \"gawk\" \"xfsprogs\" ] (n: \"/\" + n);
                 config = {{ kateskit = {{ enable = true; storage = {{ driver = \"{driver}\"; longhorn.initiatorName = \"iqn.x:n\"; }}; node = null; cluster.normalized = {{ }}; }}; services.lvm.enable = true; }}; }}).config ];
             in {{ boot = m.boot or {{ }}; systemd = m.systemd or {{ }}; services = m.services or {{ }}; }}"
        ))
    };
    let Some(rook) = ceph("rook-ceph") else {
        return;
    };
    // mkMerge [ rook longhorn ] under mkIf per driver: only the chosen driver's part is set.
    assert_eq!(
        rook,
        json!({
            "boot": { "kernelModules": ["rbd"] },
            "systemd": { "tmpfiles": { "rules": ["L+ /lib/modules - - - - /run/current-system/kernel-modules/lib/modules"] } },
            "services": {}
        })
    );
    let lh = ceph("longhorn").unwrap();
    assert_eq!(
        lh["services"]["openiscsi"],
        json!({ "enable": true, "name": "iqn.x:n" })
    );
    assert_eq!(lh["boot"], json!({ "supportedFilesystems": ["nfs"] }));
    let rules: Vec<&str> = lh["systemd"]["tmpfiles"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        !rules.iter().any(|r| r.contains("/lib/modules")),
        "{rules:?}"
    );
    for tool in ["iscsiadm", "mount", "blkid", "findmnt", "nsenter", "bash"] {
        assert!(
            rules.contains(
                &format!("L+ /usr/local/bin/{tool} - - - - /run/current-system/sw/bin/{tool}")
                    .as_str()
            ),
            "no link for {tool}"
        );
    }
    // local-path: nothing of either.
    assert_eq!(
        ceph("local-path").unwrap(),
        json!({ "boot": {}, "systemd": {}, "services": {} })
    );
}

#[test]
fn embed_copy_runs_in_either_stage_one() {
    let embed = |systemd: bool| {
        eval(&format!("(lib.resolve [ (import ./modules/embed.nix {{ inherit lib pkgs; config = {{ kateskit.enable = true; boot.initrd.systemd.enable = {systemd}; }}; }}).config ]).boot.initrd"))
    };
    let Some(v) = embed(true) else { return };
    assert!(v.get("postMountCommands").is_none(), "{v}");
    let unit = &v["systemd"]["services"]["kateskit-embed"];
    assert_eq!(
        unit["unitConfig"]["ConditionPathExists"],
        "/kateskit/embed.img"
    );
    assert_eq!(
        unit["serviceConfig"]["ExecStart"],
        "/coreutils/bin/install -D -m 0600 /kateskit/embed.img /run/kateskit/embed.img"
    );
    assert_eq!(
        unit["serviceConfig"]["ExecStartPre"],
        "/coreutils/bin/install -d -m 0700 /run/kateskit"
    );
    assert_eq!(unit["before"], json!(["initrd-switch-root.target"]));
    let scripted = embed(false).unwrap();
    assert!(scripted.get("systemd").is_none(), "{scripted}");
    let scripted = scripted["postMountCommands"].as_str().unwrap();
    for line in [
        "if [ -f /kateskit/embed.img ]; then",
        "mkdir -p -m 0700 /run/kateskit",
        "cp /kateskit/embed.img /run/kateskit/embed.img",
        "chmod 0600 /run/kateskit/embed.img",
    ] {
        assert!(scripted.contains(line), "{scripted}");
    }
}

/// `bundle.chartArchives` fetches exactly the archives the agent looks for before it picks
/// the static chart source (`bundle::charts::archives`), Rook's included; a component without
/// a digest in the lock (Rook's today) stops the build with its name.
#[test]
fn chart_archives_match_what_the_agent_looks_for() {
    for (storage, dex, kube_vip) in [
        ("rook-ceph", true, false),
        ("longhorn", false, true),
        ("local-path", true, false),
    ] {
        let Some(v) = eval(&format!(
            "let m = lib.resolve [ (import ./modules/bundle.nix {{ inherit lib; pkgs = pkgs // {{ fetchurl = a: a.url; }};
               config = {{ services.k3s.package = {{ }}; kateskit = {{ enable = true;
                 bundle = {{ lockFile = ./bundle/charts.toml; chartArchives = true; airgapImages = false; images = [ ]; }};
                 cluster.normalized.bundle = {{ storage = \"{storage}\"; dex.enable = {dex}; kube_vip.enable = {kube_vip}; }}; }}; }}; }}).config ];
             in {{ charts = builtins.attrNames m.services.k3s.charts; ok = (builtins.head m.assertions).assertion; msg = (builtins.head m.assertions).message; }}"
        )) else {
            return;
        };
        let mut bundle = spec::BundleSpec {
            storage: match storage {
                "rook-ceph" => spec::StorageDriver::RookCeph,
                "longhorn" => spec::StorageDriver::Longhorn,
                _ => spec::StorageDriver::LocalPath,
            },
            ..Default::default()
        };
        bundle.dex.enable = dex;
        bundle.kube_vip.enable = kube_vip;
        bundle.auth_proxy.enable = false;
        bundle.dashboard.enable = false;
        bundle.cert_manager.enable = false;
        bundle.internal_dns.enable = false;
        let mut rust: Vec<&str> = kateskit::bundle::charts::archives(&bundle);
        rust.sort();
        assert_eq!(v["charts"], json!(rust), "{storage}");
        let lock = kateskit::bundle::charts::ChartLock::bundled().unwrap();
        let missing: Vec<&str> = rust
            .iter()
            .copied()
            .filter(|c| lock.charts[*c].digest.is_empty())
            .collect();
        assert_eq!(
            v["ok"],
            json!(missing.is_empty()),
            "{storage}: {}",
            v["msg"]
        );
        for c in missing {
            assert!(v["msg"].as_str().unwrap().contains(c), "{}", v["msg"]);
        }
    }
}

/// `bundle.images` reaches k3s's image import list after the airgap archive, so the VM tests
/// and air-gapped sites can hand k3s the charts' images.
#[test]
fn bundle_images_are_imported_by_k3s() {
    let Some(v) = eval(
        "let m = lib.resolve [ (import ./modules/bundle.nix { inherit lib pkgs;
           config = { services.k3s.package = { airgap-images = \"airgap\"; }; kateskit = { enable = true;
             bundle = { lockFile = ./bundle/charts.toml; chartArchives = false; airgapImages = true; images = [ \"kube-vip\" \"dex\" ]; };
             cluster.normalized.bundle = { }; }; }; }).config ];
         in m.services.k3s.images",
    ) else {
        return;
    };
    assert_eq!(v, json!(["airgap", "kube-vip", "dex"]));
}
