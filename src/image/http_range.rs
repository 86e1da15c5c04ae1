//! Resumable HTTP reads shared by `image pull` (into a part file) and `install --image-url`
//! (straight onto a disk): one GET from a byte offset, read as an HTTP Range where the server
//! takes one, and a reader that reconnects from the byte it got to after a dropped connection,
//! within a fixed number of attempts.

use std::io::Read;
use std::time::Duration;

use reqwest::blocking::{Client, Response};
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, RANGE};
use reqwest::StatusCode;

use super::pull::{describe, PullError};

/// What one GET from byte `from` gave.
pub(crate) enum Opened {
    /// A body whose first byte is byte `start` of the file: `from` (206), or 0 (200: the
    /// server ignored the Range). `total` is the file's size where the server said it.
    Body {
        resp: Response,
        start: u64,
        total: Option<u64>,
    },
    /// 416 with the file's size equal to `from`: nothing is left to read.
    Complete,
}

/// Why one GET did not give a body.
pub(crate) enum Attempt {
    /// Worth another try (connection trouble, 5xx, 429, 408).
    Retry(String),
    /// The server cannot resume at `from` (wrong Content-Range start, 416 for another size):
    /// start again from byte 0.
    Restart(String),
    Fatal(PullError),
}

fn header_u64(resp: &Response, name: reqwest::header::HeaderName) -> Option<&str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The total after the `/` of a Content-Range (`bytes 5-9/10`, `bytes */10`).
fn range_total(cr: &str) -> Option<u64> {
    cr.rsplit('/').next()?.parse().ok()
}

/// One GET of `url` from byte `from` (a Range request when `from > 0`).
pub(crate) fn open_from(client: &Client, url: &str, from: u64) -> Result<Opened, Attempt> {
    let mut req = client.get(url);
    if from > 0 {
        req = req.header(RANGE, format!("bytes={from}-"));
    }
    let resp = req.send().map_err(|e| Attempt::Retry(describe(&e)))?;
    let cr = header_u64(&resp, CONTENT_RANGE).unwrap_or("").to_string();
    match resp.status() {
        StatusCode::PARTIAL_CONTENT => {
            let start = cr
                .strip_prefix("bytes ")
                .and_then(|r| r.split('-').next())
                .and_then(|s| s.parse::<u64>().ok());
            if start != Some(from) {
                return Err(Attempt::Restart(format!(
                    "server resumed at {cr:?}, wanted byte {from}; restarting"
                )));
            }
            let total = range_total(&cr);
            Ok(Opened::Body {
                resp,
                start: from,
                total,
            })
        }
        StatusCode::OK => {
            let total = resp.content_length();
            Ok(Opened::Body {
                resp,
                start: 0,
                total,
            })
        }
        StatusCode::RANGE_NOT_SATISFIABLE if from > 0 => {
            if range_total(&cr) == Some(from) {
                return Ok(Opened::Complete);
            }
            Err(Attempt::Restart(
                "stale partial download; restarting".into(),
            ))
        }
        s if retryable(s) => Err(Attempt::Retry(format!("HTTP {s}"))),
        s => Err(Attempt::Fatal(PullError::Http {
            url: url.to_string(),
            msg: format!("HTTP {s}; check the URL"),
        })),
    }
}

/// What one try of a request came to: a result, a reason worth another try, or an error no
/// retry mends.
pub(crate) enum Try<T> {
    Done(T),
    Again(String),
    Fail(PullError),
}

/// Runs `once` up to `attempts` times, waiting [`delay`] between tries; `what` names the
/// request in the warning each failed try logs (without URL credentials).
pub(crate) fn retrying<T>(
    url: &str,
    what: &str,
    attempts: u32,
    backoff: Duration,
    mut once: impl FnMut() -> Try<T>,
) -> Result<T, PullError> {
    let mut last = String::new();
    for attempt in 1..=attempts.max(1) {
        match once() {
            Try::Done(v) => return Ok(v),
            Try::Fail(e) => return Err(e),
            Try::Again(why) => {
                tracing::warn!(url = %crate::redact::url(url), attempt, "{what} failed: {}", crate::redact::text(&why));
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
    })
}

/// The size a HEAD request reports (its Content-Length header), or `None` when it sends none.
/// Connection trouble, 5xx, 429 and 408 are retried within `attempts` (a server restarting
/// while a rack boots); any other status is an error naming it.
pub fn head_length(
    client: &Client,
    url: &str,
    attempts: u32,
    backoff: Duration,
) -> Result<Option<u64>, PullError> {
    retrying(url, "HEAD", attempts, backoff, || {
        match client.head(url).send() {
            Ok(resp) if resp.status().is_success() => {
                Try::Done(header_u64(&resp, CONTENT_LENGTH).and_then(|v| v.trim().parse().ok()))
            }
            Ok(resp) if retryable(resp.status()) => {
                Try::Again(format!("HEAD: HTTP {}", resp.status()))
            }
            Ok(resp) => Try::Fail(PullError::Http {
                url: url.to_string(),
                msg: format!("HEAD: HTTP {}; check the URL", resp.status()),
            }),
            Err(e) => Try::Again(describe(&e)),
        }
    })
}

/// 5xx, 429 and 408: the server may answer on a later try.
pub(crate) fn retryable(s: StatusCode) -> bool {
    s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS || s == StatusCode::REQUEST_TIMEOUT
}

/// An error with its causes (a body read's io::Error hides the timeout behind "error decoding
/// response body").
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        let c = cause.to_string();
        if !s.ends_with(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        src = cause.source();
    }
    s
}

