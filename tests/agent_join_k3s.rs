//! The join check's credentials as k3s sends and judges them, against the HTTPS STAND-IN for
//! the k3s supervisor (not k3s; as strict as k3s's auth, see tests/agent_support/standin.rs):
//! the username forced by role, 401 and 403 both rejections with the body shown, bootstrap
//! tokens as Bearer (agents only), `K10<hash>::<password>` refused, and the verified `/ping`
//! polled within the join bound.

mod agent_support;

use std::time::{Duration, Instant};

use agent_support::joining::{join_phase, setup, setup_with, LONG_BOUNDS};
use agent_support::standin::{self, Opts};
use serde_json::Value;

const BOOTSTRAP: &str = "abcdef.0123456789abcdef";

fn set_token(cfg: &mut Value, token: String) {
    cfg["secrets"]["token"] = Value::String(token);
}

fn hash_of(cfg: &Value) -> String {
    cfg["secrets"]["ca_hash"].as_str().unwrap().to_string()
}

/// Before: the username came from the token (`node`), and the stand-in's 403 for the agent
/// role on a server endpoint counted as success. k3s forces `server` for a server.
#[test]
fn a_server_given_the_agent_token_fails_the_check() {
    let s = setup_with("s2", |cfg| {
        let agent = cfg["secrets"]["agent_token"].as_str().unwrap().to_string();
        assert!(agent.contains("::node:"));
        set_token(cfg, agent);
    });
    let stand_in = standin::start(s.opts());
    let (out, j) = s.run_agent(&stand_in.url(), "");
    assert!(!out.status.success());
    let (outcome, detail) = join_phase(&j);
    assert_eq!(outcome, "failed");
    assert!(
        detail.contains("rejected the join token (HTTP 401 on /v1-k3s/encrypt/status, user server")
            && detail.contains("not the cluster's server token"),
        "{detail}"
    );
    assert!(
        !detail.contains(&s.agent_password),
        "no secret in: {detail}"
    );
}

