//! The one place a supervisor's CA is pinned: `/cacerts` is fetched without trust, its
//! `hashCA` compared with the join token's pin, and only then is a client built that trusts
//! that CA alone. The join check and the choice of supervisor both go through it.

use std::time::Duration;

use reqwest::blocking::Client;

use crate::pki::hash_ca;

#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("GET {url}/cacerts: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("GET {url}/cacerts: HTTP {status}; is {url} a k3s supervisor?")]
    Status { url: String, status: u16 },
    #[error("{url}/cacerts: {reason}")]
    BadCa { url: String, reason: String },
    #[error("supervisor {url} serves a cluster CA with hash {served}, but the join token pins {pinned}: this is a wrong token for this cluster or a man-in-the-middle; refusing to join")]
    Mismatch {
        url: String,
        served: String,
        pinned: String,
    },
    #[error("building HTTP client: {0}")]
    Client(String),
}

/// A supervisor whose CA matched the pin.
pub struct PinnedCa {
    /// `hashCA` of what `/cacerts` served (equal to the pin).
    pub hash: String,
    /// A client that trusts only the served CA, for every later request.
    pub client: Client,
}

/// A client that accepts any certificate: only for `/cacerts` and the unauthenticated `/ping`,
/// whose answers are checked against the pin before anything is trusted.
pub fn insecure(timeout: Duration) -> Result<Client, PinError> {
    Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .map_err(|e| PinError::Client(e.to_string()))
}

/// Fetches `url/cacerts` with `insecure`, checks it against `pinned` and returns a client
/// trusting that CA alone (requests bounded by `timeout`).
pub fn pin_ca(
    insecure: &Client,
    url: &str,
    pinned: &str,
    timeout: Duration,
) -> Result<PinnedCa, PinError> {
    let unreachable = |source| PinError::Unreachable {
        url: url.to_string(),
        source,
    };
    let r = insecure
        .get(format!("{url}/cacerts"))
        .send()
        .map_err(unreachable)?;
    let status = r.status().as_u16();
    let ca = r.bytes().map_err(unreachable)?;
    if status != 200 {
        return Err(PinError::Status {
            url: url.to_string(),
            status,
        });
    }
    let bad = |reason: String| PinError::BadCa {
        url: url.to_string(),
        reason,
    };
    let served = hash_ca(&ca).map_err(|e| bad(e.to_string()))?;
    if served != pinned {
        return Err(PinError::Mismatch {
            url: url.to_string(),
            served,
            pinned: pinned.to_string(),
        });
    }
    let roots = reqwest::Certificate::from_pem_bundle(&ca).map_err(|e| bad(e.to_string()))?;
    let mut b = Client::builder()
        .tls_built_in_root_certs(false)
        .timeout(timeout)
        .connect_timeout(timeout);
    for r in roots {
        b = b.add_root_certificate(r);
    }
    let client = b.build().map_err(|e| PinError::Client(e.to_string()))?;
    Ok(PinnedCa {
        hash: served,
        client,
    })
}