/// The wait before attempt `attempt + 1`: `backoff` doubled per attempt, at most 16 times.
pub(crate) fn delay(backoff: Duration, attempt: u32) -> Duration {
    backoff * 2u32.saturating_pow(attempt.saturating_sub(1)).min(16)
}

/// Reads bytes `start..total` of `url` in order, reconnecting with a Range from the byte it got
/// to when a connection drops, closes early or fails; at most `attempts` connections in all.
pub struct ResumingReader {
    client: Client,
    url: String,
    pos: u64,
    total: u64,
    resp: Option<Response>,
    attempts: u32,
    used: u32,
    /// Connections opened only because a skip dropped a healthy one: not failures.
    skipped: u32,
    backoff: Duration,
    last: String,
}

impl ResumingReader {
    pub fn new(
        client: Client,
        url: &str,
        total: u64,
        attempts: u32,
        backoff: Duration,
    ) -> ResumingReader {
        ResumingReader {
            client,
            url: url.to_string(),
            pos: 0,
            total,
            resp: None,
            attempts: attempts.max(1),
            used: 0,
            skipped: 0,
            backoff,
            last: String::new(),
        }
    }

    /// Bytes read so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Connections opened so far (1 when nothing dropped).
    pub fn connections(&self) -> u32 {
        self.used
    }

    fn fail(&mut self, msg: String) -> Result<(), PullError> {
        tracing::warn!(url = %crate::redact::url(&self.url), "download interrupted: {}", crate::redact::text(&msg));
        self.resp = None;
        self.last = msg;
        if self.used - self.skipped >= self.attempts {
            return Err(PullError::Exhausted {
                url: self.url.clone(),
                attempts: self.used - self.skipped,
                last: std::mem::take(&mut self.last),
            });
        }
        std::thread::sleep(delay(self.backoff, self.used));
        Ok(())
    }

    /// Opens a body that starts at `pos`; a server that ignored the Range has the bytes
    /// before `pos` skipped (they were read already).
    fn open(&mut self) -> Result<(), PullError> {
        self.used += 1;
        let opened = open_from(&self.client, &self.url, self.pos);
        let (mut resp, start, total) = match opened {
            Ok(Opened::Body { resp, start, total }) => (resp, start, total),
            Ok(Opened::Complete) => return self.fail("server says the file ends here".into()),
            Err(Attempt::Retry(m) | Attempt::Restart(m)) => return self.fail(m),
            Err(Attempt::Fatal(e)) => return Err(e),
        };
        if let Some(t) = total.filter(|t| *t != self.total) {
            return Err(PullError::Http {
                url: self.url.clone(),
                msg: format!(
                    "the file is now {t} bytes, it was {} when the download started; it changed on the server, run again",
                    self.total
                ),
            });
        }
        let mut skip = self.pos - start;
        let mut sink = vec![0u8; 64 * 1024];
        while skip > 0 {
            let n = skip.min(sink.len() as u64) as usize;
            match resp.read(&mut sink[..n]) {
                Ok(0) => {
                    return self.fail(format!(
                        "connection closed while skipping to byte {}",
                        self.pos
                    ))
                }
                Ok(k) => skip -= k as u64,
                Err(e) => {
                    return self.fail(format!("connection lost while skipping: {}", chain(&e)))
                }
            }
        }
        self.resp = Some(resp);
        Ok(())
    }

    /// Moves `n` bytes ahead undownloaded (zeros, says the map): the next read asks for a Range
    /// from there. That reconnection is no failure and uses up no attempt.
    pub fn skip(&mut self, n: u64) {
        let n = n.min(self.total - self.pos);
        if n == 0 {
            return;
        }
        self.pos += n;
        if self.resp.take().is_some() {
            self.skipped += 1;
        }
    }

    /// Fills `buf` completely (or up to the end of the file); returns the bytes read.
    pub fn read_full(&mut self, buf: &mut [u8]) -> Result<usize, PullError> {
        let want = (self.total - self.pos).min(buf.len() as u64) as usize;
        let mut got = 0;
        while got < want {
            let Some(resp) = self.resp.as_mut() else {
                self.open()?;
                continue;
            };
            match resp.read(&mut buf[got..want]) {
                Ok(0) => {
                    let msg = format!("connection closed at byte {} of {}", self.pos, self.total);
                    self.fail(msg)?;
                }
                Ok(n) => {
                    got += n;
                    self.pos += n as u64;
                }
                Err(e) => {
                    let msg = format!("connection lost at byte {}: {}", self.pos, chain(&e));
                    self.fail(msg)?;
                }
            }
        }
        Ok(got)
    }
}
