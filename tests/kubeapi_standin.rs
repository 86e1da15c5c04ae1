//! The STAND-IN Kubernetes API (tests/upgrade_support/kubeapi) tested on its own: the
//! orchestrator's tests are only worth as much as its refusals, so each is shown here.

mod upgrade_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{CertificateParams, DnType, KeyPair};
use serde_json::{json, Value};
use upgrade_support::kubeapi::{self, Fault, KubeApi, Scenario, REQUEST, STATUS};

const MERGE: &str = "application/merge-patch+json";
const SUMS: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn cluster() -> Scenario {
    Scenario::new()
        .server("s1", "1.0")
        .server("s2", "1.0")
        .server("s3", "1.0")
        .agent("a1", "1.0")
}

struct T {
    api: KubeApi,
    http: reqwest::blocking::Client,
    _dir: tempfile::TempDir,
}

fn start(s: Scenario) -> T {
    let dir = kubeapi::cluster_dir();
    let api = KubeApi::start(dir.path(), s);
    let http = api.admin_client();
    T {
        api,
        http,
        _dir: dir,
    }
}

fn answer(r: reqwest::blocking::Response) -> (u16, Value) {
    let code = r.status().as_u16();
    let text = r.text().unwrap();
    (
        code,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

impl T {
    fn get(&self, path: &str) -> (u16, Value) {
        answer(
            self.http
                .get(format!("{}{path}", self.api.url()))
                .send()
                .unwrap(),
        )
    }

    fn patch(&self, node: &str, ctype: &str, body: &Value) -> (u16, Value) {
        let url = format!("{}/api/v1/nodes/{node}", self.api.url());
        let r = self
            .http
            .patch(url)
            .header("content-type", ctype)
            .body(body.to_string());
        answer(r.send().unwrap())
    }

    fn evict(&self, ns: &str, pod: &str) -> (u16, Value) {
        let url = format!(
            "{}/api/v1/namespaces/{ns}/pods/{pod}/eviction",
            self.api.url()
        );
        let body = json!({"apiVersion": "policy/v1", "kind": "Eviction",
            "metadata": {"name": pod, "namespace": ns}});
        answer(self.http.post(url).json(&body).send().unwrap())
    }

    /// Sets the rollout request annotation as the orchestrator does.
    fn request(&self, node: &str, action: &str, version: &str) {
        let req = json!({"rollout": "r1", "version": version, "source": "https://127.0.0.1:1/rel/",
            "sums_sha256": SUMS, "action": action});
        let patch = json!({"metadata": {"annotations": {REQUEST: req.to_string()}}});
        assert_eq!(self.patch(node, MERGE, &patch).0, 200);
    }

    /// The node's parsed status annotation, polled over HTTP until `pred` holds (at most 5 s).
    fn status_until(&self, node: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let t0 = Instant::now();
        loop {
            let (_, n) = self.get(&format!("/api/v1/nodes/{node}"));
            let st = n["metadata"]["annotations"][STATUS]
                .as_str()
                .and_then(|s| serde_json::from_str(s).ok());
            if let Some(st) = st.filter(|s| pred(s)) {
                return st;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "{node}: status never matched; last {n}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn ready(node: &Value) -> String {
    let c = node["status"]["conditions"].as_array().unwrap();
    let r = c.iter().find(|c| c["type"] == "Ready").unwrap();
    r["status"].as_str().unwrap().to_string()
}

/// A certificate and key signed by `ca_cert`/`ca_key` PEM with subject CN `cn`, O `org`.
fn client_cert(ca_cert: &str, ca_key: &str, cn: &str, org: &str) -> (String, String) {
    let ca_key = kateskit::pki::keyfmt::key_pair(ca_key).unwrap();
    let ca = CertificateParams::from_ca_cert_pem(ca_cert)
        .unwrap()
        .self_signed(&ca_key)
        .unwrap();
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.distinguished_name.push(DnType::OrganizationName, org);
    let cert = p.signed_by(&key, &ca, &ca_key).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[test]
fn only_an_admin_certificate_from_the_client_ca_is_let_in() {
    let t = start(cluster());
    let tls = t._dir.path().join("secrets/tls");
    let read = |f: &str| std::fs::read_to_string(tls.join(f)).unwrap();
    let url = format!("{}/api/v1/nodes", t.api.url());
    let code = |c: reqwest::blocking::Client| answer(c.get(&url).send().unwrap());
    let (status, body) = code(t.api.client(None));
    assert_eq!(
        (status, body["reason"].as_str()),
        (401, Some("Unauthorized")),
        "{body}"
    );
    // system:masters, but issued by the server CA rather than the client CA.
    let wrong_ca = client_cert(
        &read("server-ca.crt"),
        &read("server-ca.key"),
        "kateskit-admin",
        "system:masters",
    );
    assert_eq!(code(t.api.client(Some((&wrong_ca.0, &wrong_ca.1)))).0, 401);
    // The client CA, but not the admin group: authenticated, not authorised.
    let plain = client_cert(
        &read("client-ca.crt"),
        &read("client-ca.key"),
        "someone",
        "staff",
    );
    let (status, body) = code(t.api.client(Some((&plain.0, &plain.1))));
    assert_eq!(
        (status, body["reason"].as_str()),
        (403, Some("Forbidden")),
        "{body}"
    );
    let (status, body) = t.get("/api/v1/nodes");
    assert_eq!(status, 200);
    let names: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a1", "s1", "s2", "s3"]);
    let log = t.api.requests();
    assert_eq!(
        log.iter().map(|r| r.status).collect::<Vec<_>>(),
        [401, 401, 403, 200]
    );
    assert_eq!(log[3].user, "kateskit-admin");
    assert_eq!(t.get("/readyz"), (200, json!("ok")));
    assert_eq!(t.get("/version").1["gitVersion"], "v1.31.4+k3s1");
    assert_eq!(t.get("/api/v1/secrets").0, 404);
}

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
fn evictions_answer_429_while_the_budget_allows_no_disruption() {
    let s = cluster()
        .replica_set("web", "web", 3, &[("app", "web")])
        .pdb_min_available("web", "web", &[("app", "web")], 2)
        .replica_set("db", "db", 2, &[("app", "db")])
        .pdb_max_unavailable("db", "db", &[("app", "db")], 1)
        .daemon_set("kube-system", "svclb", &[("app", "lb")])
        .mirror_pod("kube-system", "kube-vip-s1", "s1");
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

#[test]
fn a_node_fetches_stages_and_reboots_into_the_new_version() {
    let t = start(cluster());
    let (_, n0) = t.get("/api/v1/nodes/a1");
    let boot0 = n0["status"]["nodeInfo"]["bootID"]
        .as_str()
        .unwrap()
        .to_string();
    t.request("a1", "fetch", "2.0");
    let st = t.status_until("a1", |s| s["action"] == "fetch" && s["state"] != "running");
    assert_eq!(
        (
            st["state"].as_str(),
            st["rollout"].as_str(),
            st["target"].as_str()
        ),
        (Some("done"), Some("r1"), Some("2.0")),
        "{st}"
    );
    t.request("a1", "stage", "2.0");
    let st = t.status_until("a1", |s| s["action"] == "stage" && s["state"] != "running");
    assert_eq!(
        (st["state"].as_str(), st["version"].as_str()),
        (Some("done"), Some("1.0")),
        "{st}"
    );
    assert_eq!(t.api.node("a1").staged.as_deref(), Some("2.0"));
    t.request("a1", "reboot", "2.0");
    // Down: Ready goes Unknown (the node monitor), then the node is back with a new bootID.
    let t0 = Instant::now();
    let mut seen = Vec::new();
    let back = loop {
        let (_, n) = t.get("/api/v1/nodes/a1");
        if n["status"]["nodeInfo"]["bootID"] != boot0.as_str() {
            break n;
        }
        let r = ready(&n);
        if seen.last() != Some(&r) {
            seen.push(r);
        }
        assert!(t0.elapsed() < Duration::from_secs(5), "never rebooted: {n}");
        std::thread::sleep(Duration::from_millis(15));
    };
    assert_eq!(seen, ["True", "Unknown"], "Ready before the new boot");
    assert_eq!(ready(&back), "True");
    let st = t.status_until("a1", |s| s["action"] == "boot" && s["state"] != "running");
    assert_eq!(
        (
            st["state"].as_str(),
            st["version"].as_str(),
            st["rollout"].as_str()
        ),
        (Some("done"), Some("2.0"), Some("r1")),
        "{st}"
    );
    let v = t.api.node("a1");
    assert_eq!((v.version.as_str(), v.boots, v.staged), ("2.0", 1, None));
    // The same request stays on the node: taken up once, no second reboot.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(t.api.node("a1").boots, 1);
    // Staging the running version is a no-op.
    t.request("a1", "stage", "2.0");
    let st = t.status_until("a1", |s| s["action"] == "stage");
    assert_eq!(
        (st["state"].as_str(), st["message"].as_str()),
        (Some("done"), Some("already running 2.0"))
    );
    assert_eq!(t.api.node("a1").staged, None);
}

#[test]
fn injected_faults_fail_the_step_or_roll_the_node_back() {
    let t = start(
        cluster()
            .agent("a2", "1.0")
            .agent("a3", "1.0")
            .agent("a4", "1.0")
            .agent("a5", "1.0"),
    );
    t.api.inject("a1", Fault::FetchHashMismatch);
    t.api.inject("a2", Fault::GateFails);
    t.api.inject("a3", Fault::NeverReturns);
    t.api.inject("a4", Fault::StageFails);
    t.api.inject("a5", Fault::BootPanics);
    t.request("a1", "fetch", "2.0");
    let st = t.status_until("a1", |s| s["action"] == "fetch" && s["state"] != "running");
    assert_eq!(st["state"], "failed");
    assert!(
        st["message"].as_str().unwrap().contains("sha256 mismatch"),
        "{st}"
    );
    t.request("a4", "stage", "2.0");
    assert_eq!(
        t.status_until("a4", |s| s["action"] == "stage" && s["state"] != "running")["state"],
        "failed"
    );
    assert_eq!(t.api.node("a4").staged, None);
    for n in ["a2", "a3", "a5"] {
        t.request(n, "stage", "2.0");
        t.status_until(n, |s| s["action"] == "stage" && s["state"] == "done");
        t.request(n, "reboot", "2.0");
    }
    // Gate fails: one failed boot of 2.0, then back on 1.0 reporting the rollback.
    let failed = t.status_until("a2", |s| s["action"] == "boot" && s["state"] == "failed");
    assert_eq!(failed["version"], "2.0");
    let st = t.status_until("a2", |s| s["state"] == "rolled-back");
    assert_eq!(
        (st["version"].as_str(), st["target"].as_str()),
        (Some("1.0"), Some("2.0")),
        "{st}"
    );
    let v = t.api.node("a2");
    assert_eq!((v.version.as_str(), v.boots, v.ready), ("1.0", 2, true));
    // A kernel panic: no report from 2.0, back on 1.0 after one visible boot.
    let st = t.status_until("a5", |s| s["state"] == "rolled-back");
    assert_eq!(st["version"], "1.0");
    assert_eq!(t.api.node("a5").boots, 1);
    // Never comes back: Ready stays Unknown, the bootID stays the old one.
    let a3 = t.api.node("a3");
    assert!(!a3.ready && a3.boots == 0, "{a3:?}");
    // A request the watcher cannot read is reported, not acted on.
    let bad = json!({"metadata": {"annotations": {REQUEST: "{\"action\":\"reboot\"}"}}});
    t.patch("s1", MERGE, &bad);
    let st = t.status_until("s1", |s| s["state"] == "failed");
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid upgrade.kateskit.io/request"),
        "{st}"
    );
    assert_eq!(t.api.node("s1").boots, 0);
}

#[test]
fn a_hook_runs_before_the_request_that_set_it_off_is_answered() {
    let t = start(cluster());
    let fired_at = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let f = fired_at.clone();
    let h = t.api.when("s2 cordoned", kubeapi::cordoned("s2"), move || {
        std::thread::sleep(Duration::from_millis(200));
        *f.lock().unwrap() = Some(Instant::now());
    });
    assert!(!h.fired());
    t.patch("s1", MERGE, &json!({"spec": {"unschedulable": true}}));
    assert!(!h.fired(), "another node's cordon");
    t.patch("s2", MERGE, &json!({"spec": {"unschedulable": true}}));
    let answered = Instant::now();
    assert!(h.fired());
    assert!(
        fired_at.lock().unwrap().unwrap() <= answered,
        "the hook ran before the answer"
    );
    // Hooks on the simulator's steps fire too.
    let rebooted = Arc::new(AtomicBool::new(false));
    let r = rebooted.clone();
    t.api.when(
        "s3 back",
        |w| w.node("s3").boots == 1,
        move || r.store(true, Ordering::SeqCst),
    );
    t.request("s3", "reboot", "1.0");
    assert!(t
        .api
        .wait_for(Duration::from_secs(5), |_| rebooted.load(Ordering::SeqCst)));
    assert_eq!(
        t.api.node("s3").version,
        "1.0",
        "a reboot with nothing staged keeps the version"
    );
}
