//! Nix evaluation tier plus real shell: nix/package.nix's `postInstall` is taken from the file by
//! evaluating it with stand-ins for `lib`, `stdenv` and `rustPlatform` (`buildRustPackage`
//! returns its attributes), then run with bash against the built binary as `$out/bin/kateskit`
//! and stand-ins for nixpkgs' `installShellCompletion`/`installManPage` that install where the
//! installShellFiles hook documents (share/bash-completion/completions/NAME.bash,
//! share/zsh/site-functions/_NAME, share/fish/vendor_completions.d/NAME.fish,
//! share/man/manN/). What runs is the package's own script text.

mod cli_help;
mod nixtool;

use std::path::Path;
use std::process::Command;

fn package(state: &Path, can_execute: bool) -> Option<serde_json::Value> {
    let expr = format!(
        r#"let
  lib = {{ fileset = {{ toSource = a: null; unions = x: x; }}; licenses.asl20 = null;
          platforms.linux = null; optionalString = c: s: if c then s else ""; }};
  stdenv = {{ buildPlatform.canExecute = p: {can_execute}; hostPlatform = {{ }}; }};
  rustPlatform = {{ buildRustPackage = a: a; bindgenHook = "bindgenHook"; }};
  p = import ./nix/package.nix {{ inherit lib stdenv rustPlatform; pkg-config = "pkg-config";
        util-linux = "util-linux"; installShellFiles = "installShellFiles"; }};
in {{ postInstall = p.postInstall or ""; nativeBuildInputs = p.nativeBuildInputs; }}"#
    );
    nixtool::eval_json(state, &expr)
}

/// Stand-ins for the installShellFiles hook's two functions, as its documentation describes
/// them (`--cmd NAME`, a shell flag before each named fd, man pages by section suffix).
const HOOK: &str = r#"
installShellCompletion() {
  local cmd='' shell='' f dir name
  while [ $# -gt 0 ]; do
    case "$1" in
      --cmd) cmd=$2; shift 2; continue;;
      --bash|--zsh|--fish) shell=${1#--}; shift; continue;;
    esac
    case "$shell" in
      bash) dir=bash-completion/completions; name=$cmd.bash;;
      zsh) dir=zsh/site-functions; name=_$cmd;;
      fish) dir=fish/vendor_completions.d; name=$cmd.fish;;
      *) echo "no shell flag before $1" >&2; return 1;;
    esac
    [ -n "$cmd" ] || { echo "a named fd needs --cmd" >&2; return 1; }
    mkdir -p "$out/share/$dir" && cat "$1" > "$out/share/$dir/$name" || return 1
    [ -s "$out/share/$dir/$name" ] || { echo "empty $name" >&2; return 1; }
    shift
  done
}
installManPage() {
  local f sec
  for f in "$@"; do
    sec=${f##*.}
    [ "$sec" != "$f" ] || { echo "no section suffix: $f" >&2; return 1; }
    install -D -m 644 "$f" "$out/share/man/man$sec/$(basename "$f")" || return 1
  done
}
set -euo pipefail
"#;

#[test]
fn post_install_installs_completions_and_one_man_page_per_subcommand() {
    let state = tempfile::tempdir().unwrap();
    let Some(pkg) = package(state.path(), true) else {
        return;
    };
    let inputs = pkg["nativeBuildInputs"].as_array().unwrap();
    assert!(
        inputs.iter().any(|i| i == "installShellFiles"),
        "{inputs:?}"
    );
    let script = pkg["postInstall"].as_str().unwrap();
    assert!(!script.trim().is_empty(), "postInstall is set");

    let out = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(out.path().join("bin")).unwrap();
    std::os::unix::fs::symlink(cli_help::kateskit(), out.path().join("bin/kateskit")).unwrap();
    let build = tempfile::tempdir().unwrap();
    let run = Command::new("bash")
        .arg("-c")
        .arg(format!("{HOOK}\n{script}"))
        .current_dir(build.path())
        .env("out", out.path())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "postInstall: {}",
        String::from_utf8_lossy(&run.stderr)
    );

    let share = out.path().join("share");
    let bash = share.join("bash-completion/completions/kateskit.bash");
    let loaded = Command::new("bash")
        .args([
            "--norc",
            "-c",
            r#"source "$1" && complete -p kateskit"#,
            "bash",
        ])
        .arg(&bash)
        .output()
        .unwrap();
    assert!(
        loaded.status.success(),
        "{}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    let zsh = std::fs::read_to_string(share.join("zsh/site-functions/_kateskit")).unwrap();
    assert!(zsh.starts_with("#compdef kateskit"));
    let fish =
        std::fs::read_to_string(share.join("fish/vendor_completions.d/kateskit.fish")).unwrap();
    assert!(fish.contains("complete -c kateskit"));

    let pages = std::fs::read_dir(share.join("man/man1")).unwrap().count();
    assert_eq!(
        pages,
        cli_help::all_paths().len() + 1,
        "kateskit.1 plus one per subcommand"
    );
}

#[test]
fn a_cross_build_does_not_run_the_binary() {
    let state = tempfile::tempdir().unwrap();
    let Some(pkg) = package(state.path(), false) else {
        return;
    };
    assert_eq!(pkg["postInstall"], "");
}
