//! Seeding Rook's `rook-ceph-mon` Secret through the Kubernetes API, then deploying Rook.
//!
//! Rook adopts the fsid and keys of a `rook-ceph-mon` Secret that exists before its first
//! reconcile of the CephCluster, so the identity `cluster init` generated is the one on every
//! OSD Rook makes. The Secret is created once (create-only: an existing one is compared, never
//! replaced) and not as an auto-deploy manifest, which k3s would re-apply at every start and
//! delete when the file goes away. Only once the Secret is confirmed are Rook's HelmChart and
//! CephCluster written into the auto-deploy directory. Only the first server carries the Ceph
//! keys and creates the Secret; the other servers wait for it and check its fsid.

use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::{json, Value};

use crate::agent::ladder::effective::Effective;
use crate::agent::phases::join::kube::{self, SERVER_KUBECONFIG};
use crate::agent::phases::join::verify::poll_until;
use crate::agent::AgentEnv;
use crate::bundle::rook::{self, MON_SECRET_NAME, NAMESPACE};
use crate::bundle::RookDeploy;

/// What the API held after seeding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seeded {
    /// This run created the Secret.
    Created,
    /// It already existed with the declared fsid.
    Present,
    /// This server does not seed: it waited for the first server's Secret and found it.
    Found,
}

/// One attempt's result: done, try again (API still coming up), or give up now.
enum Step<T> {
    Done(T),
    Retry(String),
    Fatal(String),
}

/// The `reason` of a Kubernetes Status body, never its message or the object (no secret
/// material can reach the journal through an error).
fn reason(r: reqwest::blocking::Response) -> String {
    let code = r.status().as_u16();
    let why = r
        .json::<Value>()
        .ok()
        .and_then(|v| v.get("reason").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| "no Status reason".into());
    format!("HTTP {code} ({why})")
}

/// Client errors that retrying cannot fix: the object itself is refused.
fn fatal(code: u16) -> bool {
    matches!(code, 400 | 405 | 413 | 415 | 422)
}

fn post(c: &Client, url: &str, body: &Value) -> Result<reqwest::blocking::Response, String> {
    c.post(url)
        .json(body)
        .send()
        .map_err(|e| format!("POST {url}: {}", e.without_url()))
}

fn attempt(c: &Client, server: &str, secret: &Value, fsid: &str) -> Step<Seeded> {
    let ns_url = format!("{server}/api/v1/namespaces");
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}});
    match post(c, &ns_url, &ns) {
        Err(e) => return Step::Retry(e),
        Ok(r) if matches!(r.status().as_u16(), 201 | 409) => {}
        Ok(r) if fatal(r.status().as_u16()) => {
            return Step::Fatal(format!("POST {ns_url}: {}", reason(r)))
        }
        Ok(r) => return Step::Retry(format!("POST {ns_url}: {}", reason(r))),
    }
    let url = format!("{server}/api/v1/namespaces/{NAMESPACE}/secrets");
    match post(c, &url, secret) {
        Err(e) => Step::Retry(e),
        Ok(r) if r.status().as_u16() == 201 => Step::Done(Seeded::Created),
        Ok(r) if r.status().as_u16() == 409 => {
            compare(c, &format!("{url}/{MON_SECRET_NAME}"), fsid)
        }
        Ok(r) if fatal(r.status().as_u16()) => Step::Fatal(format!("POST {url}: {}", reason(r))),
        Ok(r) => Step::Retry(format!("POST {url}: {}", reason(r))),
    }
}

