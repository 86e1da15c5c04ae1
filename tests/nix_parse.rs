//! Nix evaluation tier: every .nix file in the repository parses with `nix-instantiate --parse`
//! (Debian's nix-bin), and the flake's outputs are the ones docs/nix.md promises.

mod nixtool;

use std::path::{Path, PathBuf};

use nixtool::{nix_instantiate, repo};

fn nix_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if p.is_dir() && !name.starts_with('.') && name != "target" {
            nix_files(&p, out);
        } else if name.ends_with(".nix") {
            out.push(p);
        }
    }
}

#[test]
fn every_nix_file_parses() {
    let mut files = Vec::new();
    nix_files(&repo(), &mut files);
    assert!(
        files.len() >= 25,
        "expected the flake, nix/, modules/, images/, installer/ files; found {files:?}"
    );
    let state = tempfile::tempdir().unwrap();
    for f in &files {
        let Some(mut c) = nix_instantiate(state.path()) else {
            return;
        };
        let out = c.arg("--parse").arg(f).output().unwrap();
        assert!(
            out.status.success(),
            "{} does not parse:\n{}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        // The in-repo extractor (nix_options.rs) must read the same files.
        let src = std::fs::read_to_string(f).unwrap();
        nixtool::parse::Parser::new(&src).expr();
    }
}

#[test]
fn a_broken_file_is_reported() {
    let state = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.nix");
    std::fs::write(&bad, "{ a = 1 }").unwrap();
    let Some(mut c) = nix_instantiate(state.path()) else {
        return;
    };
    let out = c.arg("--parse").arg(&bad).output().unwrap();
    assert!(!out.status.success());
}

#[test]
fn flake_exposes_the_documented_outputs() {
    let flake = std::fs::read_to_string(repo().join("flake.nix")).unwrap();
    for want in [
        "nixos-26.05",
        "nixosModules",
        "kateskit = import ./modules",
        "lib = { inherit (kit) mkCluster render; }",
        "checks.${system}",
        "devShells.${system}.default",
    ] {
        assert!(flake.contains(want), "flake.nix lacks `{want}`");
    }
    // packages: kateskit plus the homelab images from nix/lib.nix's variant table, each with
    // its row in docs/nix.md's output table and no row without a variant.
    let lib = std::fs::read_to_string(repo().join("nix/lib.nix")).unwrap();
    for v in ["iso =", "netboot =", "raw =", "qcow2 =", "update ="] {
        assert!(lib.contains(v), "nix/lib.nix lacks image variant `{v}`");
    }
    let table = lib
        .split("variants = {")
        .nth(1)
        .and_then(|t| t.split("\n  };").next())
        .expect("nix/lib.nix has a `variants = { ... };` table");
    let variants: std::collections::BTreeSet<&str> = table
        .lines()
        .filter_map(|l| l.trim().split_once(" = {").map(|(n, _)| n))
        .collect();
    let docs = std::fs::read_to_string(repo().join("docs/nix.md")).unwrap();
    let documented: std::collections::BTreeSet<&str> = docs
        .lines()
        .filter_map(|l| l.strip_prefix("| `packages.x86_64-linux."))
        .filter_map(|l| l.split('`').next())
        .filter(|n| *n != "kateskit")
        .collect();
    assert_eq!(
        documented, variants,
        "docs/nix.md's package rows differ from nix/lib.nix's variants"
    );
}

#[test]
fn nix_reads_the_chart_lock_as_rust_does() {
    let state = tempfile::tempdir().unwrap();
    // [k3s] is the Kubernetes pin, not a chart.
    let expr = "builtins.mapAttrs (n: c: c.digest or \"\") (builtins.removeAttrs (builtins.fromTOML (builtins.readFile ./bundle/charts.toml)) [ \"k3s\" ])";
    let Some(nix) = nixtool::eval_json(state.path(), expr) else {
        return;
    };
    let lock = kateskit::bundle::charts::ChartLock::bundled().unwrap();
    let rust: serde_json::Map<String, serde_json::Value> = lock
        .charts
        .iter()
        .map(|(k, c)| (k.clone(), c.digest.clone().into()))
        .collect();
    assert_eq!(nix, serde_json::Value::Object(rust));
}
