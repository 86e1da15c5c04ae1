//! The STAND-IN Kubernetes API (tests/upgrade_support/kubeapi) tested on its own: it is only
//! worth testing the orchestrator against if it refuses what the real API refuses.

mod upgrade_support;

use std::time::Duration;

use serde_json::{json, Value};
use upgrade_support::kubeapi::{self, KubeApi, Scenario};

fn three_servers() -> Scenario {
    Scenario::new()
        .server("s1", "1.0")
        .server("s2", "1.0")
        .server("s3", "1.0")
        .agent("a1", "1.0")
}

#[test]
fn requests_without_an_admin_client_certificate_get_401() {
    let c = kubeapi::cluster_dir();
    let api = KubeApi::start(c.path(), three_servers());
    let r = api
        .client(None)
        .get(format!("{}/api/v1/nodes", api.url()))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().unwrap();
    assert_eq!(body["reason"], "Unauthorized", "{body}");
    let r = api
        .admin_client()
        .get(format!("{}/api/v1/nodes", api.url()))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().unwrap();
    assert_eq!(body["items"].as_array().unwrap().len(), 4, "{body}");
    let _ = (json!({}), Duration::ZERO);
}
