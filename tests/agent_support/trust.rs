//! Helpers shared by the trust-model tests (agent_trust, agent_embed_partition).

use serde_json::Value;

use super::Node;

/// A kernel command line for offline runs (no supervisor to verify against).
pub const NO_JOIN: &str = "console=ttyS0 kateskit.agent.verify_join=false";

/// A file holding an embed area stamped with `cfg`.
pub fn embed_file(cfg: &Value) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    let area = kateskit::image::embed::build_area(262144, Some(&cfg.to_string()), &[]).unwrap();
    std::fs::write(f.path(), area).unwrap();
    f
}

/// A config drive directory holding `kateskit.json`.
pub fn drive(cfg: &Value) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("kateskit.json"), cfg.to_string()).unwrap();
    d
}

/// Runs the agent and insists it succeeded.
pub fn run_ok(n: &Node, env: &[(&str, &str)]) {
    let out = n.run(env);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The status warnings, one a line.
pub fn warnings(n: &Node) -> String {
    n.status()["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}
