//! The STAND-IN Kubernetes API (tests/upgrade_support/kubeapi) tested on its own: the
//! orchestrator's tests are only worth as much as its refusals, so each is shown here. Its
//! authentication: tests/kubeapi_auth.rs; evictions and PDBs: tests/kubeapi_evictions.rs; its
//! node simulator and hooks: tests/kubeapi_simulator.rs.

mod upgrade_support;

use serde_json::{json, Value};
use upgrade_support::kubeapi::{Scenario, STATUS};
use upgrade_support::probe::{cluster, ready, start, MERGE};

#[test]
fn servers_carry_the_k3s_role_labels_and_a_boot_id() {
    let t = start(cluster().server("cp", "1.0").no_etcd("cp"));
    let (_, s1) = t.get("/api/v1/nodes/s1");
    let labels = &s1["metadata"]["labels"];
    assert_eq!(labels["node-role.kubernetes.io/control-plane"], "true");
    assert_eq!(labels["node-role.kubernetes.io/etcd"], "true");
    assert_eq!(ready(&s1), "True");
    assert_eq!(
        s1["status"]["nodeInfo"]["bootID"].as_str().unwrap().len(),
        36
    );
    let (_, cp) = t.get("/api/v1/nodes/cp");
    assert_eq!(
        cp["metadata"]["labels"]["node-role.kubernetes.io/control-plane"],
        "true"
    );
    assert!(cp["metadata"]["labels"]
        .get("node-role.kubernetes.io/etcd")
        .is_none());
    let (_, a1) = t.get("/api/v1/nodes/a1");
    assert!(a1["metadata"]["labels"]
        .get("node-role.kubernetes.io/control-plane")
        .is_none());
    let st: Value =
        serde_json::from_str(a1["metadata"]["annotations"][STATUS].as_str().unwrap()).unwrap();
    assert_eq!(
        (
            st["action"].as_str(),
            st["state"].as_str(),
            st["version"].as_str()
        ),
        (Some("boot"), Some("done"), Some("1.0"))
    );
    assert_eq!(t.get("/api/v1/nodes/nope").1["reason"], "NotFound");
}

