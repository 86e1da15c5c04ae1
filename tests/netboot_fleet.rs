//! The netboot control plane (docs/netboot.md "Configs and approval", "Status") on 127.0.0.1:
//! per-node configs (agents get the agent token), unknown machines held pending until
//! `kateskit netboot approve`, one-shot server configs, authenticated status POSTs and no
//! secret in the fleet JSON, page, CLI or state. Browser and agent: netboot_e2e.

mod agent_support;
mod fleet_support;

use agent_support::Cluster;
use fleet_support::{client, get, netboot, ok, row, tokens, Api, A1, S1, STRANGER};
use kateskit::netboot::fleet::Unknown;
use serde_json::Value;

#[test]
fn a_known_agent_gets_its_config_with_the_agent_token_only() {
    let c = Cluster::new("rack");
    let api = Api::start(c.dir.path(), Unknown::Ignore);
    let (agent_token, server_token) = tokens(&c);
    let (s, body) = get(&api, &format!("/v1/config/{}", A1.replace(':', "-")));
    assert_eq!(s, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["node"]["name"], "a1");
    assert_eq!(v["secrets"]["token"], agent_token.as_str());
    assert!(!String::from_utf8_lossy(&body).contains(&server_token));
    let ph = v["agent"]["phone_home"].as_str().unwrap();
    assert!(
        ph.starts_with("https://kateskit:")
            && ph.ends_with(&format!("@127.0.0.1:{}/v1/status/{A1}", api.tls_port)),
        "{ph}"
    );
    // Served again: agents are not one-shot.
    assert_eq!(get(&api, &format!("/v1/config/{A1}")).0, 200);
    let r = row(&api, A1);
    assert_eq!(r["state"], "configured");
    assert_eq!(r["timeline"][0]["kind"], "config");
    // Garbage MACs are refused, unknown ones ignored under `--unknown ignore`.
    assert_eq!(get(&api, "/v1/config/..%2F..%2Fetc").0, 400);
    assert_eq!(get(&api, &format!("/v1/config/{STRANGER}")).0, 404);
    assert_eq!(row(&api, STRANGER)["state"], "ignored");
}

