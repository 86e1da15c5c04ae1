//! A STAND-IN chart repository (plain HTTP on 127.0.0.1, not a Helm repository): it serves one
//! small fake archive per locked component, and a copy of bundle/charts.toml points every `url`
//! at it with the fake archive's SHA-256 as `digest`. Agent runs on servers get this lock through
//! `KATESKIT_CHART_LOCK`, so they verify and install archives without reaching the internet.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// The fake archive served for `component`.
pub fn archive(component: &str) -> Vec<u8> {
    format!("stand-in chart archive for {component}\n").into_bytes()
}

pub fn digest(body: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(body)))
}

/// The bundled lock with each component's url/digest replaced by `entry(component)`;
/// `None` drops the digest (and sets `verified = false`).
pub fn lock_text(entry: impl Fn(&str) -> (String, Option<String>)) -> String {
    let mut t: toml::Table = toml::from_str(kateskit::bundle::charts::LOCK).unwrap();
    // `[k3s]` is the Kubernetes version the pins are held to, not a chart.
    for (component, v) in t.iter_mut().filter(|(k, _)| *k != "k3s") {
        let tab = v.as_table_mut().unwrap();
        let (url, digest) = entry(component);
        tab.insert("url".into(), url.into());
        match digest {
            Some(d) => {
                tab.insert("digest".into(), d.into());
                tab.insert("verified".into(), true.into());
            }
            None => {
                tab.remove("digest");
                tab.insert("verified".into(), false.into());
            }
        }
    }
    toml::to_string(&t).unwrap()
}

/// Serves `routes` (path → body, status 200) and returns the base URL.
pub fn serve(routes: Vec<(String, Vec<u8>)>) -> String {
    let routes = routes
        .into_iter()
        .map(|(p, b)| (&*Box::leak(p.into_boxed_str()), 200u16, b))
        .collect();
    format!("http://127.0.0.1:{}", super::http_server(routes))
}

/// The process-wide stand-in serving a good archive for every locked component, and its lock.
pub fn shared_lock() -> &'static Path {
    static LOCK: OnceLock<PathBuf> = OnceLock::new();
    LOCK.get_or_init(|| {
        let components: Vec<String> = toml::from_str::<toml::Table>(kateskit::bundle::charts::LOCK)
            .unwrap()
            .keys()
            .filter(|k| *k != "k3s")
            .cloned()
            .collect();
        let base = serve(
            components
                .iter()
                .map(|c| (format!("/{c}.tgz"), archive(c)))
                .collect(),
        );
        let text = lock_text(|c| (format!("{base}/{c}.tgz"), Some(digest(&archive(c)))));
        let dir = tempfile::tempdir().unwrap().keep();
        let path = dir.join("charts.toml");
        std::fs::write(&path, text).unwrap();
        path
    })
}
