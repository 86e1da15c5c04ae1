//! Verifying the join after k3s starts: supervisor `/ping`, `/cacerts` pinned against the
//! token's CA hash, the `/ping` again over the pinned CA, credentials accepted, then the node
//! Ready through the Kubernetes API. Credentials go as k3s's agent and server send them
//! (pkg/clientaccess): the username forced by role (`node` for agents, `server` for servers),
//! bootstrap tokens as `Authorization: Bearer`. 401 and 403 are both rejections. Known k3s
//! failure modes are recognised and reported instead of retried silently.

use std::time::{Duration, Instant};

use reqwest::blocking::Client;

use crate::agent::ladder::effective::Effective;
use crate::agent::phases::join::kube;
use crate::agent::AgentEnv;
use crate::pki::Token;
use crate::spec::Role;

/// What the join established, for the status report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JoinOutcome {
    pub supervisor: String,
    pub ca_hash: String,
    pub ready: bool,
}

/// Failure modes from k3s logs: (log fragment, explanation and fix; `<node>` is this node).
pub const KNOWN_FAILURES: [(&str, &str); 3] = [
    ("Node password rejected", "k3s rejected this node's password: a node with this name joined before (it was deleted and is rejoining, or another machine uses the name). Delete the Node object (`kubectl delete node <node>`) and the secret `<node>.node-password.k3s` in kube-system, or give the machine a new name"),
    ("bootstrap data already found and encrypted with different token", "this server's token differs from the one the cluster was created with (servers must all use the cluster's server token); re-render the node config from the cluster's secrets"),
    ("token CA hash does not match", "the token's CA hash does not match the cluster CA: a wrong token or a man-in-the-middle"),
];

fn insecure(timeout: Duration) -> Result<Client, String> {
    Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(timeout)
        .build()
        .map_err(|e| format!("building HTTP client: {e}"))
}

fn get_text(c: &Client, url: &str) -> Result<(u16, Vec<u8>), reqwest::Error> {
    let r = c.get(url).send()?;
    let s = r.status().as_u16();
    Ok((s, r.bytes()?.to_vec()))
}

/// Polls `f` until it returns `Some`, or the deadline passes (then the last error).
fn poll<T>(
    deadline: Instant,
    what: &str,
    mut f: impl FnMut() -> Result<Option<T>, String>,
) -> Result<T, String> {
    let mut last = String::from("no attempt finished");
    loop {
        match f() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last = e,
        }
        if Instant::now() >= deadline {
            return Err(format!("{what}: gave up at the deadline (last: {last})"));
        }
        std::thread::sleep(
            Duration::from_millis(300).min(deadline.saturating_duration_since(Instant::now())),
        );
    }
}

/// Scans recent k3s log lines for a known failure; returns its explanation for `node`.
pub fn diagnose(env: &AgentEnv, node: &str) -> Option<String> {
    let (cmd, args) = env.k3s_log_cmd.split_first()?;
    let out = std::process::Command::new(cmd).args(args).output().ok()?;
    let log = String::from_utf8_lossy(&out.stdout);
    KNOWN_FAILURES
        .iter()
        .find(|(frag, _)| log.contains(frag))
        .map(|(frag, why)| format!("k3s log says \"{frag}\": {}", why.replace("<node>", node)))
}

/// Longest part of a response body quoted in an error.
const BODY_SHOWN: usize = 200;

/// A response body for an error message: trimmed, cut at [`BODY_SHOWN`] characters, and with
/// the token's secret blanked should the server echo it.
fn shown_body(body: &[u8], secret: &str) -> String {
    let mut text = String::from_utf8_lossy(body).trim().to_string();
    if !secret.is_empty() {
        text = text.replace(secret, "<redacted>");
    }
    if text.chars().count() > BODY_SHOWN {
        text = text.chars().take(BODY_SHOWN).collect::<String>() + "…";
    }
    text
}

fn with_diagnosis(env: &AgentEnv, cfg: &Effective, msg: String) -> String {
    match diagnose(env, &cfg.node.node.name) {
        Some(d) => format!("{msg}; {d}"),
        None => msg,
    }
}

/// Where k3s writes the server token it generated, relative to the root.
const GENERATED_TOKEN: &str = "var/lib/rancher/k3s/server/token";

/// The token k3s generated on a first server that was given none.
fn generated_token(env: &AgentEnv) -> Result<String, String> {
    let path = env.path(GENERATED_TOKEN);
    std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "the node config has no secrets.token and k3s's generated token {} cannot be read: {e}",
            path.display()
        )
    })
}

