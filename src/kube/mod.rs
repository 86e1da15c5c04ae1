//! A small blocking client for the Kubernetes API: the verbs `kateskit upgrade` needs (get,
//! list, JSON merge patch, eviction POST), trusting only the cluster's server CA and presenting
//! an admin client certificate. Errors carry the HTTP status and the API's `Status` message.

mod access;
pub mod objects;

use std::time::Duration;

use serde_json::Value;

pub use access::{Access, AccessError};

/// Longest single API call; polling loops above it have their own deadlines.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error("building the API client for {server}: {source}")]
    Build {
        server: String,
        #[source]
        source: reqwest::Error,
    },
    /// The API could not be reached or did not answer in time.
    #[error("{method} {url}: {source}")]
    Transport {
        method: &'static str,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The API answered with an error status; `message` is its `Status.message` when it sent one.
    #[error("{method} {url}: HTTP {status}{}: {message}", reason.as_deref().map(|r| format!(" {r}")).unwrap_or_default())]
    Api {
        method: &'static str,
        url: String,
        status: u16,
        reason: Option<String>,
        message: String,
    },
    #[error("{method} {url}: response is not JSON: {source}")]
    Decode {
        method: &'static str,
        url: String,
        #[source]
        source: reqwest::Error,
    },
}

impl KubeError {
    /// The HTTP status of an API error; `None` for transport and local errors.
    pub fn status(&self) -> Option<u16> {
        match self {
            KubeError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Content type of a JSON merge patch (RFC 7386), which the API requires for `merge_patch`.
pub const MERGE_PATCH: &str = "application/merge-patch+json";

/// One API server, one identity.
pub struct Client {
    server: String,
    http: reqwest::blocking::Client,
}

impl Client {
    pub fn new(access: &Access) -> Result<Client, KubeError> {
        let build = |source| KubeError::Build {
            server: access.server.clone(),
            source,
        };
        let mut b = reqwest::blocking::Client::builder()
            .tls_built_in_root_certs(false)
            .https_only(true)
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT);
        for c in reqwest::Certificate::from_pem_bundle(access.ca_pem.as_bytes()).map_err(build)? {
            b = b.add_root_certificate(c);
        }
        let mut id = access.cert_pem.clone().into_bytes();
        id.push(b'\n');
        id.extend_from_slice(access.key_pem.expose().as_bytes());
        b = b.identity(reqwest::Identity::from_pem(&id).map_err(build)?);
        Ok(Client {
            server: access.server.trim_end_matches('/').to_string(),
            http: b.build().map_err(build)?,
        })
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// GET `path` (e.g. `/api/v1/nodes/n1`), decoded as JSON.
    pub fn get(&self, path: &str) -> Result<Value, KubeError> {
        let url = self.url(path);
        self.send("GET", url.clone(), self.http.get(&url))
    }

    /// GET `path` with query parameters (a list with `fieldSelector`, say).
    pub fn get_query(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, KubeError> {
        let url = self.url(path);
        self.send("GET", url.clone(), self.http.get(&url).query(query))
    }

    /// The `items` of a list.
    pub fn list(&self, path: &str, query: &[(&str, &str)]) -> Result<Vec<Value>, KubeError> {
        let mut v = self.get_query(path, query)?;
        Ok(match v.get_mut("items").map(Value::take) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        })
    }

    /// PATCH `path` with a JSON merge patch (`null` deletes a key).
    pub fn merge_patch(&self, path: &str, patch: &Value) -> Result<Value, KubeError> {
        let url = self.url(path);
        let req = self
            .http
            .patch(&url)
            .header(reqwest::header::CONTENT_TYPE, MERGE_PATCH)
            .header(reqwest::header::ACCEPT, "application/json")
            .body(patch.to_string());
        self.send("PATCH", url, req)
    }

    /// POST a JSON body to `path` (an eviction, say).
    pub fn post(&self, path: &str, body: &Value) -> Result<Value, KubeError> {
        let url = self.url(path);
        let req = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body.to_string());
        self.send("POST", url, req)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server)
    }

    fn send(
        &self,
        method: &'static str,
        url: String,
        req: reqwest::blocking::RequestBuilder,
    ) -> Result<Value, KubeError> {
        let r = req.send().map_err(|source| KubeError::Transport {
            method,
            url: url.clone(),
            source,
        })?;
        let status = r.status();
        if status.is_success() {
            return r.json().map_err(|source| KubeError::Decode {
                method,
                url,
                source,
            });
        }
        let body: Value = r.json().unwrap_or(Value::Null);
        let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
        Err(KubeError::Api {
            method,
            url,
            status: status.as_u16(),
            reason: text("reason"),
            message: text("message")
                .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_string()),
        })
    }
}
