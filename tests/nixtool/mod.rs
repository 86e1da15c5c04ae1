//! Runs Debian's `nix-instantiate` for the Nix evaluation tier: as root on a fresh machine, with
//! a private state directory and no build users, so no Nix daemon or /nix setup is needed.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root (where flake.nix lives).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A `nix-instantiate` command isolated from the host's Nix state, or None (with the reason
/// printed) when the tool is not installed.
pub fn nix_instantiate(state: &Path) -> Option<Command> {
    let found = Command::new("nix-instantiate").arg("--version").output();
    match found {
        Ok(o) if o.status.success() => {}
        _ => {
            eprintln!("skipping: nix-instantiate not found (Debian package nix-bin; tests/run installs it)");
            return None;
        }
    }
    let mut c = Command::new("nix-instantiate");
    c.env("NIX_STATE_DIR", state.join("state"))
        .env("NIX_LOG_DIR", state.join("log"))
        .env("XDG_CACHE_HOME", state.join("cache"))
        .env("NIX_CONFIG", "build-users-group =")
        .env_remove("NIX_PATH")
        .args(["--option", "build-users-group", ""]);
    Some(c)
}

/// Evaluates a Nix expression strictly and parses its JSON result. Panics with Nix's stderr
/// when evaluation fails, since every caller expects success.
pub fn eval_json(state: &Path, expr: &str) -> Option<serde_json::Value> {
    let out = eval_raw(state, expr)?;
    assert!(
        out.status.success(),
        "nix-instantiate --eval failed for {expr}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("nix-instantiate --json printed JSON"))
}

/// Evaluates a Nix expression strictly; the caller inspects status and stderr.
pub fn eval_raw(state: &Path, expr: &str) -> Option<std::process::Output> {
    let mut c = nix_instantiate(state)?;
    c.current_dir(repo())
        .args(["--eval", "--strict", "--json", "-E", expr]);
    Some(c.output().expect("running nix-instantiate"))
}

/// Nix string literal for a path (quotes and `${` escaped).
pub fn nix_str(p: &Path) -> String {
    let s = p.display().to_string();
    format!(
        "\"{}\"",
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace("${", "\\${")
    )
}
pub mod lex;
pub mod parse;
