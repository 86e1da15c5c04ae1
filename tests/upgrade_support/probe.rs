//! A small client of the stand-in API for tests: GET, PATCH, evictions and rollout requests
//! over HTTPS with the admin certificate, answers as (status, JSON).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::kubeapi::{self, KubeApi, Scenario, REQUEST, STATUS};

pub const MERGE: &str = "application/merge-patch+json";
pub const SUMS: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

pub fn cluster() -> Scenario {
    Scenario::new()
        .server("s1", "1.0")
        .server("s2", "1.0")
        .server("s3", "1.0")
        .agent("a1", "1.0")
}

/// The stand-in, an admin client, and the cluster directory they use.
pub struct T {
    pub api: KubeApi,
    pub http: reqwest::blocking::Client,
    pub dir: tempfile::TempDir,
}

pub fn start(s: Scenario) -> T {
    let dir = kubeapi::cluster_dir();
    let api = KubeApi::start(dir.path(), s);
    let http = api.admin_client();
    T { api, http, dir }
}

pub fn answer(r: reqwest::blocking::Response) -> (u16, Value) {
    let code = r.status().as_u16();
    let text = r.text().unwrap();
    (
        code,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

impl T {
    pub fn get(&self, path: &str) -> (u16, Value) {
        answer(
            self.http
                .get(format!("{}{path}", self.api.url()))
                .send()
                .unwrap(),
        )
    }

    pub fn patch(&self, node: &str, ctype: &str, body: &Value) -> (u16, Value) {
        let url = format!("{}/api/v1/nodes/{node}", self.api.url());
        let r = self
            .http
            .patch(url)
            .header("content-type", ctype)
            .body(body.to_string());
        answer(r.send().unwrap())
    }

    pub fn evict(&self, ns: &str, pod: &str) -> (u16, Value) {
        let url = format!(
            "{}/api/v1/namespaces/{ns}/pods/{pod}/eviction",
            self.api.url()
        );
        let body = json!({"apiVersion": "policy/v1", "kind": "Eviction",
            "metadata": {"name": pod, "namespace": ns}});
        answer(self.http.post(url).json(&body).send().unwrap())
    }

    /// Sets the rollout request annotation as the orchestrator does.
    pub fn request(&self, node: &str, action: &str, version: &str) {
        let req = json!({"rollout": "r1", "version": version, "source": "https://127.0.0.1:1/rel/",
            "sums_sha256": SUMS, "action": action});
        let patch = json!({"metadata": {"annotations": {REQUEST: req.to_string()}}});
        assert_eq!(self.patch(node, MERGE, &patch).0, 200);
    }

    /// The node's parsed status annotation, polled over HTTP until `pred` holds (at most 5 s).
    pub fn status_until(&self, node: &str, pred: impl Fn(&Value) -> bool) -> Value {
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

pub fn ready(node: &Value) -> String {
    let c = node["status"]["conditions"].as_array().unwrap();
    let r = c.iter().find(|c| c["type"] == "Ready").unwrap();
    r["status"].as_str().unwrap().to_string()
}
