//! The stand-in `lib` of the Nix evaluation tier (tests/nixtool/modlib.nix) against the
//! semantics nixpkgs documents for definitions (NixOS manual, "Option Definitions", and
//! lib/modules.nix: mkIf/mkMerge/mkOverride/mkOrder, pushDownProperties, dischargeProperties,
//! filterOverrides', sortProperties), then used on the modules where a KatesKit definition
//! competes with a nixpkgs one: the value that wins is the one the image gets.

mod nixtool;

use nixtool::{eval_json, eval_raw};
use serde_json::{json, Value};

fn eval(body: &str) -> Option<Value> {
    let state = tempfile::tempdir().unwrap();
    eval_json(
        state.path(),
        &format!("let lib = import ./tests/nixtool/modlib.nix; in {body}"),
    )
}

/// Nix's error output for an expression that must fail.
fn fails(body: &str) -> Option<String> {
    let state = tempfile::tempdir().unwrap();
    let out = eval_raw(
        state.path(),
        &format!("let lib = import ./tests/nixtool/modlib.nix; in {body}"),
    )?;
    assert!(!out.status.success(), "{body} evaluated");
    Some(String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn properties_build_the_values_of_lib_modules_nix() {
    let Some(v) = eval(
        "[ (lib.mkIf true 1) (lib.mkMerge [ 1 ]) (lib.mkDefault 1) (lib.mkForce 1) (lib.mkOptionDefault 1)
           (lib.mkOverride 90 1) (lib.mkBefore 1) (lib.mkAfter 1) (lib.mkImageMediaOverride 1) ]",
    ) else {
        return;
    };
    assert_eq!(
        v,
        json!([
            { "_type": "if", "condition": true, "content": 1 },
            { "_type": "merge", "contents": [1] },
            { "_type": "override", "priority": 1000, "content": 1 },
            { "_type": "override", "priority": 50, "content": 1 },
            { "_type": "override", "priority": 1500, "content": 1 },
            { "_type": "override", "priority": 90, "content": 1 },
            { "_type": "order", "priority": 500, "content": 1 },
            { "_type": "order", "priority": 1500, "content": 1 },
            { "_type": "override", "priority": 60, "content": 1 }
        ])
    );
}

/// filterOverrides': the lowest priority number wins, a plain definition is 100.
#[test]
fn the_lowest_priority_number_wins() {
    let Some(v) = eval(
        "map (defs: (lib.resolve (map (d: { a = d; }) defs)).a) [
           [ (lib.mkDefault 1) 2 ]
           [ (lib.mkForce 1) 2 ]
           [ (lib.mkOptionDefault 1) (lib.mkDefault 2) ]
           [ (lib.mkOverride 90 1) 2 (lib.mkDefault 3) ]
           [ (lib.mkForce 1) (lib.mkOverride 10 2) ]
           [ (lib.mkDefault [ 1 ]) [ 2 ] [ 3 ] ]
         ]",
    ) else {
        return;
    };
    assert_eq!(v, json!([2, 1, 2, 1, 2, [2, 3]]));
    // Two plain definitions that differ do not merge (mergeEqualOption); equal ones do.
    let e = fails("(lib.resolve [ { a = \"x\"; } { a = \"y\"; } ]).a").unwrap();
    assert!(e.contains("config.a: conflicting definitions"), "{e}");
    assert_eq!(
        eval("(lib.resolve [ { a = \"x\"; } { a = \"x\"; } ]).a").unwrap(),
        "x"
    );
}