#[test]
fn an_unknown_machine_is_pending_until_approved_through_the_cli() {
    let c = Cluster::new("rack");
    let api = Api::start(c.dir.path(), Unknown::Pending);
    let path = format!("/v1/config/{STRANGER}");
    for _ in 0..3 {
        let (s, body) = get(&api, &path);
        assert_eq!(s, 202);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"state": "pending", "reason": "pending approval"})
        );
    }
    let r = row(&api, STRANGER);
    assert_eq!(r["state"], "pending");
    let kinds: Vec<&str> = r["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["pending"], "one event per wait, not per poll");
    let state = api.state_dir();
    let st = state.to_str().unwrap();
    // Bad input: a name cluster.toml lacks, a MAC that is none.
    let out = netboot(&[
        "approve",
        STRANGER,
        "--node",
        "zz",
        "--state",
        st,
        "--cluster",
        c.dir.path().to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no node named `zz`"));
    let out = netboot(&["approve", "52:54:00", "--as", "agent", "--state", st]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a MAC address"));
    ok(&netboot(&[
        "approve", STRANGER, "--as", "agent", "--state", st,
    ]));
    let (s, body) = get(&api, &path);
    assert_eq!(s, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["node"]["name"], "node-0c0007");
    assert_eq!(v["node"]["role"], "agent");
    assert_eq!(v["secrets"]["token"], tokens(&c).0.as_str());
    let text = ok(&netboot(&["status", "--state", st, "--mac", STRANGER]));
    assert!(
        text.contains(STRANGER) && text.contains("node-0c0007") && text.contains("configured"),
        "{text}"
    );
    assert!(
        text.contains("pending approval") && text.contains("config of agent `node-0c0007` served"),
        "{text}"
    );
}

#[test]
fn a_server_config_is_served_once_per_approval() {
    let c = Cluster::new("rack");
    let api = Api::start(c.dir.path(), Unknown::Ignore);
    let (_, server_token) = tokens(&c);
    let path = format!("/v1/config/{S1}");
    let (s, body) = get(&api, &path);
    assert_eq!(s, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["secrets"]["token"], server_token.as_str());
    let (s, body) = get(&api, &path);
    assert_eq!(s, 202);
    let reason = serde_json::from_slice::<Value>(&body).unwrap()["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains("already served once") && reason.contains("--node s1"),
        "{reason}"
    );
    let st = api.state_dir();
    ok(&netboot(&[
        "approve",
        S1,
        "--node",
        "s1",
        "--state",
        st.to_str().unwrap(),
    ]));
    assert_eq!(get(&api, &path).0, 200);
    assert_eq!(get(&api, &path).0, 202);
    // The one-shot survives a restart of the server (same state directory).
    let spec = kateskit::spec::load(&c.dir.path().join("cluster.toml"))
        .unwrap()
        .spec;
    let secrets = kateskit::pki::load(c.dir.path()).unwrap();
    let again = kateskit::netboot::fleet::Fleet::open(
        spec,
        secrets,
        &st,
        Unknown::Ignore,
        "https://127.0.0.1:1",
    )
    .unwrap();
    assert!(matches!(
        again.config_for(S1, None).unwrap(),
        kateskit::netboot::fleet::Answer::Pending(_)
    ));
}

#[test]
fn status_posts_need_the_nodes_credential() {
    let c = Cluster::new("rack");
    let api = Api::start(c.dir.path(), Unknown::Ignore);
    let (_, body) = get(&api, &format!("/v1/config/{A1}"));
    let v: Value = serde_json::from_slice(&body).unwrap();
    let ph = v["agent"]["phone_home"].as_str().unwrap();
    let cred = ph
        .split_once("kateskit:")
        .unwrap()
        .1
        .split_once('@')
        .unwrap()
        .0
        .to_string();
    let status = serde_json::json!({
        "ok": false, "state": "failed", "phase": "disks",
        "phases": [{"name": "discover", "outcome": "done", "detail": "sources: config_url"},
                   {"name": "disks", "outcome": "failed", "detail": "<b>disk</b> in use"},
                   {"name": "report", "outcome": "not-run"}],
        "errors": ["disks: /dev/sdb is in use"]
    });
    let url = api.url(&format!("/v1/status/{A1}"));
    let post = |auth: Option<String>| {
        let mut r = client().post(&url).body(status.to_string());
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        r.send().unwrap().status().as_u16()
    };
    assert_eq!(post(None), 401);
    assert_eq!(post(Some(format!("Bearer {}", "0".repeat(64)))), 401);
    // Another node's credential is not this one's.
    let other = api.fleet.phone_home("52:54:00:0b:00:02");
    let other = other
        .split_once("kateskit:")
        .unwrap()
        .1
        .split_once('@')
        .unwrap()
        .0;
    assert_eq!(post(Some(format!("Bearer {other}"))), 401);
    let r = row(&api, A1);
    let refused = r["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "refused")
        .count();
    assert_eq!(refused, 3);
    assert_eq!(post(Some(format!("Bearer {cred}"))), 200);
    let r = row(&api, A1);
    assert_eq!(r["state"], "failed");
    assert_eq!(r["phase"], "disks");
    assert_eq!(r["failure"], "disks: /dev/sdb is in use");
    let details: Vec<&str> = r["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    assert!(
        details.contains(&"discover done: sources: config_url"),
        "{details:?}"
    );
    assert!(
        details.contains(&"disks failed: <b>disk</b> in use"),
        "{details:?}"
    );
    // Neither the credential nor a token is anywhere but the config response.
    let (agent_token, server_token) = tokens(&c);
    let page = String::from_utf8(get(&api, "/").1).unwrap();
    assert!(page.contains("&lt;b&gt;disk&lt;/b&gt; in use") && !page.contains("<b>disk</b>"));
    let json = String::from_utf8(get(&api, "/v1/nodes").1).unwrap();
    let st = api.state_dir();
    let cli = ok(&netboot(&[
        "status",
        "--state",
        st.to_str().unwrap(),
        "--json",
    ]));
    let mut files = String::new();
    for e in std::fs::read_dir(&st).unwrap().flatten() {
        if e.file_name() != "status.key" && e.path().is_file() {
            files.push_str(&std::fs::read_to_string(e.path()).unwrap());
        }
    }
    for (what, text) in [
        ("page", &page),
        ("json", &json),
        ("cli", &cli),
        ("state", &files),
    ] {
        for secret in [&cred, &agent_token, &server_token] {
            assert!(!text.contains(secret.as_str()), "a secret in the {what}");
        }
    }
}
