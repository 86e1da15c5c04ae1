//! A secret on the running kernel's command line (readable by every pod): refused on a server,
//! a warning on an agent, fine when stamped into the embed area's kernel arguments. The value
//! never appears in the output, the journal or the status.

mod agent_support;

use agent_support::{Cluster, Node};
use serde_json::{json, Value};

const QUIET: &str = "console=ttyS0 kateskit.agent.verify_join=false";

fn node(c: &Cluster, name: &str) -> (Node, Value) {
    let cfg = c.render(name);
    let n = Node::new();
    n.image_defaults(&cfg);
    (n, cfg)
}

/// Everything the run printed or recorded.
fn everything(n: &Node, out: &std::process::Output) -> String {
    let mut t = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for f in ["run/kateskit/status.json", "var/lib/kateskit/journal.json"] {
        t.push_str(&std::fs::read_to_string(n.path(f)).unwrap_or_default());
    }
    t
}

fn discover_detail(n: &Node) -> (String, String) {
    let j = n.journal();
    let p = &j["phases"][0];
    assert_eq!(p["name"], "discover");
    (
        p["outcome"].as_str().unwrap().to_string(),
        p["detail"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn a_server_token_on_the_kernel_command_line_is_refused() {
    let c = Cluster::new("rack");
    let (n, cfg) = node(&c, "s2");
    for key in ["kateskit.token", "kateskit.secrets.agent_token"] {
        let field = if key.ends_with("agent_token") {
            "agent_token"
        } else {
            "token"
        };
        let tok = cfg["secrets"][field].as_str().unwrap();
        n.set_cmdline(&format!("{QUIET} {key}={tok}"));
        let out = n.run(&[("KATESKIT_SYSTEMCTL", "true")]);
        assert!(!out.status.success(), "{key} accepted on a server");
        let (outcome, detail) = discover_detail(&n);
        assert_eq!(outcome, "failed", "{detail}");
        assert!(
            detail.contains(&format!("secrets.{field}"))
                && detail.contains("readable by every process and pod")
                && detail.contains("image customize --karg"),
            "{detail}"
        );
        assert!(!everything(&n, &out).contains(tok), "{key} value shown");
        assert!(!n.path("var/lib/kateskit/token").exists());
    }
}

#[test]
fn a_server_token_in_the_stamped_kernel_arguments_is_fine() {
    let c = Cluster::new("rack");
    let (n, cfg) = node(&c, "s2");
    let tok = cfg["secrets"]["token"].as_str().unwrap();
    let area = kateskit::image::embed::build_area(
        262144,
        Some(&json!({"host": {"timezone": "Asia/Tokyo"}}).to_string()),
        &[format!("kateskit.token={tok}")],
    )
    .unwrap();
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), area).unwrap();
    n.set_cmdline(QUIET);
    // Up to the k3s config: a server's Rook deploy needs a running k3s.
    let out = n.run_with_args(
        &["--before-k3s"],
        &[
            ("KATESKIT_EMBED", f.path().to_str().unwrap()),
            ("KATESKIT_SYSTEMCTL", "true"),
        ],
    );
    let all = everything(&n, &out);
    assert!(out.status.success(), "{all}");
    assert!(!all.contains("readable by every"), "{all}");
    assert!(!all.contains(tok));
    assert_eq!(n.read("var/lib/kateskit/token").trim(), tok);
}

#[test]
fn an_agent_token_on_the_kernel_command_line_is_a_warning() {
    let c = Cluster::new("rack");
    let (n, cfg) = node(&c, "a4");
    let tok = cfg["secrets"]["token"].as_str().unwrap();
    n.set_cmdline(&format!("{QUIET} kateskit.token={tok}"));
    let out = n.run(&[("KATESKIT_SYSTEMCTL", "true")]);
    let all = everything(&n, &out);
    assert!(out.status.success(), "{all}");
    let warnings = n.status()["warnings"].to_string();
    assert!(
        warnings.contains("secrets.token") && warnings.contains("readable by every process"),
        "{warnings}"
    );
    assert!(!all.contains(tok), "the agent token was shown");
}