#[test]
fn forbidden_is_a_rejection_with_the_body_shown() {
    let s = setup("a1");
    let stand_in = standin::start(Opts {
        agent_password: "another-clusters-password".into(),
        reject_status: 403,
        ..s.opts()
    });
    s.kubelet_kubeconfig(&stand_in);
    let t0 = Instant::now();
    // Join and ready bounds of 60 s (the later arguments win): a retried 403 would take that.
    let (out, j) = s.run_agent(&stand_in.url(), LONG_BOUNDS);
    assert!(!out.status.success());
    let (outcome, detail) = join_phase(&j);
    assert_eq!(outcome, "failed");
    assert!(
        detail.contains("rejected the join token (HTTP 403 on /v1-k3s/readyz, user node")
            && detail.contains(r#""reason":"Forbidden""#),
        "{detail}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "rejected at once, not after the 60 s bounds: {:?}",
        t0.elapsed()
    );
}

#[test]
fn a_bootstrap_token_goes_as_bearer_and_joins_an_agent() {
    let s = setup_with("a1", |cfg| {
        let t = format!("K10{}::{BOOTSTRAP}", hash_of(cfg));
        set_token(cfg, t);
    });
    let stand_in = standin::start(Opts {
        bootstrap_token: Some(BOOTSTRAP.into()),
        agent_password: "not-sent".into(),
        ..s.opts()
    });
    s.kubelet_kubeconfig(&stand_in);
    let (out, j) = s.run_agent(&stand_in.url(), "");
    let (outcome, detail) = join_phase(&j);
    assert!(
        out.status.success(),
        "{detail}\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(outcome, "done", "{detail}");
}

#[test]
fn a_bootstrap_token_cannot_join_a_server() {
    let s = setup_with("s2", |cfg| {
        let t = format!("K10{}::{BOOTSTRAP}", hash_of(cfg));
        set_token(cfg, t);
    });
    let stand_in = standin::start(Opts {
        bootstrap_token: Some(BOOTSTRAP.into()),
        ..s.opts()
    });
    let (_, j) = s.run_agent(&stand_in.url(), "");
    let (outcome, detail) = join_phase(&j);
    assert_eq!(outcome, "failed");
    assert!(detail.contains("accepts only for agents"), "{detail}");
    assert!(!detail.contains(BOOTSTRAP), "no secret in: {detail}");
}

#[test]
fn a_token_without_user_is_refused_like_k3s() {
    let s = setup_with("a1", |cfg| {
        let t = format!("K10{}::just-a-password", hash_of(cfg));
        set_token(cfg, t);
    });
    let stand_in = standin::start(s.opts());
    let (out, j) = s.run_agent(&stand_in.url(), "");
    assert!(!out.status.success());
    let text = format!("{j}");
    assert!(text.contains("invalid token format"), "{text}");
    assert!(!text.contains("just-a-password"), "no secret in: {text}");
}

/// Before: the `/ping` over the pinned CA was a single attempt, so one 503 while k3s settles
/// failed the join.
#[test]
fn the_verified_ping_is_polled_within_the_bound() {
    let s = setup("a1");
    let stand_in = standin::start(Opts {
        fail_pings: vec![2, 3],
        ..s.opts()
    });
    s.kubelet_kubeconfig(&stand_in);
    let (out, j) = s.run_agent(&stand_in.url(), "");
    let (outcome, detail) = join_phase(&j);
    assert!(out.status.success(), "{detail}");
    assert_eq!(outcome, "done", "{detail}");
    // Always failing: reported at the join bound, naming the pinned check.
    let stand_in = standin::start(Opts {
        fail_pings: (2..1000).collect(),
        ..s.opts()
    });
    let t0 = Instant::now();
    let (_, j) = s.run_agent(&stand_in.url(), "");
    let (outcome, detail) = join_phase(&j);
    assert_eq!(outcome, "failed");
    assert!(
        detail.contains("/ping over the pinned CA: gave up at the deadline (last: HTTP 503)"),
        "{detail}"
    );
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
}

/// A custom-CA bundle (`/cacerts` = cluster CA + intermediate + root, as k3s's
/// generate-custom-ca-certs.sh writes it): the token pins the root's DER. Go's `x509.Verify`
/// refuses a chain through an expired intermediate, so k3s hashes the bytes instead and the
/// pin no longer matches; the agent must judge it the same way.
#[test]
fn a_custom_ca_chain_is_pinned_by_its_root_only_while_it_verifies() {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca = |cn: &str| {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.use_authority_key_identifier_extension = cn != "root";
        p
    };
    for expired in [false, true] {
        let root_key = KeyPair::generate().unwrap();
        let root = ca("root").self_signed(&root_key).unwrap();
        let mut ip = ca("intermediate");
        if expired {
            ip.not_after = ::time::OffsetDateTime::now_utc() - ::time::Duration::days(1);
            ip.not_before = ip.not_after - ::time::Duration::days(30);
        }
        let int_key = KeyPair::generate().unwrap();
        let int = ip.signed_by(&int_key, &root, &root_key).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = ca("k3s-server-ca")
            .signed_by(&leaf_key, &int, &int_key)
            .unwrap();
        let bundle = format!("{}{}{}", leaf.pem(), int.pem(), root.pem());
        let pin = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(root.der()))
        };
        let mut s = setup_with("a1", |cfg| {
            let t = cfg["secrets"]["token"].as_str().unwrap();
            let creds = t.split_once("::").unwrap().1.to_string();
            set_token(cfg, format!("K10{pin}::{creds}"));
            cfg["secrets"]["ca_hash"] = Value::String(pin.clone());
        });
        let mut opts = Opts::new(
            &leaf.pem(),
            &leaf_key.serialize_pem(),
            &s.server_password,
            &s.agent_password,
        );
        opts.cacerts = bundle.clone();
        let stand_in = standin::start(opts);
        s.ca_cert = bundle;
        s.kubelet_kubeconfig(&stand_in);
        let (_, j) = s.run_agent(&stand_in.url(), "");
        let (outcome, detail) = join_phase(&j);
        if expired {
            assert_eq!(outcome, "failed", "{detail}");
            assert!(
                detail.contains(&format!("the join token pins {pin}"))
                    && detail.contains("man-in-the-middle"),
                "{detail}"
            );
        } else {
            assert_eq!(outcome, "done", "{detail}");
            assert!(detail.contains(&pin), "{detail}");
        }
    }
}