#[test]
fn merge_patches_set_and_delete_annotations_and_bump_the_resource_version() {
    let t = start(cluster());
    let (_, before) = t.get("/api/v1/nodes/a1");
    let rv0: u64 = before["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let set = json!({"metadata": {"annotations": {"upgrade.kateskit.io/cordoned-by": "r1"}}, "spec": {"unschedulable": true}});
    let (code, n) = t.patch("a1", MERGE, &set);
    assert_eq!(code, 200, "{n}");
    let rv1: u64 = n["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv1 > rv0);
    assert_eq!(n["spec"]["unschedulable"], true);
    assert_eq!(
        n["spec"]["taints"][0]["key"],
        "node.kubernetes.io/unschedulable"
    );
    assert_eq!(
        n["metadata"]["annotations"]["upgrade.kateskit.io/cordoned-by"],
        "r1"
    );
    assert!(
        n["metadata"]["annotations"][STATUS].is_string(),
        "other annotations are kept"
    );
    // The same patch again changes nothing: no new resourceVersion.
    let (_, again) = t.patch("a1", MERGE, &set);
    assert_eq!(
        again["metadata"]["resourceVersion"],
        n["metadata"]["resourceVersion"]
    );
    // A stale resourceVersion is a failed precondition.
    let stale =
        json!({"metadata": {"resourceVersion": rv0.to_string(), "annotations": {"x": "y"}}});
    assert_eq!(t.patch("a1", MERGE, &stale).1["reason"], "Conflict");
    // null deletes; strategic merge patch does the same for maps and scalars.
    let unset = json!({"metadata": {"annotations": {"upgrade.kateskit.io/cordoned-by": null}}, "spec": {"unschedulable": null}});
    let (code, n) = t.patch("a1", "application/strategic-merge-patch+json", &unset);
    assert_eq!(code, 200, "{n}");
    assert!(
        n["metadata"]["annotations"]
            .get("upgrade.kateskit.io/cordoned-by")
            .is_none(),
        "{n}"
    );
    assert!(
        n["spec"].get("unschedulable").is_none() && n["spec"].get("taints").is_none(),
        "{n}"
    );
    assert!(!t.api.node("a1").unschedulable);
    assert!(t.api.node("a1").annotations.contains_key(STATUS));
    // What the real API refuses.
    let a = |v: Value| json!({"metadata": {"annotations": v}});
    let cases = [
        (
            "application/json",
            a(json!({"x": "y"})),
            415,
            "UnsupportedMediaType",
        ),
        (
            "application/json-patch+json",
            json!([]),
            415,
            "UnsupportedMediaType",
        ),
        (MERGE, a(json!({"x": 1})), 400, "BadRequest"),
        (MERGE, a(json!({"-bad-": "y"})), 422, "Invalid"),
        (
            MERGE,
            json!({"spec": {"unschedulable": "yes"}}),
            400,
            "BadRequest",
        ),
        (
            MERGE,
            json!({"spec": {"podCIDR": "10.0.0.0/24"}}),
            422,
            "Invalid",
        ),
        (
            MERGE,
            json!({"metadata": {"name": "other"}}),
            422,
            "Invalid",
        ),
        (
            "application/strategic-merge-patch+json",
            a(json!({"$patch": "replace"})),
            400,
            "BadRequest",
        ),
    ];
    let rv = t.api.node("a1").resource_version;
    for (ctype, body, want, reason) in cases {
        let (code, out) = t.patch("a1", ctype, &body);
        assert_eq!(
            (code, out["reason"].as_str()),
            (want, Some(reason)),
            "{ctype} {body}: {out}"
        );
        assert_eq!(out["kind"], "Status");
    }
    assert_eq!(
        t.api.node("a1").resource_version,
        rv,
        "refused patches change nothing"
    );
    assert_eq!(t.patch("nope", MERGE, &a(json!({}))).0, 404);
    let log = t.api.requests();
    let last = log
        .iter()
        .rev()
        .find(|r| r.method == "PATCH" && r.status == 200)
        .unwrap();
    assert!(
        last.body.contains("cordoned-by")
            && last.content_type.as_deref() == Some("application/strategic-merge-patch+json")
    );
}

#[test]
fn field_selectors_pick_the_pods_of_a_node() {
    let t = start(
        cluster()
            .replica_set("web", "web", 4, &[("app", "web")])
            .daemon_set("kube-system", "svclb", &[("app", "lb")]),
    );
    let (code, l) = t.get("/api/v1/pods?fieldSelector=spec.nodeName%3Ds1");
    assert_eq!(code, 200, "{l}");
    let items = l["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "one web pod and one DaemonSet pod: {l}");
    assert!(items
        .iter()
        .all(|p| p["spec"]["nodeName"] == "s1" && p.get("kind").is_none()));
    let (_, l) =
        t.get("/api/v1/namespaces/web/pods?fieldSelector=spec.nodeName=s1&labelSelector=app%3Dweb");
    assert_eq!(l["items"].as_array().unwrap().len(), 1);
    let (code, e) = t.get("/api/v1/pods?fieldSelector=spec.color%3Dred");
    assert_eq!(
        (code, e["reason"].as_str()),
        (400, Some("BadRequest")),
        "{e}"
    );
    let ds = &t.get("/api/v1/namespaces/kube-system/pods").1["items"][0];
    assert_eq!(ds["metadata"]["ownerReferences"][0]["kind"], "DaemonSet");
    assert_eq!(
        t.get("/api/v1/namespaces/web/pods/nope").1["reason"],
        "NotFound"
    );
}

#[test]
fn a_scenario_from_the_cluster_spec_has_its_nodes_and_roles() {
    let dir = upgrade_support::kubeapi::cluster_dir();
    let t = start(Scenario::from_cluster(dir.path(), "1.0"));
    let (_, l) = t.get("/api/v1/nodes?labelSelector=node-role.kubernetes.io/etcd%3Dtrue");
    let names: Vec<&str> = l["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["s1", "s2", "s3"], "examples/rack's servers");
    let (_, l) = t.get("/api/v1/nodes?labelSelector=!node-role.kubernetes.io/control-plane");
    assert_eq!(
        l["items"].as_array().unwrap().len(),
        4,
        "examples/rack's agents: {l}"
    );
    assert!(t.api.nodes().iter().all(|n| n.version == "1.0" && n.ready));
}
