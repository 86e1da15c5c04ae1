//! Expected digests for downloads: a hex string from the user, or a line of a `SHA256SUMS` file
//! (the `sha256sum` format: `<hex>  <name>` or `<hex> *<name>`).

use super::pull::{client, describe, PullError};

/// Normalizes and checks a hex digest.
pub fn parse_sha256(hex_str: &str) -> Result<String, PullError> {
    let h = hex_str.trim().to_ascii_lowercase();
    if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(PullError::BadHex(hex_str.to_string()));
    }
    Ok(h)
}

/// Fetches a `SHA256SUMS` file and returns the digest for the last path segment of `url`.
pub fn sha256_from_sums(sums_url: &str, url: &str) -> Result<String, PullError> {
    let name = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_string();
    let http = |msg: String| PullError::Http {
        url: sums_url.to_string(),
        msg,
    };
    let resp = client()?
        .get(sums_url)
        .send()
        .map_err(|e| http(describe(&e)))?;
    if !resp.status().is_success() {
        return Err(http(format!("HTTP {}", resp.status())));
    }
    let text = resp.text().map_err(|e| http(describe(&e)))?;
    for line in text.lines() {
        let mut it = line.split_whitespace();
        if let (Some(sum), Some(file)) = (it.next(), it.next()) {
            if file.trim_start_matches('*').trim_start_matches("./") == name {
                return parse_sha256(sum);
            }
        }
    }
    Err(PullError::NoSum {
        sums_url: sums_url.to_string(),
        name,
    })
}
