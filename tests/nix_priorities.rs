//! Nix evaluation tier, static half: every `mkDefault`/`mkForce`/`mkOverride`/`mkOptionDefault`
//! the NixOS modules (modules/, images/, installer/) use is listed in docs/nixos-options.md
//! "Priorities" with the nixpkgs definition it competes with and that definition's priority,
//! read from nixpkgs by hand, and wins against it. A `mkDefault` (1000) meeting a
//! normal-priority (100) nixpkgs definition is silently dropped by the module system, which is
//! how the ISO once lost its name; this test fails on that and on a missing or stale row.

mod nixtool;

use std::collections::BTreeSet;

use nixtool::parse::{Expr, Parser};
use nixtool::repo;

/// Priorities of nixpkgs lib/modules.nix: mkOptionDefault = mkOverride 1500, mkDefault =
/// mkOverride 1000, mkForce = mkOverride 50; a plain definition is 100
/// (`defaultOverridePriority`).
fn priority(modifier: &str) -> Option<u32> {
    match modifier {
        "mkOptionDefault" => Some(1500),
        "mkDefault" => Some(1000),
        "mkForce" => Some(50),
        m => m.strip_prefix("mkOverride ")?.parse().ok(),
    }
}

const PRIORITY_FNS: [&str; 4] = ["mkDefault", "mkForce", "mkOverride", "mkOptionDefault"];
const TRANSPARENT: [&str; 6] = [
    "mkIf",
    "mkMerge",
    "optionalAttrs",
    "mkBefore",
    "mkAfter",
    "mkOrder",
];

fn head_fn(items: &[Expr]) -> Option<&str> {
    match items.first() {
        Some(Expr::Var(p)) => p.last().map(String::as_str),
        _ => None,
    }
}

/// (option path, priority function) for every priority function in `e` at `path`; a priority
/// over an attribute set applies to each definition inside (lib/modules.nix pushes it down).
fn walk(e: &Expr, path: &[String], under: Option<&str>, out: &mut Vec<(String, String)>) {
    match e {
        Expr::Set(bindings) => {
            for (p, v) in bindings {
                walk(v, &[path, p].concat(), under, out);
            }
        }
        Expr::Seq(items)
            if items
                .iter()
                .any(|i| matches!(i, Expr::Op(o) if o == "//" || o == "if")) =>
        {
            for part in items.split(|i| matches!(i, Expr::Op(o) if o == "//" || o == "if")) {
                walk(&Expr::Seq(part.to_vec()), path, under, out);
            }
        }
        Expr::Seq(items) if items.len() == 1 => walk(&items[0], path, under, out),
        Expr::Seq(items) if head_fn(items).is_some_and(|f| PRIORITY_FNS.contains(&f)) => {
            let f = head_fn(items).unwrap();
            walk(items.last().unwrap(), path, Some(f), out);
        }
        Expr::Seq(items) if head_fn(items).is_some_and(|f| TRANSPARENT.contains(&f)) => {
            match items.last().unwrap() {
                Expr::List(parts) => parts.iter().for_each(|p| walk(p, path, under, out)),
                last => walk(last, path, under, out),
            }
        }
        _ => {
            if let Some(f) = under {
                out.push((path.join("."), f.to_string()));
            }
        }
    }
}

/// (file, option path, modifier) over the module files; `mkOverride N` takes N from the text
/// (the test parser keeps numbers opaque), in order of appearance.
fn found() -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for dir in ["modules", "images", "installer"] {
        let mut files: Vec<_> = std::fs::read_dir(repo().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "nix"))
            .collect();
        files.sort();
        for f in files {
            let src = std::fs::read_to_string(&f).unwrap();
            let rel = f.strip_prefix(repo()).unwrap().display().to_string();
            let mut e = Parser::new(&src).expr();
            while let Expr::Lambda(_, body) = e {
                e = *body;
            }
            let mut defs = Vec::new();
            if let Expr::Set(bindings) = &e {
                for (p, v) in bindings {
                    match p[0].as_str() {
                        "options" | "imports" | "meta" => {}
                        "config" => walk(v, &p[1..], None, &mut defs),
                        _ => walk(v, p, None, &mut defs),
                    }
                }
            }
            // Code only: a comment naming mkOverride must not shift the numbers.
            let code: String = src
                .lines()
                .map(|l| l.split('#').next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n");
            let mut overrides = code
                .split("mkOverride")
                .skip(1)
                .map(|rest| rest.split_whitespace().next().unwrap_or("").to_string());
            for (path, f) in defs {
                let m = if f == "mkOverride" {
                    format!("mkOverride {}", overrides.next().unwrap_or_default())
                } else {
                    f
                };
                out.insert((rel.clone(), path, m));
            }
        }
    }
    out
}

