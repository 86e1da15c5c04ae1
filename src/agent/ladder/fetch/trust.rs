//! Which servers `config_url` and `phone_home` trust: the system trust store (the NixOS
//! `security.pki` bundle, `SSL_CERT_FILE`/`SSL_CERT_DIR` when set), the compiled-in webpki roots
//! only when that store is empty, and `agent.config_ca` on top. One client is built per trust
//! configuration and reused for every request of the run.

use std::io::Read;
use std::sync::{Arc, Mutex, OnceLock};

use reqwest::blocking::Client;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;
use sha2::{Digest, Sha256};

use super::FetchError;
use crate::agent::AgentEnv;

/// Largest `agent.config_ca` file read.
const CA_FILE_CAP: u64 = 1 << 20;

/// The certificates of `agent.config_ca`, trusted in addition to the system store.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtraCa {
    pub certs: Vec<CertificateDer<'static>>,
    /// Where the setting came from, for messages.
    pub source: String,
}

impl ExtraCa {
    /// Reads `agent.config_ca`: PEM text (starts with `-----BEGIN`), or an absolute path on the
    /// node to a PEM file. `origin` names the config source that set it.
    pub fn load(env: &AgentEnv, setting: &str, origin: &str) -> Result<ExtraCa, FetchError> {
        let source = format!("agent.config_ca (from {origin})");
        let bad = |reason: String| FetchError::Ca {
            setting: source.clone(),
            reason,
        };
        let text = setting.trim();
        let pem = if text.starts_with("-----BEGIN") {
            pem_lines(text).into_bytes()
        } else if text.starts_with('/') {
            let path = env.path(text);
            let f = std::fs::File::open(&path)
                .map_err(|e| bad(format!("reading {}: {e}", path.display())))?;
            let mut buf = Vec::new();
            f.take(CA_FILE_CAP + 1)
                .read_to_end(&mut buf)
                .map_err(|e| bad(format!("reading {}: {e}", path.display())))?;
            if buf.len() as u64 > CA_FILE_CAP {
                return Err(bad(format!(
                    "{} is larger than {CA_FILE_CAP} bytes; it should hold a few PEM certificates",
                    path.display()
                )));
            }
            buf
        } else {
            return Err(bad(
                "expected PEM text (-----BEGIN CERTIFICATE-----) or an absolute path to a PEM file"
                    .into(),
            ));
        };
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("not valid PEM: {e}")))?;
        if certs.is_empty() {
            return Err(bad("holds no CERTIFICATE block".into()));
        }
        let mut probe = RootCertStore::empty();
        for c in &certs {
            probe
                .add(c.clone())
                .map_err(|e| bad(format!("a certificate cannot be a trust anchor: {e}")))?;
        }
        Ok(ExtraCa { certs, source })
    }

    fn key(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for c in &self.certs {
            h.update(Sha256::digest(c.as_ref()));
        }
        h.finalize().into()
    }
}

/// Restores PEM line structure where whitespace replaced the newlines (a kernel argument is
/// one line): armour lines stay whole, every other word is a line of base64.
fn pem_lines(text: &str) -> String {
    let mut out = String::new();
    let mut armour = false;
    for w in text.split_whitespace() {
        if armour {
            out.push(' ');
        } else if let Some(rest) = w.strip_prefix("-----") {
            armour = true;
            out.push_str(w);
            // A one-word armour line such as `-----BEGIN-----`.
            if rest.len() > 5 && rest.ends_with("-----") {
                armour = false;
                out.push('\n');
            }
            continue;
        }
        out.push_str(w);
        if !armour || w.ends_with("-----") {
            armour = false;
            out.push('\n');
        }
    }
    out
}

/// The system store, read once per process (also `kateskit node stage`'s roots).
pub(crate) fn native_roots() -> &'static [CertificateDer<'static>] {
    static NATIVE: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    NATIVE.get_or_init(|| {
        let r = rustls_native_certs::load_native_certs();
        for e in &r.errors {
            tracing::debug!("system trust store: {e}");
        }
        r.certs
    })
}

