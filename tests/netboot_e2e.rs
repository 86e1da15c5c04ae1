//! The netboot fleet end to end on 127.0.0.1: the fleet page in headless Chromium, and the
//! agent binary fetching its config over pinned HTTPS, waiting pending, approved through the
//! CLI, reporting into the timeline.

mod agent_support;
mod fleet_support;

use std::time::{Duration, Instant};

use agent_support::{Cluster, Node};
use fleet_support::{get, netboot, ok, row, Api, A1, STRANGER};
use kateskit::netboot::fleet::Unknown;

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
    // To look at it: KATESKIT_KEEP_SCREENSHOT=DIR keeps a copy.
    if let Some(dir) = std::env::var_os("KATESKIT_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, std::path::Path::new(&dir).join("netboot-fleet.png")).unwrap();
    }
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
