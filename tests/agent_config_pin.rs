//! `agent.config_tls_sha256`: config_url and phone_home trust exactly the pinned server key
//! (docs/agent.md "Fetching"), a key pin from the owner makes config_url the owner's, and a
//! `202 Accepted` answer holds the machine `unconfigured` ("pending approval") until the same
//! server answers 200, in the same run.

mod agent_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agent_support::https::{serve, Reply};
use agent_support::trust::{embed_file, run_ok, warnings, NO_JOIN};
use agent_support::{Cluster, Node};
use kateskit::agent::ladder::fetch::{self, FetchError, FetchPlan};

fn plan(url: &str, pin: Option<&str>) -> FetchPlan {
    FetchPlan {
        url: url.to_string(),
        source: "test".into(),
        sha256: None,
        ca: None,
        tls_pin: pin.map(|p| fetch::spki::parse_pin(p).unwrap()),
        timeout: Duration::from_secs(5),
        retries: 0,
    }
}

#[test]
fn only_the_pinned_key_is_trusted() {
    let s = serve(true, vec![("/c.json", Reply::Fixed(200, b"{}".to_vec()))]);
    let url = s.url("/c.json");
    // The server's CA is private: without a pin the certificate is not trusted.
    let e = fetch::fetch(&plan(&url, None)).unwrap_err().to_string();
    assert!(e.contains("certificate"), "{e}");
    // The right pin: accepted, though no CA vouches for it.
    assert_eq!(
        fetch::fetch(&plan(&url, Some(&s.spki_sha256))).unwrap(),
        b"{}"
    );
    // A wrong pin: refused, naming what the server has and what was pinned.
    let wrong = "0".repeat(64);
    let e = fetch::fetch(&plan(&url, Some(&wrong))).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains(&s.spki_sha256) && msg.contains(&wrong) && msg.contains("config_tls_sha256"),
        "{msg}"
    );
    assert!(
        matches!(e, FetchError::Exhausted { .. }),
        "a TLS failure is retried as other network failures are: {e:?}"
    );
}

/// Stamped with nothing but an https:// config_url and the server's key pin: the config_url is
/// the owner's and sets the protected keys; the same URL trusted by `agent.config_ca` only
/// (no key pin) on a node stamped with a config sets none of them.
#[test]
fn a_key_pin_from_the_owner_makes_config_url_the_owners() {
    let c = Cluster::new("rack");
    let cfg = c.render("a1");
    let body = cfg.to_string().into_bytes();
    let s = serve(true, vec![("/a1.json", Reply::Fixed(200, body))]);
    let n = Node::new();
    n.attach_osd_disks(&cfg);
    n.set_cmdline(NO_JOIN);
    let f = tempfile::NamedTempFile::new().unwrap();
    let kargs = vec![
        format!("kateskit.config_url={}", s.url("/a1.json")),
        format!("kateskit.config_tls_sha256={}", s.spki_sha256),
    ];
    std::fs::write(
        f.path(),
        kateskit::image::embed::build_area(262144, None, &kargs).unwrap(),
    )
    .unwrap();
    run_ok(&n, &[("KATESKIT_EMBED", f.path().to_str().unwrap())]);
    assert!(n
        .source("host.ssh_authorized_keys")
        .starts_with("config_url"));
    let ca = cfg["secrets"]["ca_hash"].as_str().unwrap();
    assert!(n.read("var/lib/kateskit/token").contains(ca));

    // A config_url body cannot pin keys itself: owner-only.
    let mut other = cfg.clone();
    other["host"]["hostname"] = "from-url".into();
    other["agent"] = serde_json::json!({"config_tls_sha256": "1".repeat(64)});
    let s2 = serve(
        true,
        vec![("/o.json", Reply::Fixed(200, other.to_string().into_bytes()))],
    );
    let n = Node::new();
    n.attach_osd_disks(&cfg);
    let one_line = s2.ca_pem.split_whitespace().collect::<Vec<_>>().join(" ");
    n.set_cmdline(&format!(
        "{NO_JOIN} kateskit.config_url={} kateskit.agent.config_ca=\"{one_line}\"",
        s2.url("/o.json")
    ));
    let emb = embed_file(&cfg);
    run_ok(&n, &[("KATESKIT_EMBED", emb.path().to_str().unwrap())]);
    assert_eq!(n.value("host/hostname"), "from-url");
    let w = warnings(&n);
    assert!(
        w.contains("ignored agent.config_tls_sha256: only the owner's config"),
        "{w}"
    );
    assert!(n
        .source("host.ssh_authorized_keys")
        .starts_with("embed area"));
}

