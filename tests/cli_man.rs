//! `kateskit generate man` writes one page per subcommand `--help` lists (no page for hidden
//! commands), every page renders without warnings through groff and man-db's `man -l`, and each
//! command group's page lists its subcommands. groff and man are skipped, saying so, where they
//! are not installed (Debian packages groff-base and man-db, tests/debian-packages.txt).

mod cli_help;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn page_name(path: &[String]) -> String {
    let mut parts = vec!["kateskit".to_string()];
    parts.extend(path.iter().cloned());
    parts.join("-")
}

fn have(tool: &str, package: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok();
    if !found {
        eprintln!(
            "skipping {tool}: not installed (Debian package {package}; tests/run installs it)"
        );
    }
    found
}

/// The page as man-db shows it, wide enough that no name wraps; asserts a clean render.
fn man_text(page: &Path) -> String {
    let out = Command::new("man")
        .args(["-P", "cat", "-l"])
        .arg(page)
        .env("MANWIDTH", "200")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.trim().is_empty(),
        "man -l {}: {err}",
        page.display()
    );
    // man-db may typeset ASCII hyphens as U+2010.
    String::from_utf8(out.stdout)
        .unwrap()
        .replace('\u{2010}', "-")
}

#[test]
fn one_page_per_subcommand_and_no_page_for_hidden_ones() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("new/man");
    cli_help::run(&["generate", "man", "--out", out.to_str().unwrap()]);
    let got: BTreeSet<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let mut want: BTreeSet<String> = cli_help::all_paths()
        .iter()
        .map(|p| format!("{}.1", page_name(p)))
        .collect();
    want.insert("kateskit.1".into());
    assert!(want.len() > 10, "the help lists the command tree: {want:?}");
    assert_eq!(got, want);
}

#[test]
fn every_page_renders_cleanly_and_groups_list_their_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    cli_help::run(&["generate", "man", "--out", dir.path().to_str().unwrap()]);
    let mut paths = vec![Vec::new()];
    paths.extend(cli_help::all_paths());
    let groff = have("groff", "groff-base");
    let man = have("man", "man-db");
    for path in &paths {
        let name = page_name(path);
        let page = dir.path().join(format!("{name}.1"));
        if groff {
            // -k: preconv, as man-db does, for the UTF-8 in help texts; -ww: every warning.
            let out = Command::new("groff")
                .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
                .arg(&page)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success() && err.trim().is_empty(),
                "groff {name}: {err}"
            );
        }
        if !man {
            continue;
        }
        let text = man_text(&page);
        assert!(
            text.contains("NAME") && text.contains(&name),
            "{name}:\n{text}"
        );
        for child in cli_help::children(path) {
            let mut c = path.clone();
            c.push(child);
            let entry = format!("{}(1)", page_name(&c));
            assert!(
                text.contains(&entry),
                "{name} does not list {entry}:\n{text}"
            );
        }
    }
}