/// The Secret exists: adopt it only if it holds the declared fsid.
fn compare(c: &Client, url: &str, fsid: &str) -> Step<Seeded> {
    let r = match c.get(url).send() {
        Ok(r) if r.status().as_u16() == 200 => r,
        Ok(r) if r.status().as_u16() == 404 => {
            return Step::Retry(format!(
                "GET {url}: HTTP 404, not created yet (the first server of cluster.toml creates it; this node config carries no secrets.ceph_mon_secret)"
            ))
        }
        Ok(r) => return Step::Retry(format!("GET {url}: {}", reason(r))),
        Err(e) => return Step::Retry(format!("GET {url}: {}", e.without_url())),
    };
    let held = match r.json::<Value>() {
        Ok(v) => rook::secret_fsid(&v),
        Err(e) => return Step::Retry(format!("GET {url}: not JSON: {e}")),
    };
    match held {
        Some(h) if h == fsid => Step::Done(Seeded::Present),
        Some(h) => Step::Fatal(format!(
            "Secret {NAMESPACE}/{MON_SECRET_NAME} already exists with Ceph fsid {h}, but this node config declares fsid {fsid}: the running Ceph cluster is not the one the cluster directory describes; refusing to deploy Rook over it. To adopt the running cluster, write {h} to secrets/ceph-fsid in the cluster directory (and the Secret's mon-secret and ceph-secret to secrets/ceph-mon-secret and secrets/ceph-admin-secret), then re-render the node configs"
        )),
        None => Step::Fatal(format!(
            "Secret {NAMESPACE}/{MON_SECRET_NAME} already exists without a data.fsid; it was not made by Rook or kateskit, refusing to deploy Rook until it is removed or completed"
        )),
    }
}

/// Creates the Secret (namespace first) through the server's admin kubeconfig, retrying while
/// the API comes up, until `deadline`. Without `secret` (a server that does not seed) it only
/// waits for the Secret to exist with the declared fsid.
pub fn seed(
    env: &AgentEnv,
    secret: Option<&Value>,
    fsid: &str,
    http: Duration,
    deadline: Instant,
) -> Result<Seeded, String> {
    let (access, client) = kube::client(env, SERVER_KUBECONFIG, http, deadline)?;
    let verb = if secret.is_some() {
        "creating"
    } else {
        "waiting for"
    };
    let what = format!(
        "{verb} Secret {NAMESPACE}/{MON_SECRET_NAME} at {}",
        access.server
    );
    let url = format!(
        "{}/api/v1/namespaces/{NAMESPACE}/secrets/{MON_SECRET_NAME}",
        access.server
    );
    poll_until(deadline, &what, || {
        let step = match secret {
            Some(secret) => attempt(&client, &access.server, secret, fsid),
            None => match compare(&client, &url, fsid) {
                Step::Done(_) => Step::Done(Seeded::Found),
                other => other,
            },
        };
        match step {
            Step::Done(s) => Ok(Some(Ok(s))),
            Step::Fatal(e) => Ok(Some(Err(e))),
            Step::Retry(e) => Err(e),
        }
    })?
}

/// On a server with a Ceph layout: seeds the Secret, then writes Rook's manifests. Returns the
/// journal line.
pub fn deploy(env: &AgentEnv, cfg: &Effective, rook: &RookDeploy) -> Result<String, String> {
    let fsid = cfg
        .node
        .secrets
        .as_ref()
        .map(|s| s.ceph_fsid.trim().to_string())
        .ok_or("the node config has no secrets; cannot seed the Ceph identity")?;
    let a = &cfg.agent;
    let http = Duration::from_secs(a.http_timeout_s.max(1));
    let deadline = Instant::now() + Duration::from_secs(a.join_timeout_s);
    let secret = rook.mon_secret.as_ref().map_err(|e| e.to_string())?;
    let seeded = seed(env, secret.as_ref(), &fsid, http, deadline)?;
    let files: Vec<(String, String)> = rook
        .manifests
        .iter()
        .map(|m| (m.file_name.clone(), m.yaml.clone()))
        .collect();
    let changed = crate::k3s::write_manifests(&env.root, &files).map_err(|e| e.to_string())?;
    let how = match seeded {
        Seeded::Created => "created",
        Seeded::Present => "already present with the same fsid",
        Seeded::Found => "seeded by the first server, same fsid",
    };
    Ok(format!(
        "Secret {NAMESPACE}/{MON_SECRET_NAME} {how} (fsid {fsid}); Rook manifests {}",
        if changed > 0 { "written" } else { "unchanged" }
    ))
}
