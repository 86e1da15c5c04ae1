//! Shared test setup: clusters built from the examples, with secrets generated per test run.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A temp cluster dir holding `examples/<name>/cluster.toml` and freshly generated secrets.
pub fn example_cluster(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        repo().join("examples").join(name).join("cluster.toml"),
        dir.path().join("cluster.toml"),
    )
    .expect("copy example");
    kateskit::pki::init(dir.path()).expect("generate secrets");
    dir
}

pub fn kateskit() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("kateskit").expect("kateskit binary")
}

/// Runs a command and returns stdout, panicking with stderr on failure.
pub fn run(cmd: &mut std::process::Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

pub fn bless() -> bool {
    std::env::var_os("KATESKIT_BLESS").is_some()
}

/// Compares `got` with the golden file at `path`, or rewrites it under KATESKIT_BLESS=1.
pub fn golden(path: &Path, got: &str) {
    if bless() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (regenerate with KATESKIT_BLESS=1 cargo test)",
            path.display()
        )
    });
    assert!(want == got, "{} differs from the rendered output; if the change is intended, regenerate with KATESKIT_BLESS=1 cargo test\n--- got ---\n{got}", path.display());
}
