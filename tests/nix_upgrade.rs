//! Nix evaluation tier for modules/upgrade.nix and modules/upgrade-sysupdate.nix: evaluated
//! from the files with the module-system stand-in (tests/nixtool/modlib.nix) and, where
//! nixpkgs defines the same option, a stand-in of that definition, so each case asserts what
//! wins. The full NixOS evaluation runs in `nix flake check` (docs/nix.md).

mod nixtool;

use serde_json::{json, Value};

use nixtool::eval_json;

/// The merged config of both modules for `kateskit.upgrade = <upgrade>`, with what nixpkgs'
/// sysupdate module defines once `systemd.sysupdate.enable` is set (its timer, plain).
fn upgrade(upgrade: &str) -> Option<Value> {
    let state = tempfile::tempdir().unwrap();
    eval_json(
        state.path(),
        &format!(
            "let lib = import ./tests/nixtool/modlib.nix;
                 config = {{ kateskit = {{ enable = true; upgrade = {{ enable = true; version = \"1.0\"; tries = 3; sysupdate.url = null; }} // {upgrade}; }}; }};
                 mod = f: (import f {{ inherit lib config; pkgs = {{ }}; }}).config;
                 mine = [ (mod ./modules/upgrade.nix) (mod ./modules/upgrade-sysupdate.nix) ];
                 first = lib.resolve mine;
                 sysupdate = (first.systemd or {{ }}).sysupdate.enable or false;
                 nixpkgs = lib.optional sysupdate {{ systemd.timers.systemd-sysupdate.wantedBy = [ \"timers.target\" ]; }};
             in lib.resolve (mine ++ nixpkgs)"
        ),
    )
}

fn failed_assertions(v: &Value) -> Vec<String> {
    v["assertions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["assertion"] == false)
        .map(|a| a["message"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_counted_boot_that_cannot_come_up_reboots_and_the_good_one_is_blessed() {
    let Some(v) = upgrade("{ }") else { return };
    assert!(failed_assertions(&v).is_empty(), "{v}");
    let params = v["boot"]["kernelParams"].as_array().unwrap();
    for p in ["panic=5", "boot.panic_on_fail", "systemd.crash_reboot=yes"] {
        assert!(params.contains(&json!(p)), "{p} missing: {params:?}");
    }
    assert_eq!(v["systemd"]["enableEmergencyMode"], false);
    assert_eq!(
        v["systemd"]["additionalUpstreamSystemUnits"],
        json!(["systemd-bless-boot.service", "boot-complete.target"])
    );
    // Without a feed URL nothing of sysupdate is installed.
    assert!(v["systemd"].get("sysupdate").is_none(), "{v}");
    assert!(v["systemd"].get("timers").is_none(), "{v}");
}

#[test]
fn sysupdate_gets_the_transfers_but_no_timer() {
    let Some(v) = upgrade("{ sysupdate.url = \"https://releases.example/kk/\"; }") else {
        return;
    };
    assert!(failed_assertions(&v).is_empty(), "{v}");
    let su = &v["systemd"]["sysupdate"];
    assert_eq!(su["enable"], true);
    let names: Vec<&String> = su["transfers"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["10-kateskit-store", "20-kateskit-uki"]);
    assert_eq!(su["transfers"]["20-kateskit-uki"]["Target"]["TriesLeft"], 3);
    // nixpkgs' plain `wantedBy = [ "timers.target" ]` loses to the module's mkForce.
    assert_eq!(
        v["systemd"]["timers"]["systemd-sysupdate"]["wantedBy"],
        json!([])
    );
    let v = upgrade("{ sysupdate.url = \"https://releases.example/kk\"; tries = 5; }").unwrap();
    let failed = failed_assertions(&v);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].contains("must end in /"), "{failed:?}");
    assert_eq!(
        v["systemd"]["sysupdate"]["transfers"]["20-kateskit-uki"]["Target"]["TriesLeft"],
        5
    );
}

#[test]
fn a_version_that_cannot_name_a_slot_stops_the_build_naming_the_rule() {
    for good in ["1.0", "0.1.0.20261201211650", "2~rc1", "a^b-c"] {
        let Some(v) = upgrade(&format!("{{ version = \"{good}\"; }}")) else {
            return;
        };
        assert!(failed_assertions(&v).is_empty(), "{good}: {v}");
    }
    for (bad, why) in [
        ("1.0_rc", "is not a version"),
        ("1+2", "is not a version"),
        ("-1", "is not a version"),
        ("", "is not a version"),
        ("1.0/2", "is not a version"),
        ("1234567890123456789012345678", "at most 27"),
    ] {
        let v = upgrade(&format!("{{ version = \"{bad}\"; }}")).unwrap();
        let failed = failed_assertions(&v);
        assert_eq!(failed.len(), 1, "{bad:?} accepted");
        assert!(
            failed[0].starts_with("kateskit.upgrade.version: ") && failed[0].contains(why),
            "{bad:?}: {failed:?}"
        );
    }
}

#[test]
fn upgrades_off_leave_the_system_alone() {
    let Some(v) = upgrade("{ enable = false; sysupdate.url = \"https://x/\"; }") else {
        return;
    };
    assert_eq!(v, json!({}), "{v}");
    // Nor on a system that is not a KatesKit appliance.
    let state = tempfile::tempdir().unwrap();
    let v = eval_json(
        state.path(),
        "let lib = import ./tests/nixtool/modlib.nix;
             config.kateskit = { enable = false; upgrade = { enable = true; version = \"1\"; tries = 3; sysupdate.url = \"https://x/\"; }; };
             mod = f: (import f { inherit lib config; pkgs = { }; }).config;
         in lib.resolve [ (mod ./modules/upgrade.nix) (mod ./modules/upgrade-sysupdate.nix) ]",
    )
    .unwrap();
    assert_eq!(v, json!({}), "{v}");
}

/// modules/upgrade-units.nix with `kateskit.upgrade = <upgrade>`: the unit files it installs
/// (by name) and the systemd.services drop-ins.
fn units(upgrade: &str) -> Option<Value> {
    let state = tempfile::tempdir().unwrap();
    eval_json(
        state.path(),
        &format!(
            "let lib = import ./tests/nixtool/modlib.nix;
                 pkgs = {{ util-linux = \"/util-linux\"; gptfdisk = \"/gptfdisk\"; systemd = \"/systemd\";
                          writeTextDir = path: text: {{ inherit path text; }}; }};
                 config.kateskit = {{ enable = true; package = \"/kk\";
                   upgrade = {{ enable = true; healthTimeout = 600; watch.enable = true; }} // {upgrade}; }};
                 m = lib.resolve [ (import ./modules/upgrade-units.nix {{ inherit lib pkgs config; }}).config ];
             in {{ files = builtins.listToAttrs (map (p: {{ name = baseNameOf p.path; value = p.text; }}) m.systemd.packages);
                   services = m.systemd.services; }}"
        ),
    )
}

#[test]
fn the_gate_holds_boot_complete_and_commit_and_watch_follow() {
    let Some(v) = units("{ }") else { return };
    let files = v["files"].as_object().unwrap();
    let mut names: Vec<&String> = files.keys().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "kateskit-commit.service",
            "kateskit-health.service",
            "kateskit-upgrade.service"
        ]
    );
    let path = "/util-linux/bin:/gptfdisk/bin:/systemd/bin";
    for (name, text) in files {
        let text = text.as_str().unwrap();
        assert!(!text.contains('@'), "{name}: placeholder left:\n{text}");
        assert!(
            text.contains(&format!("Environment=PATH={path}")),
            "{name}:\n{text}"
        );
        assert!(
            text.contains("ExecStart=/kk/bin/kateskit "),
            "{name}:\n{text}"
        );
    }
    let health = files["kateskit-health.service"].as_str().unwrap();
    for line in [
        "Before=boot-complete.target",
        "FailureAction=reboot",
        "Type=oneshot",
    ] {
        assert!(
            health.lines().any(|l| l == line),
            "{line} missing:\n{health}"
        );
    }
    let s = &v["services"];
    // NixOS ignores the files' [Install]: it is restated from them.
    assert_eq!(
        s["kateskit-health"]["requiredBy"],
        json!(["boot-complete.target"])
    );
    assert_eq!(s["kateskit-health"]["wantedBy"], json!([]));
    assert_eq!(
        s["kateskit-commit"]["wantedBy"],
        json!(["multi-user.target"])
    );
    assert_eq!(
        s["kateskit-upgrade"]["wantedBy"],
        json!(["multi-user.target"])
    );
    assert_eq!(
        s["kateskit-health"]["serviceConfig"],
        json!({
            "ExecStart": ["", "/kk/bin/kateskit agent health --timeout 600s"],
            "TimeoutStartSec": "900s"
        })
    );

    let v = units("{ healthTimeout = 1800; watch.enable = false; }").unwrap();
    assert!(v["files"].get("kateskit-upgrade.service").is_none(), "{v}");
    assert!(v["services"].get("kateskit-upgrade").is_none(), "{v}");
    assert_eq!(
        v["services"]["kateskit-health"]["serviceConfig"]["ExecStart"][1],
        "/kk/bin/kateskit agent health --timeout 1800s"
    );
    assert_eq!(
        v["services"]["kateskit-health"]["serviceConfig"]["TimeoutStartSec"],
        "2100s"
    );
}
