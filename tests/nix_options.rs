//! Nix evaluation tier, static half: every option path the NixOS modules (modules/, images/,
//! installer/) set is either a `kateskit.*` option those modules declare, or is listed in
//! docs/nixos-options.md with a source. The paths come from parsing the modules
//! (tests/nixtool/parse.rs); nix_parse.rs proves the same files are valid Nix.

mod nixtool;

use std::collections::BTreeSet;
use std::path::PathBuf;

use nixtool::parse::{Expr, Parser};
use nixtool::repo;

const MODIFIERS: [&str; 9] = [
    "mkIf",
    "mkDefault",
    "mkForce",
    "mkOverride",
    "optionalAttrs",
    "mkMerge",
    "mkBefore",
    "mkAfter",
    "mkOrder",
];
const DECLARERS: [&str; 3] = ["mkOption", "mkEnableOption", "mkPackageOption"];

fn module_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["modules", "images", "installer"] {
        for e in std::fs::read_dir(repo().join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "nix") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// The module's attribute set, if the file is a NixOS module (a function of config/lib/...).
fn module_body(mut e: Expr) -> Option<Expr> {
    let mut is_module = false;
    while let Expr::Lambda(names, body) = e {
        is_module |= names
            .iter()
            .any(|n| ["config", "lib", "modulesPath"].contains(&n.as_str()));
        e = *body;
    }
    is_module.then_some(e)
}

fn head_fn(items: &[Expr]) -> Option<&str> {
    match items.first() {
        Some(Expr::Var(p)) => p.last().map(String::as_str),
        _ => None,
    }
}

/// Option paths set by `e` at `path`.
fn walk(e: &Expr, path: &[String], out: &mut BTreeSet<Vec<String>>) {
    match e {
        Expr::Set(bindings) => {
            for (p, v) in bindings {
                walk(v, &[path, p].concat(), out);
            }
        }
        Expr::Seq(items)
            if items
                .iter()
                .any(|i| matches!(i, Expr::Op(o) if o == "//" || o == "if")) =>
        {
            for part in items.split(|i| matches!(i, Expr::Op(o) if o == "//" || o == "if")) {
                walk(&Expr::Seq(part.to_vec()), path, out);
            }
        }
        Expr::Seq(items) if items.len() == 1 => walk(&items[0], path, out),
        Expr::Seq(items) if head_fn(items).is_some_and(|f| MODIFIERS.contains(&f)) => {
            match items.last().unwrap() {
                Expr::List(parts) if head_fn(items) == Some("mkMerge") => {
                    parts.iter().for_each(|p| walk(p, path, out))
                }
                last => walk(last, path, out),
            }
        }
        _ if !path.is_empty() => {
            out.insert(path.to_vec());
        }
        _ => {}
    }
}

/// `kateskit.*` options declared under `options`.
fn declared(e: &Expr, path: &[String], out: &mut BTreeSet<Vec<String>>) {
    match e {
        Expr::Set(bindings) => bindings
            .iter()
            .for_each(|(p, v)| declared(v, &[path, p].concat(), out)),
        Expr::Seq(items) if head_fn(items).is_some_and(|f| DECLARERS.contains(&f)) => {
            out.insert(path.to_vec());
        }
        _ => {}
    }
}

/// (set paths, declared kateskit options) over all module files.
fn collect() -> (BTreeSet<Vec<String>>, BTreeSet<Vec<String>>) {
    let (mut set, mut decl) = (BTreeSet::new(), BTreeSet::new());
    for f in module_files() {
        let src = std::fs::read_to_string(&f).unwrap();
        let Some(body) = module_body(Parser::new(&src).expr()) else {
            continue;
        };
        let Expr::Set(bindings) = body else {
            panic!("{}: module body is not an attribute set", f.display())
        };
        let structured = bindings
            .iter()
            .any(|(p, _)| ["config", "options"].contains(&p[0].as_str()));
        for (p, v) in &bindings {
            match p[0].as_str() {
                "options" => declared(v, &p[1..], &mut decl),
                "config" if structured => walk(v, &p[1..], &mut set),
                "imports" | "meta" | "disabledModules" => {}
                _ if !structured => walk(v, p, &mut set),
                _ => {}
            }
        }
    }
    (set, decl)
}

/// Patterns from docs/nixos-options.md rows that name a source: `<name>` matches one segment,
/// a trailing `*` any rest.
fn documented() -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(repo().join("docs/nixos-options.md")).unwrap();
    let mut out = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() < 3 {
            continue; // package and function tables: not option paths
        }
        let source = cells.last().unwrap();
        assert!(
            !source.is_empty(),
            "docs/nixos-options.md row without a source: {line}"
        );
        let pat = cells[0].trim_matches('`');
        out.push(pat.split('.').map(String::from).collect());
    }
    out
}

