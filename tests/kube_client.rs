//! `kateskit::kube::Client` against the STAND-IN Kubernetes API (tests/upgrade_support/kubeapi):
//! credentials from a cluster directory or a kubeconfig file, the server CA as the only trust
//! root, merge patches, and API errors carrying the status and the API's message.

mod upgrade_support;

use kateskit::kube::{Access, Client, KubeError};
use serde_json::json;
use upgrade_support::kubeapi::{self, KubeApi, Scenario};

fn api() -> (tempfile::TempDir, KubeApi) {
    let dir = kubeapi::cluster_dir();
    let api = KubeApi::start(
        dir.path(),
        Scenario::new().server("s1", "1.0").agent("a1", "1.0"),
    );
    (dir, api)
}

#[test]
fn a_kubeconfig_from_kateskit_kubeconfig_reaches_the_api() {
    let (dir, api) = api();
    let kc = dir.path().join("kubeconfig");
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("kateskit"))
        .args(["-q", "kubeconfig"])
        .arg(dir.path())
        .arg("-o")
        .arg(&kc)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&kc).unwrap();
    let text: String = text
        .lines()
        .map(|l| match l.trim_start().strip_prefix("server: ") {
            Some(_) => format!("    server: {}", api.url()),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&kc, text).unwrap();
    let c = Client::new(&Access::from_kubeconfig(&kc).unwrap()).unwrap();
    let nodes = c.list("/api/v1/nodes", &[]).unwrap();
    assert_eq!(nodes.len(), 2);
}

#[test]
fn merge_patches_set_and_delete_annotations() {
    let (dir, api) = api();
    let c = Client::new(&Access::from_cluster_dir(dir.path(), Some(&api.url())).unwrap()).unwrap();
    c.merge_patch(
        "/api/v1/nodes/a1",
        &json!({"metadata": {"annotations": {"example.org/x": "1"}}}),
    )
    .unwrap();
    assert_eq!(api.node("a1").annotations["example.org/x"], "1");
    c.merge_patch(
        "/api/v1/nodes/a1",
        &json!({"metadata": {"annotations": {"example.org/x": null}}}),
    )
    .unwrap();
    assert!(!api.node("a1").annotations.contains_key("example.org/x"));
    let r = api.requests();
    let patch = r.iter().find(|r| r.method == "PATCH").unwrap();
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
}

#[test]
fn api_errors_carry_the_status_and_the_api_message() {
    let (dir, api) = api();
    let c = Client::new(&Access::from_cluster_dir(dir.path(), Some(&api.url())).unwrap()).unwrap();
    let e = c.get("/api/v1/nodes/nope").unwrap_err();
    assert_eq!(e.status(), Some(404));
    let text = e.to_string();
    assert!(
        text.contains("HTTP 404 NotFound") && text.contains("nope"),
        "{text}"
    );
}

#[test]
fn another_clusters_ca_is_not_trusted() {
    let (_dir, api) = api();
    let other = kubeapi::cluster_dir();
    let c =
        Client::new(&Access::from_cluster_dir(other.path(), Some(&api.url())).unwrap()).unwrap();
    let e = c.get("/api/v1/nodes").unwrap_err();
    assert!(matches!(e, KubeError::Transport { .. }), "{e}");
    assert_eq!(e.status(), None);
}
