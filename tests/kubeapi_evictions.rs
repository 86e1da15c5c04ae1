//! The STAND-IN Kubernetes API's evictions and PodDisruptionBudgets: the disruption
//! controller's arithmetic and the eviction subresource's answers.

mod upgrade_support;

use std::time::Duration;

use serde_json::json;
use upgrade_support::kubeapi::Timings;
use upgrade_support::probe::{answer, cluster, start};

#[test]
fn evictions_answer_429_while_the_budget_allows_no_disruption() {
    let s = cluster()
        .replica_set("web", "web", 3, &[("app", "web")])
        .pdb_min_available("web", "web", &[("app", "web")], 2)
        .replica_set("db", "db", 2, &[("app", "db")])
        .pdb_max_unavailable("db", "db", &[("app", "db")], 1)
        .daemon_set("kube-system", "svclb", &[("app", "lb")])
        .mirror_pod("kube-system", "kube-vip-s1", "s1")
        // Replacements take long enough that a loaded machine cannot free the budget
        // between two requests of this test.
        .timings(Timings {
            reschedule: Duration::from_millis(1500),
            ..Timings::default()
        });
    let t = start(s);
    let pdb = |ns: &str, name: &str| {
        t.get(&format!(
            "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/{name}"
        ))
        .1["status"]
            .clone()
    };
    let st = pdb("web", "web");
    assert_eq!(
        (
            st["currentHealthy"].as_i64(),
            st["desiredHealthy"].as_i64(),
            st["disruptionsAllowed"].as_i64()
        ),
        (Some(3), Some(2), Some(1)),
        "{st}"
    );
    let pods = |ns: &str| -> Vec<String> {
        t.api
            .pods()
            .into_iter()
            .filter(|p| p.namespace == ns && !p.terminating)
            .map(|p| p.name)
            .collect()
    };
    let web = pods("web");
    assert_eq!(t.evict("web", &web[0]).0, 201);
    // 3 pods, one terminating: 2 healthy, 2 desired, none allowed.
    assert_eq!(pdb("web", "web")["disruptionsAllowed"], 0);
    let (code, body) = t.evict("web", &web[1]);
    assert_eq!(code, 429, "{body}");
    assert_eq!(body["reason"], "TooManyRequests");
    assert_eq!(
        body["message"],
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    assert_eq!(
        body["details"]["causes"][0]["message"],
        "The disruption budget web needs 2 healthy pods and has 2 currently"
    );
    // maxUnavailable 1 of 2 replicas: one at a time as well.
    let db = pods("db");
    assert_eq!(t.evict("db", &db[0]).0, 201);
    assert_eq!(t.evict("db", &db[1]).0, 429);
    // The ReplicaSet's replacement comes up elsewhere and frees the budget again.
    let freed = t.api.wait_for(Duration::from_secs(5), |w| {
        w.pods()
            .iter()
            .filter(|p| p.namespace == "web" && p.ready)
            .count()
            == 3
    });
    assert!(freed, "no replacement: {:?}", t.api.pods());
    assert_eq!(pdb("web", "web")["disruptionsAllowed"], 1);
    assert_eq!(t.evict("web", &web[1]).0, 201);
    assert!(t.api.forbidden_evictions().is_empty());
    // DaemonSet and mirror pods have no budget here, so the API lets them go: the stand-in
    // counts that against the drain.
    let ds = t
        .api
        .pods()
        .into_iter()
        .find(|p| p.owner.as_deref() == Some("DaemonSet"))
        .unwrap();
    assert_eq!(t.evict("kube-system", &ds.name).0, 201);
    assert_eq!(t.evict("kube-system", "kube-vip-s1").0, 201);
    let bad: Vec<String> = t
        .api
        .forbidden_evictions()
        .into_iter()
        .map(|d| d.pod)
        .collect();
    assert_eq!(bad, [ds.name, "kube-vip-s1".to_string()]);
    assert_eq!(t.evict("web", "nope").0, 404);
    let url = format!(
        "{}/api/v1/namespaces/web/pods/{}/eviction",
        t.api.url(),
        web[2]
    );
    let wrong =
        json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "other"}});
    assert_eq!(answer(t.http.post(url).json(&wrong).send().unwrap()).0, 400);
    let (code, l) = t.get("/apis/policy/v1/poddisruptionbudgets");
    assert_eq!((code, l["items"].as_array().unwrap().len()), (200, 2));
}

#[test]
fn percentages_round_up_and_two_budgets_are_an_error() {
    let sel = json!({"matchLabels": {"app": "web"}});
    let s = cluster()
        .replica_set("web", "web", 3, &[("app", "web")])
        .pdb("web", "half", json!({"minAvailable": "50%", "selector": sel}))
        .replica_set("api", "api", 2, &[("app", "api")])
        .pdb("api", "a", json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "api"}}}))
        .pdb("api", "b", json!({"minAvailable": 1, "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["api"]}]}}));
    let t = start(s);
    let st = t
        .get("/apis/policy/v1/namespaces/web/poddisruptionbudgets/half")
        .1["status"]
        .clone();
    // 50% of 3 rounds up to 2 desired.
    assert_eq!(
        (
            st["expectedPods"].as_i64(),
            st["desiredHealthy"].as_i64(),
            st["disruptionsAllowed"].as_i64()
        ),
        (Some(3), Some(2), Some(1))
    );
    let api = t
        .api
        .pods()
        .into_iter()
        .find(|p| p.namespace == "api")
        .unwrap();
    let (code, body) = t.evict("api", &api.name);
    assert_eq!(
        (code, body["reason"].as_str()),
        (500, Some("InternalError")),
        "{body}"
    );
    // An unhealthy pod may go while the budget is met (IfHealthyBudget).
    let web: Vec<_> = t
        .api
        .pods()
        .into_iter()
        .filter(|p| p.namespace == "web")
        .collect();
    t.api.set_pod_ready("web", &web[0].name, false);
    assert_eq!(
        t.get("/apis/policy/v1/namespaces/web/poddisruptionbudgets/half")
            .1["status"]["disruptionsAllowed"],
        0
    );
    assert_eq!(t.evict("web", &web[1].name).0, 429);
    assert_eq!(t.evict("web", &web[0].name).0, 201);
}
