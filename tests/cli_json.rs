//! `--json` on the commands that report: each prints one JSON document on stdout, in the shape
//! docs/cli-cluster.md and docs/agent.md document, with the same outcome as the text form.

use std::path::Path;
use std::process::{Command, Output};

fn kateskit(args: &[&str], env: &[(&str, &Path)]) -> Output {
    Command::new(assert_cmd::cargo::cargo_bin("kateskit"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, *v)))
        .output()
        .unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn cluster_check_json_reports_validity_and_located_findings() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/homelab");
    let out = kateskit(
        &["cluster", "check", "--json", example.to_str().unwrap()],
        &[],
    );
    assert!(out.status.success());
    let v = json(&out);
    assert_eq!(v["valid"], true);
    assert!(v["nodes"].as_u64().unwrap() >= 1, "{v}");
    assert!(v["file"].as_str().unwrap().ends_with("cluster.toml"));
    assert!(v["diagnostics"].is_array());

    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(example.join("cluster.toml")).unwrap();
    std::fs::write(
        dir.path().join("cluster.toml"),
        text.replacen("[cluster]", "[cluster]\nbogus_key = 1", 1),
    )
    .unwrap();
    let out = kateskit(
        &["cluster", "check", "--json", dir.path().to_str().unwrap()],
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "invalid spec exits 1 like the text form"
    );
    let v = json(&out);
    assert_eq!(v["valid"], false);
    assert_eq!(v["nodes"], serde_json::Value::Null);
    let d = &v["diagnostics"].as_array().unwrap()[0];
    assert_eq!(d["severity"], "error");
    assert!(
        d["line"].as_u64().unwrap() > 1 && d["col"].as_u64().unwrap() >= 1,
        "{d}"
    );
    assert!(d["message"].as_str().unwrap().contains("bogus_key"), "{d}");
    assert!(d["fix"].is_string());
}

#[test]
fn cluster_check_json_on_a_missing_file_is_an_error_not_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = kateskit(
        &["cluster", "check", "--json", dir.path().to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cluster.toml"));
}

#[test]
fn cluster_init_json_names_what_it_wrote_and_the_ca_hash_of_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("c");
    let out = kateskit(&["cluster", "init", "--json", d.to_str().unwrap()], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    assert_eq!(v["template_written"], true);
    assert_eq!(
        Path::new(v["cluster_toml"].as_str().unwrap()),
        d.join("cluster.toml")
    );
    assert_eq!(
        Path::new(v["secrets_dir"].as_str().unwrap()),
        d.join("secrets")
    );
    let token = kateskit(&["cluster", "token", d.to_str().unwrap()], &[]);
    let token = String::from_utf8(token.stdout).unwrap();
    let hash = v["ca_hash"].as_str().unwrap();
    assert!(
        token.starts_with(&format!("K10{hash}::")),
        "token pins the reported CA hash"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(token.trim()),
        "no secret printed"
    );
}

#[cfg(feature = "test-hooks")]
#[test]
fn console_autologin_json_matches_the_marker_it_writes() {
    let root = tempfile::tempdir().unwrap();
    let marker = root.path().join("run/kateskit/console-autologin");
    let out = kateskit(
        &["agent", "console-autologin", "--json"],
        &[("KATESKIT_ROOT", root.path())],
    );
    assert!(out.status.success());
    let v = json(&out);
    assert_eq!(v["autologin"], true, "{v}");
    assert!(marker.exists());

    let embed = root.path().join("embed.img");
    std::fs::write(&embed, vec![0x5a; 4096]).unwrap();
    let out = kateskit(
        &["agent", "console-autologin", "--json"],
        &[("KATESKIT_ROOT", root.path()), ("KATESKIT_EMBED", &embed)],
    );
    let v = json(&out);
    assert_eq!(v["autologin"], false, "{v}");
    assert!(
        v["why"].as_str().unwrap().contains("could not be read"),
        "{v}"
    );
    assert!(!marker.exists(), "a refused autologin removes the marker");
}