/// 202 with `pending approval`: unconfigured with that reason while waiting, k3s env file
/// removed, nothing but the report written; then 200 and the same run configures the node.
#[test]
fn pending_approval_waits_then_proceeds_in_the_same_run() {
    let c = Cluster::new("rack");
    let cfg = c.render("a1");
    let answer = Arc::new(Mutex::new((
        202u16,
        br#"{"state":"pending","reason":"pending approval"}"#.to_vec(),
    )));
    let s = serve(true, vec![("/a1.json", Reply::Switch(answer.clone()))]);
    let n = Node::new();
    n.attach_osd_disks(&cfg);
    n.write("etc/kateskit/k3s.env", "K3S_LEFT=over\n");
    n.set_cmdline(&format!(
        "{NO_JOIN} kateskit.config_url={} kateskit.config_tls_sha256={} kateskit.agent.pending_timeout_s=60",
        s.url("/a1.json"),
        s.spki_sha256
    ));
    let before = n.snapshot();
    let mut child = n
        .command(&[], &[])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let status = n.path("run/kateskit/status.json");
    let t0 = Instant::now();
    while !status.exists() && t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let st = n.status();
    assert_eq!(st["state"], "unconfigured", "{st:#}");
    let reason = st["unconfigured"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("pending approval: config_url https://127.0.0.1:"),
        "{reason}"
    );
    assert!(!n.path("etc/kateskit/k3s.env").exists());
    // Nothing but the run directory changed (and the left-over k3s env file went).
    let changed: Vec<_> = n
        .snapshot()
        .into_iter()
        .filter(|(p, v)| before.get(p) != Some(v) && !p.starts_with("run"))
        .collect();
    assert!(changed.is_empty(), "{changed:?}");
    assert!(
        child.try_wait().unwrap().is_none(),
        "the agent stopped waiting"
    );
    let polls = s.requests.lock().unwrap().len();
    *answer.lock().unwrap() = (200, cfg.to_string().into_bytes());
    let t0 = Instant::now();
    let exit = loop {
        if let Some(e) = child.try_wait().unwrap() {
            break e;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the agent never finished"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success());
    let st = n.status();
    assert_eq!(st["state"], "ok", "{st:#}");
    assert!(s.requests.lock().unwrap().len() > polls);
    assert!(n
        .source("host.ssh_authorized_keys")
        .starts_with("config_url"));
}

/// The bound ends the wait: the run ends unconfigured (exit 0, `agent status` exits 2).
#[test]
fn pending_is_bounded() {
    let s = serve(
        true,
        vec![(
            "/x.json",
            Reply::Fixed(202, b"{\"state\":\"pending\"}".to_vec()),
        )],
    );
    let n = Node::new();
    n.set_cmdline(&format!(
        "{NO_JOIN} kateskit.config_url={} kateskit.config_tls_sha256={} kateskit.agent.pending_timeout_s=1",
        s.url("/x.json"),
        s.spki_sha256
    ));
    let t0 = Instant::now();
    let out = n.run(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(t0.elapsed() < Duration::from_secs(20));
    let st = n.status();
    assert_eq!(st["state"], "unconfigured");
    assert!(st["unconfigured"]["reason"]
        .as_str()
        .unwrap()
        .starts_with("pending approval"));
    assert_eq!(st["phases"][1]["outcome"], "skipped");
}

/// A server that hands a config out once (netboot serve's one-shot server configs answer 202
/// afterwards): the boot's `--before-k3s` run fetches it, and the join run of the same boot
/// merges the same body without asking again.
#[test]
fn the_join_run_merges_the_body_the_boots_first_run_fetched() {
    let c = Cluster::new("rack");
    let cfg = c.render("a1");
    let answer = Arc::new(Mutex::new((200u16, cfg.to_string().into_bytes())));
    let s = serve(true, vec![("/a1.json", Reply::Switch(answer.clone()))]);
    let n = Node::new();
    n.attach_osd_disks(&cfg);
    n.set_cmdline(&format!(
        "{NO_JOIN} kateskit.config_url={} kateskit.config_tls_sha256={} kateskit.agent.pending_timeout_s=1",
        s.url("/a1.json"),
        s.spki_sha256
    ));
    let out = n.run_with_args(&["--before-k3s"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(s.requests.lock().unwrap().len(), 1);
    let cached: Vec<_> = std::fs::read_dir(n.path("run/kateskit/config-url"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(cached.len(), 1);
    use std::os::unix::fs::PermissionsExt;
    let mode = cached[0].metadata().unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the body holds the join token");
    *answer.lock().unwrap() = (
        202,
        br#"{"state":"pending","reason":"pending approval"}"#.to_vec(),
    );
    run_ok(&n, &[]);
    assert_eq!(
        s.requests.lock().unwrap().len(),
        1,
        "the join run asked again"
    );
    let st = n.status();
    assert_eq!(st["state"], "ok", "{st:#}");
    assert!(n
        .source("host.ssh_authorized_keys")
        .starts_with("config_url"));
    // A cached body that is not private is not trusted: the run asks the server again (which
    // now holds the machine pending).
    std::fs::set_permissions(cached[0].path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = n.run(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(s.requests.lock().unwrap().len() > 1);
    assert_eq!(n.status()["state"], "unconfigured");
}