/// Runs the whole verification with the configured bounds.
pub fn verify(env: &AgentEnv, cfg: &Effective) -> Result<JoinOutcome, String> {
    let a = &cfg.agent;
    let http = Duration::from_secs(a.http_timeout_s.max(1));
    let url = a
        .supervisor_url
        .clone()
        .or_else(|| cfg.node.k3s.server_url.clone())
        .unwrap_or_else(|| "https://127.0.0.1:6443".into());
    let url = url.trim_end_matches('/').to_string();
    if !url.starts_with("https://") {
        return Err(format!(
            "supervisor URL {url} is not https://; k3s only accepts https server URLs"
        ));
    }
    let (token, ca_hash) = match &cfg.node.secrets {
        Some(s) => (s.token.expose().to_string(), s.ca_hash.clone()),
        None => (generated_token(env)?, String::new()),
    };
    let token = Token::parse(&token).map_err(|e| format!("join token: {e}"))?;
    let pinned = if token.ca_hash.is_empty() {
        ca_hash
    } else {
        token.ca_hash.clone()
    };
    let deadline = Instant::now() + Duration::from_secs(a.join_timeout_s);

    let c = insecure(http)?;
    poll(
        deadline,
        &format!("supervisor {url}/ping"),
        || match get_text(&c, &format!("{url}/ping")) {
            Ok((200, b)) if b.trim_ascii() == b"pong" => Ok(Some(())),
            Ok((s, _)) => Err(format!("HTTP {s}")),
            Err(e) => Err(e.to_string()),
        },
    )
    .map_err(|e| with_diagnosis(env, cfg, e))?;
    let crate::agent::ladder::pin::PinnedCa {
        hash: served,
        client: trusted,
    } = crate::agent::ladder::pin::pin_ca(&c, &url, &pinned, http).map_err(|e| e.to_string())?;
    // Polled: k3s may still be swapping in a serving certificate with this address as a SAN.
    poll(deadline, &format!("{url}/ping over the pinned CA"), || {
        match get_text(&trusted, &format!("{url}/ping")) {
            Ok((200, body)) if body.trim_ascii() == b"pong" => Ok(Some(())),
            Ok((s, _)) => Err(format!("HTTP {s}")),
            Err(e) => Err(format!("{url}/ping does not verify against the CA it served ({e}); the supervisor's certificate is not issued by the cluster CA")),
        }
    })?;
    if cfg.node.k3s.server_url.is_some() {
        check_credentials(&trusted, &url, &token, cfg.node.node.role, deadline)
            .map_err(|e| with_diagnosis(env, cfg, e))?;
    }
    let ready_deadline = Instant::now() + Duration::from_secs(a.ready_timeout_s);
    kube::wait_ready(env, cfg, http, ready_deadline).map_err(|e| with_diagnosis(env, cfg, e))?;
    Ok(JoinOutcome {
        supervisor: url,
        ca_hash: served,
        ready: true,
    })
}

/// An authenticated request as k3s sends it for `role`. 2xx accepts; 401 and 403 reject at
/// once (k3s answers 401 for a wrong password, 403 for credentials without the role); other
/// answers (k3s still starting) are retried until `deadline`.
fn check_credentials(
    c: &Client,
    url: &str,
    token: &Token,
    role: Role,
    deadline: Instant,
) -> Result<(), String> {
    let (user, path, why) = match role {
        Role::Server => ("server", "/v1-k3s/encrypt/status", "this server's token is not the cluster's server token (k3s then fails with \"bootstrap data already found and encrypted with different token\")"),
        Role::Agent => ("node", "/v1-k3s/readyz", "the agent token is not this cluster's agent token"),
    };
    if token.bootstrap && role == Role::Server {
        return Err("the join token is a bootstrap token (`k3s token create`), which k3s accepts only for agents; a server joins with the cluster's server token: re-render the node config from the cluster's secrets".into());
    }
    let who = if token.bootstrap {
        "bearer bootstrap token".to_string()
    } else {
        format!("user {user}")
    };
    let outcome = poll(deadline, &format!("GET {url}{path}"), || {
        let req = c.get(format!("{url}{path}"));
        let req = if token.bootstrap {
            req.bearer_auth(token.password.expose())
        } else {
            req.basic_auth(user, Some(token.password.expose()))
        };
        let r = req.send().map_err(|e| e.to_string())?;
        let status = r.status().as_u16();
        let body = shown_body(&r.bytes().unwrap_or_default(), token.password.expose());
        match status {
            200..=299 => Ok(Some(Ok(()))),
            401 | 403 => Ok(Some(Err(format!("supervisor {url} rejected the join token (HTTP {status} on {path}, {who}: {body}): {why}; re-render the node config from the cluster's secrets")))),
            _ => Err(format!("HTTP {status}: {body}")),
        }
    })?;
    outcome
}

/// The bounded polling loop, shared with the API wait.
pub(crate) fn poll_until<T>(
    deadline: Instant,
    what: &str,
    f: impl FnMut() -> Result<Option<T>, String>,
) -> Result<T, String> {
    poll(deadline, what, f)
}