struct Row {
    file: String,
    path: String,
    ours: String,
    theirs: String,
}

/// Rows of the "Priorities" table: file | `path` | `modifier` | competing definition | priority.
fn rows() -> Vec<Row> {
    let text = std::fs::read_to_string(repo().join("docs/nixos-options.md")).unwrap();
    let section = text
        .split("\n## Priorities\n")
        .nth(1)
        .expect("docs/nixos-options.md has a \"## Priorities\" section");
    let section = section.split("\n## ").next().unwrap();
    let mut out = Vec::new();
    for line in section.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells[0] == "File" || cells[0].starts_with("---") {
            continue;
        }
        assert_eq!(cells.len(), 5, "Priorities row without 5 cells: {line}");
        assert!(
            !cells[3].is_empty(),
            "Priorities row without its nixpkgs source: {line}"
        );
        out.push(Row {
            file: cells[0].to_string(),
            path: cells[1].trim_matches('`').to_string(),
            ours: cells[2].trim_matches('`').to_string(),
            theirs: cells[4].to_string(),
        });
    }
    out
}

#[test]
fn every_priority_the_modules_use_is_recorded_and_wins_against_nixpkgs() {
    let found = found();
    // The extractor must see what it checks, or it proves nothing.
    for (file, path) in [
        (
            "modules/k3s.nix",
            "systemd.services.k3s.serviceConfig.ExecStart",
        ),
        ("modules/host.nix", "services.openssh.enable"),
        ("images/iso.nix", "image.baseName"),
    ] {
        assert!(
            found.iter().any(|(f, p, _)| f == file && p == path),
            "extractor missed {file} {path}; found {found:?}"
        );
    }
    let rows = rows();
    let mut problems = Vec::new();
    for (file, path, m) in &found {
        let Some(row) = rows.iter().find(|r| &r.file == file && &r.path == path) else {
            problems.push(format!(
                "{file}: `{path}` uses {m} but docs/nixos-options.md \"Priorities\" has no row naming the nixpkgs definition it competes with"
            ));
            continue;
        };
        if &row.ours != m {
            problems.push(format!(
                "{file}: `{path}` uses {m}, the docs say {}",
                row.ours
            ));
        }
        let ours = priority(m).unwrap_or_else(|| panic!("{file}: unknown priority {m}"));
        match row.theirs.as_str() {
            "none" => {}
            n => {
                let theirs: u32 = n.parse().unwrap_or_else(|_| {
                    panic!("{file}: `{path}`: nixpkgs priority `{n}` is neither a number nor none")
                });
                if ours >= theirs {
                    problems.push(format!(
                        "{file}: `{path}` = {m} (priority {ours}) loses to nixpkgs' definition at priority {theirs} (lower wins): use a lower number (lib.mkOverride or lib.mkForce)"
                    ));
                }
            }
        }
    }
    for r in &rows {
        if !found.iter().any(|(f, p, _)| f == &r.file && p == &r.path) {
            problems.push(format!(
                "docs/nixos-options.md \"Priorities\": {} `{}` is no longer set with a priority there; remove the row",
                r.file, r.path
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The extractor on the idioms: a priority over a set reaches every definition inside it,
/// through mkIf and mkMerge; one under an unrelated function is not mistaken for the outer.
#[test]
fn the_extractor_sees_priorities_through_conditions_and_sets() {
    let src = r#"{ config, lib, ... }: { options.x = lib.mkOption { default = lib.mkDefault 1; }; config = lib.mkIf true (lib.mkMerge [ { a.b = lib.mkDefault 1; } (lib.mkIf false { c = lib.mkForce { d = 1; e.f = "x"; }; }) ]) // { g = lib.mkOverride 90 "y"; h = 2; }; }"#;
    let mut e = Parser::new(src).expr();
    while let Expr::Lambda(_, body) = e {
        e = *body;
    }
    let Expr::Set(b) = e else { panic!() };
    let mut out = Vec::new();
    for (p, v) in &b {
        if p[0] == "config" {
            walk(v, &p[1..], None, &mut out);
        }
    }
    out.sort();
    let got: Vec<String> = out.iter().map(|(p, m)| format!("{p}={m}")).collect();
    assert_eq!(
        got,
        [
            "a.b=mkDefault",
            "c.d=mkForce",
            "c.e.f=mkForce",
            "g=mkOverride"
        ]
    );
    assert_eq!(priority("mkOverride 90"), Some(90));
    assert_eq!(priority("mkDefault"), Some(1000));
}
