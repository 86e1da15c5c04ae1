//! The subcommand tree as `kateskit --help` prints it: the independent list the generated
//! completions and man pages are checked against (a new subcommand is covered without editing
//! the tests).

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The binary under test.
pub fn kateskit() -> PathBuf {
    assert_cmd::cargo::cargo_bin("kateskit")
}

/// Runs `kateskit ARGS...` and returns stdout; panics with stderr on failure.
pub fn run(args: &[&str]) -> String {
    let out = Command::new(kateskit()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "kateskit {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The subcommand names listed under "Commands:" in `kateskit PATH... --help`, without `help`.
pub fn children(path: &[String]) -> Vec<String> {
    let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
    args.push("--help");
    let help = run(&args);
    let mut names = Vec::new();
    let mut inside = false;
    for line in help.lines() {
        if line == "Commands:" {
            inside = true;
        } else if inside && line.is_empty() {
            break;
        } else if inside {
            // "  name   about"; wrapped about lines are indented further.
            let Some(rest) = line.strip_prefix("  ") else {
                continue;
            };
            if rest.starts_with(' ') {
                continue;
            }
            let name = rest.split_whitespace().next().unwrap().to_string();
            if name != "help" {
                names.push(name);
            }
        }
    }
    names
}

/// Every subcommand path (`["cluster"]`, `["cluster", "init"]`, ...), parents before children.
pub fn all_paths() -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut todo = vec![Vec::new()];
    while let Some(path) = todo.pop() {
        for c in children(&path) {
            let mut p = path.clone();
            p.push(c);
            todo.push(p.clone());
            out.push(p);
        }
    }
    out
}
