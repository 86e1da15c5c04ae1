//! Downloading a zero map for `install --image-url`: with the image's client and timeouts,
//! retried like the image's HEAD, and read only up to [`MAX_BYTES`] so a wrong URL (the image
//! itself, say) cannot fill memory. A map that cannot be fetched or parsed is an error, never
//! a silent full download: the user or the boot script asked for it.

use std::io::Read;
use std::time::Duration;

use reqwest::blocking::Client;
use reqwest::StatusCode;

use super::http_range::delay;
use super::pull::{describe, PullError};
use super::zero_map::{ZeroMap, ZeroMapError, MAX_BYTES};
use crate::redact;

#[derive(Debug, thiserror::Error)]
pub enum ZeroMapFetchError {
    #[error("fetching the zero map: {0}; check --image-zeros / kateskit.install.image_zeros=")]
    Pull(#[from] PullError),
    #[error(transparent)]
    Map(#[from] ZeroMapError),
    #[error("{}: the zero map is for an image of {map} bytes, but the image at {} is {image} bytes; the map belongs to another image: regenerate it, or restart `kateskit netboot serve`", redact::url(.map_url), redact::url(.image_url))]
    Length {
        map_url: String,
        image_url: String,
        map: u64,
        image: u64,
    },
}

/// One GET of the map's text, at most `MAX_BYTES + 1` bytes read (one more tells "too big").
fn get(client: &Client, url: &str) -> Result<Vec<u8>, Result<String, PullError>> {
    let resp = client.get(url).send().map_err(|e| Ok(describe(&e)))?;
    let s = resp.status();
    if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS || s == StatusCode::REQUEST_TIMEOUT
    {
        return Err(Ok(format!("HTTP {s}")));
    }
    if !s.is_success() {
        return Err(Err(PullError::Http {
            url: url.to_string(),
            msg: format!("HTTP {s}; check the URL"),
        }));
    }
    let mut body = Vec::new();
    resp.take(MAX_BYTES as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| Ok(format!("reading the body: {e}")))?;
    Ok(body)
}

/// Fetches and parses the map at `url` within `attempts` connections.
pub fn fetch(
    client: &Client,
    url: &str,
    attempts: u32,
    backoff: Duration,
) -> Result<ZeroMap, ZeroMapFetchError> {
    let mut last = String::new();
    for attempt in 1..=attempts.max(1) {
        match get(client, url) {
            Ok(body) => return Ok(ZeroMap::parse(&body, &redact::url(url))?),
            Err(Err(e)) => return Err(e.into()),
            Err(Ok(why)) => {
                tracing::warn!(url = %redact::url(url), attempt, "zero map: {}", redact::text(&why));
                last = why;
            }
        }
        if attempt < attempts {
            std::thread::sleep(delay(backoff, attempt));
        }
    }
    Err(PullError::Exhausted {
        url: url.to_string(),
        attempts: attempts.max(1),
        last,
    }
    .into())
}

/// Checks that `map` describes an image of `image_len` bytes.
pub fn check_len(
    map: &ZeroMap,
    map_url: &str,
    image_url: &str,
    image_len: u64,
) -> Result<(), ZeroMapFetchError> {
    if map.image_len() != image_len {
        return Err(ZeroMapFetchError::Length {
            map_url: map_url.to_string(),
            image_url: image_url.to_string(),
            map: map.image_len(),
            image: image_len,
        });
    }
    Ok(())
}
