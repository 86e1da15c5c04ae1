//! Every `kateskit ...` command line written in the Nix files (modules, images, installer, VM
//! tests) and every `Exec*=` line of the unit files in modules/units names a real subcommand
//! and only flags that subcommand accepts, so the NixOS layer cannot drift from the CLI
//! unnoticed. `${exe}`/`lib.getExe` forms and the units' `@kateskit@` count as `kateskit`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn nix_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            nix_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "nix") {
            out.push(p);
        }
    }
}

/// Unit files under modules/units (drop-in directories included).
fn unit_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            unit_files(&p, out);
        } else if p
            .extension()
            .is_some_and(|x| ["service", "conf", "timer"].contains(&x.to_str().unwrap_or("")))
        {
            out.push(p);
        }
    }
}

/// The command of a unit file's `Exec*=` line, with systemd's prefixes (`-`, `+`, `!`, `@`,
/// `:`) dropped, as a line the scanner reads; other lines give "".
fn unit_command(line: &str) -> String {
    let Some((key, cmd)) = line.split_once('=') else {
        return String::new();
    };
    if !key.trim().starts_with("Exec") {
        return String::new();
    }
    let cmd = cmd.trim_start_matches(['-', '+', '!', '@', ':']);
    cmd.replace("@kateskit@ ", "kateskit ")
        .replace("kateskit@ ", "kateskit ")
}

/// (subcommand words, flags) for each invocation on a line.
fn invocations(line: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let line = line
        .replace("${exe} ", "kateskit ")
        .replace("${lib.getExe cfg.package} ", "kateskit ");
    let mut out = Vec::new();
    let mut rest = line.as_str();
    while let Some(i) = rest.find("kateskit ") {
        let before = &rest[..i];
        rest = &rest[i + "kateskit ".len()..];
        // Only command positions: start of line, after a quote, `$(`, `|`, `&&` or `;`.
        let prev = before.trim_end();
        if !(prev.is_empty() || prev.ends_with(['"', '(', '|', ';', '&', '`', '\''])) {
            continue;
        }
        // In prose, `kateskit ...` ends at the closing backtick.
        let cmd = if prev.ends_with('`') {
            rest.split('`').next().unwrap_or("")
        } else {
            rest
        };
        let words: Vec<&str> = cmd
            .split(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ';' | '`'))
            .filter(|w| !w.is_empty())
            .collect();
        let subs: Vec<String> = words
            .iter()
            .take_while(|w| {
                w.chars().all(|c| c.is_ascii_lowercase() || c == '-') && !w.starts_with('-')
            })
            .map(|w| w.to_string())
            .collect();
        let flags: Vec<String> = words
            .iter()
            .take_while(|w| !w.contains("&&") && **w != "|")
            .filter(|w| w.starts_with("--") && w.len() > 2)
            .map(|w| w.split('=').next().unwrap().to_string())
            .collect();
        if !subs.is_empty() {
            out.push((subs, flags));
        }
    }
    out
}

#[test]
fn every_kateskit_call_in_nix_files_is_a_real_command_line() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for d in ["modules", "images", "installer", "nix"] {
        nix_files(&root.join(d), &mut files);
    }
    let mut units = Vec::new();
    unit_files(&root.join("modules/units"), &mut units);
    assert!(units.len() >= 3, "{units:?}");
    let bin = assert_cmd::cargo::cargo_bin("kateskit");
    let mut checked = 0;
    let mut in_units = 0;
    let mut bad = Vec::new();
    for f in files.iter().chain(&units) {
        let text = std::fs::read_to_string(f).unwrap();
        let is_unit = units.contains(f);
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with('#') {
                continue;
            }
            let line = if is_unit {
                unit_command(line)
            } else {
                line.to_string()
            };
            for (subs, flags) in invocations(&line) {
                in_units += usize::from(is_unit);
                let out = Command::new(&bin)
                    .args(&subs)
                    .arg("--help")
                    .output()
                    .unwrap();
                let help = String::from_utf8_lossy(&out.stdout);
                let at = format!("{}:{}", f.strip_prefix(root).unwrap().display(), n + 1);
                if !out.status.success() || help.contains("\nCommands:") {
                    bad.push(format!(
                        "{at}: `kateskit {}` is not a complete subcommand",
                        subs.join(" ")
                    ));
                    continue;
                }
                for flag in flags {
                    if !help.contains(&format!("{flag} ")) && !help.contains(&format!("{flag}\n")) {
                        bad.push(format!(
                            "{at}: `kateskit {}` has no flag {flag}",
                            subs.join(" ")
                        ));
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    assert!(
        checked >= 5,
        "found only {checked} invocations; the scanner is broken"
    );
    assert!(
        in_units >= 3,
        "found only {in_units} invocations in the unit files; the scanner is broken"
    );
}

#[test]
fn the_scanner_sees_commands_and_flags() {
    let v = invocations("    kateskit image customize --node-config ${x} --in-place $out/image");
    assert_eq!(
        v,
        vec![(
            vec!["image".into(), "customize".into()],
            vec!["--node-config".into(), "--in-place".into()]
        )]
    );
    assert!(invocations("description = \"The kateskit package (agent)\";").is_empty());
    assert_eq!(
        invocations("so `kateskit install` has nothing")[0].0,
        ["install"]
    );
    let unit = unit_command("ExecStart=-@kateskit@ agent health --timeout 10m --json");
    assert_eq!(
        invocations(&unit),
        vec![(
            vec!["agent".into(), "health".into()],
            vec!["--timeout".into(), "--json".into()]
        )]
    );
    assert_eq!(unit_command("Description=runs @kateskit@ agent"), "");
}