/// dischargeProperties and pushDownProperties: mkIf over a set moves onto each attribute; a
/// false condition removes the definitions; mkMerge splices; the condition must be a Boolean.
#[test]
fn conditions_and_merges_are_pushed_down_and_discharged() {
    let Some(v) = eval(
        "lib.resolve [
           (lib.mkIf true { a.b = 1; l = [ 1 ]; })
           (lib.mkIf false { a.c = 2; gone = 3; l = [ 9 ]; })
           (lib.mkMerge [ { a.d = 4; } (lib.mkIf true { l = [ 2 ]; }) ])
           (lib.mkForce { e = 5; })
           { e = 6; f = lib.mkIf false 7; }
         ]",
    ) else {
        return;
    };
    assert_eq!(v, json!({ "a": { "b": 1, "d": 4 }, "l": [1, 2], "e": 5 }));
    let e = fails("(lib.resolve [ (lib.mkIf \"yes\" { a = 1; }) ]).a").unwrap();
    assert!(
        e.contains("mkIf called with a non-Boolean condition"),
        "{e}"
    );
    // An attribute none of whose definitions survives is absent (as an unset option with no
    // default would be an error to read).
    assert_eq!(
        eval("lib.resolve [ { a = lib.mkMerge [ ]; b = 1; } ]").unwrap(),
        json!({ "b": 1 })
    );
}

/// sortProperties: mkBefore (500) < plain (1000) < mkAfter (1500), stable within a priority;
/// ordering applies after the priority filter.
#[test]
fn list_order_follows_mk_order() {
    let Some(v) = eval(
        "(lib.resolve [ { l = [ 1 ]; } { l = lib.mkAfter [ 2 ]; } { l = lib.mkBefore [ 3 ]; } { l = [ 4 ]; } { l = lib.mkDefault [ 5 ]; } ]).l",
    ) else {
        return;
    };
    assert_eq!(v, json!([3, 1, 4, 2]));
}

/// images/iso.nix against iso-image.nix's plain `image.baseName` (docs/nixos-options.md,
/// "Priorities"): the ISO is named after the cluster and node. With mkDefault it would lose.
#[test]
fn the_iso_name_wins_over_iso_image_nix() {
    let iso = |node: &str| {
        eval(&format!(
            "let m = (import ./images/iso.nix {{ inherit lib; modulesPath = \"/nixpkgs/nixos/modules\";
                   pkgs.callPackage = f: a: {{ file = \"/blank\"; }};
                   config.kateskit = {{ cluster.normalized.cluster.name = \"homelab\"; node = {node}; }}; }});
                 # iso-image.nix's definition (plain) and image/file-options.nix's default.
                 nixpkgs = {{ image.baseName = \"nixos-26.05.20260101.abcdef0-x86_64-linux\"; }};
                 fileOptions = {{ image.baseName = lib.mkOptionDefault \"nixos-image-26.05-x86_64-linux\"; }};
             in (lib.resolve [ (removeAttrs m [ \"imports\" ]) nixpkgs fileOptions ]).image.baseName"
        ))
    };
    let Some(generic) = iso("null") else { return };
    assert_eq!(generic, "kateskit-homelab");
    assert_eq!(iso("\"box\"").unwrap(), "kateskit-homelab-box");
    // The same competition with mkDefault, as iso.nix once had it: nixpkgs' name wins.
    assert_eq!(
        eval("(lib.resolve [ { n = lib.mkDefault \"kateskit-homelab\"; } { n = \"nixos-26.05-x86_64-linux\"; } ]).n").unwrap(),
        "nixos-26.05-x86_64-linux"
    );
}

/// modules/host.nix's mkDefault SSH and stateVersion beat nixpkgs' option defaults and yield
/// to a site's plain definition.
#[test]
fn host_defaults_beat_option_defaults_and_yield_to_the_site() {
    let Some(v) = eval(
        "let host = (import ./modules/host.nix { inherit lib; config.kateskit = { enable = true; serialConsole = null; }; }).config;
             defaults = { services.openssh.enable = lib.mkOptionDefault false; system.stateVersion = lib.mkOptionDefault \"25.11\"; };
             r = lib.resolve [ host defaults ];
             site = lib.resolve [ host defaults { services.openssh.enable = false; } ];
         in { ssh = r.services.openssh.enable; state = r.system.stateVersion; site = site.services.openssh.enable; }",
    ) else {
        return;
    };
    assert_eq!(v, json!({ "ssh": true, "state": "26.05", "site": false }));
}
