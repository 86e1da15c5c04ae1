//! Downloading a zero map for `install --image-url`: with the image's client and timeouts,
//! retried like the image's HEAD, and read only up to [`MAX_BYTES`] so a wrong URL (the image
//! itself, say) cannot fill memory. A map that cannot be fetched or parsed is an error, never
//! a silent full download: the user or the boot script asked for it.

use std::io::Read;
use std::time::Duration;

use reqwest::blocking::Client;

use super::http_range::{retryable, retrying, Try};
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
fn get(client: &Client, url: &str) -> Try<Vec<u8>> {
    let resp = match client.get(url).send() {
        Ok(resp) => resp,
        Err(e) => return Try::Again(describe(&e)),
    };
    let s = resp.status();
    if retryable(s) {
        return Try::Again(format!("HTTP {s}"));
    }
    if !s.is_success() {
        return Try::Fail(PullError::Http {
            url: url.to_string(),
            msg: format!("HTTP {s}; check the URL"),
        });
    }
    let mut body = Vec::new();
    match resp.take(MAX_BYTES as u64 + 1).read_to_end(&mut body) {
        Ok(_) => Try::Done(body),
        Err(e) => Try::Again(format!("reading the body: {e}")),
    }
}

/// Fetches and parses the map at `url` within `attempts` connections.
pub fn fetch(
    client: &Client,
    url: &str,
    attempts: u32,
    backoff: Duration,
) -> Result<ZeroMap, ZeroMapFetchError> {
    let body = retrying(url, "zero map", attempts, backoff, || get(client, url))?;
    Ok(ZeroMap::parse(&body, &redact::url(url))?)
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