/// The roots for one trust configuration: the system certificates that parse, else webpki's,
/// plus `extra`.
pub fn root_store(native: &[CertificateDer<'static>], extra: Option<&ExtraCa>) -> RootCertStore {
    let mut store = RootCertStore::empty();
    let (added, _unparsable) = store.add_parsable_certificates(native.iter().cloned());
    if added == 0 {
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if let Some(x) = extra {
        // Checked in ExtraCa::load.
        store.add_parsable_certificates(x.certs.iter().cloned());
    }
    store
}

/// TLS that trusts what the machine trusts: the system store (`SSL_CERT_FILE` replaces it),
/// else webpki's roots. Release fetches, image pulls and chart archives use it; their content
/// is pinned by SHA-256 besides.
pub fn system_tls() -> Result<rustls::ClientConfig, String> {
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(root_store(native_roots(), None))
    .with_no_client_auth())
}

/// The client for `extra` (or none), built on first use and then shared. With `pin`
/// (`agent.config_tls_sha256`) the server's key alone is trusted and `extra` is not consulted.
pub fn client(extra: Option<&ExtraCa>, pin: Option<[u8; 32]>) -> Result<Client, FetchError> {
    type Key = ([u8; 32], Option<[u8; 32]>);
    static CLIENTS: Mutex<Vec<(Key, Client)>> = Mutex::new(Vec::new());
    let key = (extra.map(ExtraCa::key).unwrap_or_default(), pin);
    let mut cache = CLIENTS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, c)) = cache.iter().find(|(k, _)| *k == key) {
        return Ok(c.clone());
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| FetchError::Client(e.to_string()))?;
    let tls = match pin {
        Some(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(super::spki::SpkiPin::new(pin))
            .with_no_client_auth(),
        None => builder
            .with_root_certificates(root_store(native_roots(), extra))
            .with_no_client_auth(),
    };
    let c = Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(no_downgrade())
        .build()
        .map_err(|e| FetchError::Client(e.to_string()))?;
    cache.push((key, c.clone()));
    Ok(c)
}

/// Follows up to 5 redirects, never from https:// to plain http://.
fn no_downgrade() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|a| {
        let was_https = a.previous().iter().any(|u| u.scheme() == "https");
        if was_https && a.url().scheme() != "https" {
            let to = crate::redact::url(a.url().as_str());
            a.error(format!("refusing a redirect from https:// to {to}"))
        } else if a.previous().len() > 5 {
            a.error("more than 5 redirects")
        } else {
            a.follow()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webpki_roots_only_when_the_system_store_is_empty() {
        let webpki = webpki_roots::TLS_SERVER_ROOTS.len();
        assert_eq!(root_store(&[], None).len(), webpki);
        let ca = rcgen::generate_simple_self_signed(vec!["ca".to_string()]).unwrap();
        let der = CertificateDer::from(ca.cert.der().to_vec());
        assert_eq!(root_store(std::slice::from_ref(&der), None).len(), 1);
        let extra = ExtraCa {
            certs: vec![der.clone()],
            source: "t".into(),
        };
        assert_eq!(root_store(&[], Some(&extra)).len(), webpki + 1);
        assert_eq!(root_store(&[der], Some(&extra)).len(), 2);
    }

    #[test]
    fn config_ca_as_pem_text_on_one_line_or_as_a_path() {
        let ca = rcgen::generate_simple_self_signed(vec!["ca".to_string()]).unwrap();
        let pem = ca.cert.pem();
        let root = tempfile::tempdir().unwrap();
        let env = super::super::test_env(root.path());
        let one_line = pem.split_whitespace().collect::<Vec<_>>().join(" ");
        let x = ExtraCa::load(&env, &one_line, "kernel argument").unwrap();
        assert_eq!(x.certs[0].as_ref(), ca.cert.der().as_ref());
        assert_eq!(ExtraCa::load(&env, &pem, "t").unwrap().certs, x.certs);
        std::fs::create_dir_all(root.path().join("etc/kateskit")).unwrap();
        std::fs::write(root.path().join("etc/kateskit/ca.pem"), &pem).unwrap();
        assert_eq!(
            ExtraCa::load(&env, "/etc/kateskit/ca.pem", "t")
                .unwrap()
                .certs,
            x.certs
        );
        let e = ExtraCa::load(&env, "/etc/kateskit/none.pem", "image defaults").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("agent.config_ca (from image defaults): reading "),
            "{e}"
        );
        let e = ExtraCa::load(&env, "ca.pem", "t").unwrap_err().to_string();
        assert!(e.contains("absolute path"), "{e}");
        let e = ExtraCa::load(
            &env,
            "-----BEGIN CERTIFICATE----- AAAA -----END CERTIFICATE-----",
            "t",
        );
        assert!(e.is_err());
    }
}
