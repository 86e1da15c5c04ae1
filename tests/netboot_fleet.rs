//! The netboot control plane (docs/netboot.md "Configs and approval", "Status") on 127.0.0.1:
//! per-node configs (agents get the agent token), unknown machines held pending until
//! `kateskit netboot approve`, one-shot server configs, authenticated status POSTs, the fleet
//! JSON and page (also in headless Chromium), and an agent that waits pending, is approved,
//! proceeds and reports into the timeline.

mod agent_support;
mod netboot_support;

use std::time::{Duration, Instant};

use agent_support::{Cluster, Node};
use kateskit::netboot::fleet::Unknown;
use netboot_support::{client, netboot, Api};
use serde_json::Value;

const A1: &str = "52:54:00:0b:00:01";
const S1: &str = "52:54:00:0a:00:01";
const STRANGER: &str = "52:54:00:0c:00:07";

fn get(api: &Api, path: &str) -> (u16, Vec<u8>) {
    let r = client().get(api.url(path)).send().unwrap();
    (r.status().as_u16(), r.bytes().unwrap().to_vec())
}

fn nodes(api: &Api) -> Vec<Value> {
    let (s, b) = get(api, "/v1/nodes");
    assert_eq!(s, 200);
    serde_json::from_slice(&b).unwrap()
}

fn row(api: &Api, mac: &str) -> Value {
    nodes(api)
        .into_iter()
        .find(|r| r["mac"] == mac)
        .unwrap_or_else(|| panic!("no row for {mac}"))
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn tokens(c: &Cluster) -> (String, String) {
    let s = kateskit::pki::load(c.dir.path()).unwrap();
    (
        s.agent_token.secret().expose().to_string(),
        s.server_token.secret().expose().to_string(),
    )
}

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

/// Headless Chromium renders the page: a node's row and its timeline are in the DOM.
#[test]
fn the_fleet_page_in_headless_chromium() {
    let Some(chromium) = ["chromium", "chromium-browser"].into_iter().find(|b| {
        std::process::Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is missing in CI (tests/debian-packages.txt)"
        );
        eprintln!(
            "SKIP the_fleet_page_in_headless_chromium: no chromium (apt-get install chromium)"
        );
        return;
    };
    let c = Cluster::new("rack");
    let api = Api::start(c.dir.path(), Unknown::Pending);
    assert_eq!(get(&api, &format!("/v1/config/{A1}")).0, 200);
    assert_eq!(get(&api, &format!("/v1/config/{STRANGER}")).0, 202);
    api.fleet
        .record(
            A1,
            kateskit::netboot::fleet::EventKind::Dhcp,
            true,
            "offer 192.0.2.50",
            Some("192.0.2.50".parse().unwrap()),
        )
        .unwrap();
    let shots = tempfile::tempdir().unwrap();
    let shot = shots.path().join("fleet.png");
    let profile = shots.path().join("profile");
    let mut child = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1280,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(api.url("/"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("chromium did not finish the screenshot in 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 1000);
    let out = std::process::Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(api.url("/"))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let row = dom
        .split("<tr id=\"row-m-52-54-00-0b-00-01\"")
        .nth(1)
        .expect("a1's row in the DOM");
    let row = row.split("</tr>").next().unwrap();
    assert!(
        row.contains("a1") && row.contains("configured") && row.contains("192.0.2.50"),
        "{row}"
    );
    let section = dom
        .split("<section id=\"m-52-54-00-0b-00-01\"")
        .nth(1)
        .expect("a1's timeline");
    let section = section.split("</section>").next().unwrap();
    assert!(
        section.contains("data-kind=\"config\"") && section.contains("data-kind=\"dhcp\""),
        "{section}"
    );
    assert!(dom.contains("row-m-52-54-00-0c-00-07") && dom.contains("pending"));
    eprintln!("screenshot: {} ({} bytes)", shot.display(), png.len());
}

/// The agent binary fetches from the api over HTTPS with the pin kernel arguments, waits
/// pending, is approved through the CLI, proceeds in the same run and posts its status.
#[test]
fn an_agent_waits_pending_is_approved_and_reports_into_the_timeline() {
    let c = Cluster::new("rack");
    let api = Api::start(c.dir.path(), Unknown::Pending);
    let n = Node::new();
    n.set_cmdline(&format!(
        "console=ttyS0 BOOTIF=01-{} kateskit.config_url={} kateskit.config_tls_sha256={} kateskit.agent.verify_join=false kateskit.agent.pending_timeout_s=120",
        STRANGER.replace(':', "-"),
        api.tls_url("/v1/config/${mac}"),
        api.spki_sha256
    ));
    let mut child = n
        .command(&[], &[])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let status = n.path("run/kateskit/status.json");
    while !status.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the agent never showed its pending state"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the agent ended before approval"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let st = n.status();
    assert_eq!(st["state"], "unconfigured");
    assert!(st["unconfigured"]["reason"]
        .as_str()
        .unwrap()
        .starts_with("pending approval"));
    assert_eq!(row(&api, STRANGER)["state"], "pending");
    let sd = api.state_dir();
    ok(&netboot(&[
        "approve",
        STRANGER,
        "--as",
        "agent",
        "--state",
        sd.to_str().unwrap(),
    ]));
    let exit = loop {
        if let Some(e) = child.try_wait().unwrap() {
            break e;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "the agent never finished"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let st = n.status();
    assert!(exit.success(), "{st:#}");
    assert_eq!(st["state"], "ok", "{st:#}");
    assert_eq!(st["node_name"], "node-0c0007");
    let warnings = st["warnings"].to_string();
    assert!(!warnings.contains("phone_home"), "{warnings}");
    let r = row(&api, STRANGER);
    let kinds: Vec<String> = r["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds[..2], ["pending", "config"], "{kinds:?}");
    let details: Vec<&str> = r["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    for phase in [
        "discover done",
        "validate done",
        "network done",
        "host done",
        "disks done",
        "k3s-config done",
        "start done",
    ] {
        assert!(
            details.iter().any(|d| d.starts_with(phase)),
            "{phase} missing: {details:?}"
        );
    }
    assert_eq!(r["state"], "configured");
    assert_eq!(r["ip"], "127.0.0.1");
}
