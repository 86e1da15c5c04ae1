//! config_url and phone_home transport: plain http needs a pin and is refused before any
//! connection; servers are trusted through the system store or `agent.config_ca`; bodies are
//! capped, so an endless answer is cut with a clear error.

mod agent_support;

use std::time::{Duration, Instant};

use agent_support::https::{serve, Reply, Untouched};
use agent_support::{Cluster, Node};
use kateskit::agent::ladder::fetch::{self, ExtraCa, FetchError, FetchPlan};
use kateskit::agent::AgentEnv;

fn plan(url: &str, sha256: Option<String>, ca: Option<ExtraCa>) -> FetchPlan {
    FetchPlan {
        url: url.to_string(),
        source: "test".into(),
        sha256,
        ca,
        tls_pin: None,
        timeout: Duration::from_secs(5),
        retries: 2,
    }
}

fn extra_ca(pem: &str) -> ExtraCa {
    let env = AgentEnv {
        root: "/nonexistent".into(),
        ..AgentEnv::from_env()
    };
    ExtraCa::load(&env, pem, "test").unwrap()
}

fn node(c: &Cluster) -> Node {
    let cfg = c.render("a1");
    let n = Node::new();
    n.image_defaults(&cfg);
    n.attach_osd_disks(&cfg);
    n
}