fn matches(pat: &[String], path: &[String]) -> bool {
    match (pat.first().map(String::as_str), path.first()) {
        (Some("*"), _) => pat.len() == 1,
        (None, None) => true,
        (Some(p), Some(s)) if p == "<name>" || p == s => matches(&pat[1..], &path[1..]),
        _ => false,
    }
}

#[test]
fn every_option_the_modules_set_is_declared_or_documented_with_a_source() {
    let (set, decl) = collect();
    let docs = documented();
    let show = |p: &Vec<String>| p.join(".");
    // The extractor must see the options it is meant to check; otherwise it proves nothing.
    for want in [
        "services.k3s.enable",
        "systemd.services.k3s.serviceConfig.ExecStart",
        "isoImage.contents",
        "boot.kernel.sysctl.<string>",
        "services.openiscsi.name",
    ] {
        assert!(
            set.iter().any(|p| show(p) == want),
            "extractor missed {want}; found:\n{}",
            set.iter().map(show).collect::<Vec<_>>().join("\n")
        );
    }
    assert!(
        decl.iter().any(|p| show(p) == "kateskit.flannel.backend"),
        "declared kateskit options not found: {decl:?}"
    );
    let mut missing = Vec::new();
    for p in &set {
        let ok = if p[0] == "kateskit" {
            decl.iter().any(|d| p.starts_with(d))
        } else {
            docs.iter().any(|d| matches(d, p))
        };
        if !ok {
            missing.push(show(p));
        }
    }
    assert!(missing.is_empty(), "option paths set by the modules but neither declared (kateskit.*) nor in docs/nixos-options.md:\n{}", missing.join("\n"));
}

#[test]
fn matcher_and_parser_handle_the_module_idioms() {
    let src = r#"{ config, lib, ... }: let x = 1; in { options.kateskit.a = lib.mkOption { }; config = lib.mkIf config.kateskit.enable (lib.mkMerge [ { a.b = 1; } (lib.mkIf true { c."d.e" = ''s ${"}"}''; }) ]) // { f = lib.mkForce { g = [ 1 ]; }; }; }"#;
    let Expr::Set(b) = module_body(Parser::new(src).expr()).unwrap() else {
        panic!()
    };
    let mut set = BTreeSet::new();
    let mut decl = BTreeSet::new();
    for (p, v) in &b {
        if p[0] == "config" {
            walk(v, &p[1..], &mut set);
        } else {
            declared(v, &p[1..], &mut decl);
        }
    }
    let got: Vec<String> = set.iter().map(|p| p.join(".")).collect();
    assert_eq!(got, ["a.b", "c.<string>", "f.g"]);
    assert_eq!(
        decl.into_iter().map(|p| p.join(".")).collect::<Vec<_>>(),
        ["kateskit.a"]
    );
    let pat = |s: &str| s.split('.').map(String::from).collect::<Vec<_>>();
    assert!(matches(
        &pat("systemd.services.<name>.serviceConfig.*"),
        &pat("systemd.services.k3s.serviceConfig.Type")
    ));
    assert!(!matches(
        &pat("systemd.services.<name>.after"),
        &pat("systemd.services.k3s.before")
    ));
    assert!(!matches(
        &pat("boot.kernelModules"),
        &pat("boot.kernelModules.x")
    ));
}
