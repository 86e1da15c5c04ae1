//! Real shells load the completion scripts `kateskit generate completions` prints, and
//! completing each level offers every subcommand `--help` lists. bash is always there; zsh and
//! fish are skipped, saying so, where they are not installed (tests/debian-packages.txt).

mod cli_help;

use std::path::Path;
use std::process::Command;

fn script(dir: &Path, shell: &str) -> std::path::PathBuf {
    let text = cli_help::run(&["generate", "completions", "--shell", shell]);
    assert!(!text.is_empty(), "{shell}: empty script");
    let path = dir.join(format!("kateskit.{shell}"));
    std::fs::write(&path, text).unwrap();
    path
}

fn have(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok();
    if !found {
        eprintln!("skipping {tool}: not installed (Debian package {tool}; tests/run installs it)");
    }
    found
}

/// Output of `SHELL ARGS...` (stdout), asserting success.
fn shell(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What bash's completion function offers after `kateskit WORDS... <TAB>`.
fn bash_candidates(script: &Path, words: &[String]) -> Vec<String> {
    let prev = words.last().map(String::as_str).unwrap_or("kateskit");
    let body = format!(
        r#"source "$1" || exit 1
COMP_WORDS=(kateskit {words} "")
COMP_CWORD={cword}
COMP_LINE="${{COMP_WORDS[*]}}"
COMP_POINT=${{#COMP_LINE}}
_kateskit kateskit "" {prev}
printf '%s\n' "${{COMPREPLY[@]}}""#,
        words = words.join(" "),
        cword = words.len() + 1,
    );
    let out = shell(
        Command::new("bash")
            .args(["--norc", "-c", &body, "bash"])
            .arg(script),
    );
    out.lines().map(str::to_string).collect()
}

#[test]
fn bash_loads_the_script_and_completes_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let path = script(dir.path(), "bash");
    shell(Command::new("bash").arg("-n").arg(&path));
    let spec = shell(
        Command::new("bash")
            .args([
                "--norc",
                "-c",
                r#"source "$1" && complete -p kateskit"#,
                "bash",
            ])
            .arg(&path),
    );
    assert!(
        spec.contains("-F _kateskit") && spec.trim_end().ends_with(" kateskit"),
        "{spec}"
    );

    let mut levels = vec![Vec::new()];
    levels.extend(cli_help::all_paths());
    let mut checked = 0;
    for path_words in levels {
        let want = cli_help::children(&path_words);
        if want.is_empty() {
            continue;
        }
        let got = bash_candidates(&path, &path_words);
        for w in &want {
            assert!(
                got.contains(w),
                "kateskit {path_words:?} <TAB>: {w} missing from {got:?}"
            );
        }
        checked += 1;
    }
    assert!(
        checked >= 2,
        "the root and at least one command group were completed"
    );
}

#[test]
fn zsh_parses_the_script() {
    if !have("zsh") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = script(dir.path(), "zsh");
    assert!(std::fs::read_to_string(&path)
        .unwrap()
        .starts_with("#compdef kateskit"));
    shell(Command::new("zsh").arg("-n").arg(&path));
}

#[test]
fn fish_loads_the_script_and_completes_every_subcommand() {
    if !have("fish") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = script(dir.path(), "fish");
    shell(Command::new("fish").arg("--no-execute").arg(&path));
    let fish = |line: &str| {
        let body = format!("source {}; complete -C '{line}'", path.display());
        let out = shell(
            Command::new("fish")
                .args(["--no-config", "-c", &body])
                .env("HOME", dir.path())
                .env("XDG_CONFIG_HOME", dir.path().join("config"))
                .env("XDG_DATA_HOME", dir.path().join("data")),
        );
        out.lines()
            .map(|l| l.split('\t').next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    for words in [
        vec![],
        vec!["cluster".to_string()],
        vec!["image".to_string()],
    ] {
        let got = fish(&format!(
            "kateskit {}",
            words.iter().map(|w| format!("{w} ")).collect::<String>()
        ));
        for w in cli_help::children(&words) {
            assert!(
                got.contains(&w),
                "fish: kateskit {words:?} <TAB>: {w} missing from {got:?}"
            );
        }
    }
}

#[test]
fn an_unknown_shell_is_refused_with_the_choices() {
    let out = Command::new(cli_help::kateskit())
        .args(["generate", "completions", "--shell", "tcsh"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bash") && err.contains("zsh") && err.contains("fish"),
        "{err}"
    );
}