fn detail(n: &Node) -> String {
    n.journal()["phases"][0]["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn http_without_pin_refused_before_any_connection() {
    let c = Cluster::new("rack");
    let n = node(&c);
    let l = Untouched::new();
    let url = format!("http://127.0.0.1:{}/c.json", l.port);
    n.set_cmdline(&format!("kateskit.config_url={url}"));
    let out = n.run(&[]);
    assert!(!out.status.success());
    let d = detail(&n);
    assert!(
        d.contains(&format!("config_url {url} (from kernel argument"))
            && d.contains("plain http://")
            && d.contains("set config_sha256"),
        "{d}"
    );
    assert!(!l.was_connected(), "the agent connected to {url}");
    // Not even the early static network (written before a fetch) is there.
    assert!(!n.path("etc/hostname").exists());
    assert!(!n.path("etc/systemd/network").exists());

    // With a pin the same URL is fetched: the listener does see that connection.
    let n = node(&c);
    n.set_cmdline(&format!(
        "kateskit.config_url={url} kateskit.config_sha256={} kateskit.agent.http_timeout_s=1 kateskit.agent.fetch_retries=0",
        "a".repeat(64)
    ));
    assert!(!n.run(&[]).status.success());
    assert!(
        l.was_connected(),
        "a pinned http config_url was not fetched"
    );
}

#[test]
fn a_private_ca_is_trusted_only_through_config_ca() {
    let body = br#"{"host": {"hostname": "u"}}"#.to_vec();
    let s = serve(true, vec![("/c.json", Reply::Fixed(200, body.clone()))]);
    let url = s.url("/c.json");
    let e = fetch::fetch(&plan(&url, None, None)).unwrap_err();
    let m = e.to_string();
    assert!(
        m.starts_with(&format!("config_url {url} (from test): no usable answer")),
        "{m}"
    );
    assert!(m.contains("UnknownIssuer"), "{m}");
    let got = fetch::fetch(&plan(&url, None, Some(extra_ca(&s.ca_pem)))).unwrap();
    assert_eq!(got, body);

    // Userinfo and query never reach the message.
    let secret = format!(
        "https://user:hunter2@127.0.0.1:{}/c.json?token=tok3n",
        s.port
    );
    let m = fetch::fetch(&plan(&secret, None, None))
        .unwrap_err()
        .to_string();
    assert!(!m.contains("hunter2") && !m.contains("tok3n"), "{m}");
    assert!(
        m.contains(&format!("https://***@127.0.0.1:{}/c.json?***", s.port)),
        "{m}"
    );
}

#[test]
fn a_redirect_from_https_to_plain_http_is_refused() {
    let l = Untouched::new();
    let to = format!("http://127.0.0.1:{}/c.json", l.port);
    let s = serve(true, vec![("/r", Reply::Redirect(to.clone()))]);
    let ca = Some(extra_ca(&s.ca_pem));
    let e = fetch::fetch(&plan(&s.url("/r"), None, ca)).unwrap_err();
    assert!(matches!(e, FetchError::Redirect { .. }), "{e}");
    assert!(
        e.to_string()
            .contains(&format!("refusing a redirect from https:// to {to}")),
        "{e}"
    );
    assert!(!l.was_connected());
    assert_eq!(s.requests.lock().unwrap().len(), 1, "retried");
}

#[test]
fn an_endless_body_is_cut_at_the_cap() {
    let s = serve(
        false,
        vec![
            ("/endless", Reply::Endless),
            ("/big", Reply::Fixed(200, vec![b'x'; 5 << 20])),
        ],
    );
    let pin = Some("0".repeat(64));
    let t0 = Instant::now();
    let e = fetch::fetch(&plan(&s.url("/endless"), pin.clone(), None)).unwrap_err();
    assert!(matches!(e, FetchError::TooLarge { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        format!(
            "config_url {} (from test): the body is larger than 4194304 bytes; a node config is far smaller: check the URL",
            s.url("/endless")
        )
    );
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    assert!(
        s.wait_endless_done(1, Duration::from_secs(10)),
        "the agent kept reading"
    );
    let written = s.endless_written.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        (fetch::CONFIG_BODY_CAP..64 << 20).contains(&written),
        "{written}"
    );
    // Not retried: one request.
    assert_eq!(s.requests.lock().unwrap().len(), 1);

    let e = fetch::fetch(&plan(&s.url("/big"), pin, None)).unwrap_err();
    assert!(e.to_string().contains("(Content-Length 5242880)"), "{e}");
}

#[test]
fn config_ca_and_the_system_store_serve_config_url_and_phone_home() {
    let c = Cluster::new("rack");
    let body = br#"{"host": {"hostname": "viaca"}}"#.to_vec();
    let s = serve(
        true,
        vec![
            ("/c.json", Reply::Fixed(200, body.clone())),
            ("/status", Reply::Fixed(200, b"ok".to_vec())),
        ],
    );
    let line = |ca: &str| {
        format!(
            "kateskit.agent.verify_join=false kateskit.config_url={} kateskit.phone_home={}{ca}",
            s.url("/c.json"),
            s.url("/status")
        )
    };

    // agent.config_ca as a path on the node.
    let n = node(&c);
    n.write("etc/kateskit/config-ca.pem", &s.ca_pem);
    n.set_cmdline(&line(
        " kateskit.agent.config_ca=/etc/kateskit/config-ca.pem",
    ));
    let out = n.run(&[("SSL_CERT_FILE", "/nonexistent")]);
    assert!(out.status.success(), "{}", detail(&n));
    assert_eq!(n.value("host/hostname"), "viaca");
    let posted = s.requests.lock().unwrap().clone();
    assert!(
        posted.iter().any(|r| r.starts_with("POST /status\n{")),
        "{posted:?}"
    );

    // The system trust store holding the CA works without config_ca.
    let n = node(&c);
    let store = n.aux().join("ca-bundle.pem");
    std::fs::write(&store, &s.ca_pem).unwrap();
    n.set_cmdline(&line(""));
    let out = n.run(&[("SSL_CERT_FILE", store.to_str().unwrap())]);
    assert!(out.status.success(), "{}", detail(&n));
    assert_eq!(n.value("host/hostname"), "viaca");

    // Neither: refused, naming the URL and the reason.
    let n = node(&c);
    let empty = n.aux().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    n.set_cmdline(&line(""));
    let out = n.run(&[("SSL_CERT_FILE", empty.to_str().unwrap())]);
    assert!(!out.status.success());
    let d = detail(&n);
    assert!(
        d.contains(&format!(
            "config_url {} (from kernel argument",
            s.url("/c.json")
        )) && d.contains("UnknownIssuer"),
        "{d}"
    );
}
