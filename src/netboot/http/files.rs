//! GET and HEAD of artifacts (kernel, initrd, images) from one directory: Content-Length always
//! (iPXE is orders of magnitude slower without it), ETag and Last-Modified, one byte range, path
//! confinement (`confine`), and admission control (`admission`) for bodies. Bodies are read
//! with positioned reads of `CHUNK` bytes on the blocking pool and written by hyper from those
//! buffers: not sendfile(2), which hyper cannot use (docs/netboot.md, "HTTP", has the numbers).

use std::fs::File;
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::response::Response;

use super::confine::ConfineError;
use super::range::{etag, none_match, parse_range, RangeAsk};
use super::{admission::Slot, ArtifactState, HttpEvent};

/// Bytes read and handed to hyper at a time.
pub const CHUNK: usize = 256 * 1024;

/// Reports a request once, when its body is finished or dropped (a client that went away).
struct Report {
    state: ArtifactState,
    event: HttpEvent,
    expected: u64,
    /// Shared with the stall watchdog, which may release it first.
    slot: Arc<Mutex<Option<Slot>>>,
    progress: Arc<AtomicU64>,
}

impl Drop for Report {
    fn drop(&mut self) {
        // Report before the slot frees, so events of one slot come in admission order.
        self.event.complete = self.event.bytes == self.expected;
        self.state.emit(self.event.clone());
        self.slot.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

fn plain(status: StatusCode, text: &str) -> Response {
    let mut r = Response::new(Body::from(format!("{text}\n")));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// The handler behind `router`: serves `uri.path()` beneath the artifact directory.
pub async fn serve_file(
    State(state): State<ArtifactState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    req: Request<Body>,
) -> Response {
    let method = req.method().clone();
    let raw_path = req.uri().path().to_string();
    let mut event = HttpEvent {
        client,
        method: method.to_string(),
        path: raw_path.clone(),
        status: 0,
        bytes: 0,
        complete: false,
    };
    let (resp, body) = respond(&state, &method, &raw_path, req.headers()).await;
    let mut resp = match body {
        Some((file, start, end)) if method == Method::GET => {
            event.status = resp.status().as_u16();
            match state.admission.enter().await {
                Ok(slot) => attach_body(resp, &state, event.clone(), slot, file, start, end),
                Err(busy) => {
                    let mut r = plain(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "too many artifact transfers at once; retry later",
                    );
                    r.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(busy.retry_after_s));
                    r
                }
            }
        }
        _ => resp,
    };
    if resp.status() != StatusCode::OK && resp.status() != StatusCode::PARTIAL_CONTENT
        || method == Method::HEAD
    {
        event.status = resp.status().as_u16();
        event.complete = true;
        state.emit(event);
    }
    resp.headers_mut()
        .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    resp
}

type Body3 = Option<(Arc<File>, u64, u64)>;

/// Headers and status for the request, and the byte range to send when there is a body.
async fn respond(
    state: &ArtifactState,
    method: &Method,
    raw_path: &str,
    headers: &HeaderMap,
) -> (Response, Body3) {
    if method != Method::GET && method != Method::HEAD {
        let mut r = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are served",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return (r, None);
    }
    let Ok(name) = percent_encoding::percent_decode_str(raw_path).decode_utf8() else {
        return (plain(StatusCode::BAD_REQUEST, "path is not UTF-8"), None);
    };
    let root = state.root.clone();
    let name = name.into_owned();
    let opened = tokio::task::spawn_blocking(move || {
        let (f, len) = root.open_file(&name)?;
        let modified = f
            .metadata()
            .and_then(|m| m.modified())
            .map_err(|e| ConfineError::Io(e.to_string()))?;
        Ok((f, len, modified))
    })
    .await
    .unwrap_or_else(|e| Err(ConfineError::Io(e.to_string())));
    let (file, len, modified) = match opened {
        Ok(o) => o,
        Err(e) => {
            let status = match e {
                ConfineError::NotFound | ConfineError::NotRegular | ConfineError::Empty => {
                    StatusCode::NOT_FOUND
                }
                ConfineError::DotDot | ConfineError::Control => StatusCode::BAD_REQUEST,
                ConfineError::Escapes => StatusCode::FORBIDDEN,
                ConfineError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            return (plain(status, &e.to_string()), None);
        }
    };
    let tag = etag(len, modified);
    let last_modified = httpdate::fmt_http_date(modified);
    let mut r = Response::new(Body::empty());
    let h = r.headers_mut();
    h.insert(header::ETAG, HeaderValue::from_str(&tag).expect("hex etag"));
    h.insert(
        header::LAST_MODIFIED,
        HeaderValue::from_str(&last_modified).expect("http date"),
    );
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let not_modified = match (text(header::IF_NONE_MATCH), text(header::IF_MODIFIED_SINCE)) {
        (Some(inm), _) => none_match(inm, &tag),
        (None, Some(ims)) => httpdate::parse_http_date(ims)
            .is_ok_and(|since| httpdate::fmt_http_date(since) == last_modified || since > modified),
        _ => false,
    };
    if not_modified {
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        return (r, None);
    }
    // If-Range: the range holds only while the validator still matches.
    let range_ok = text(header::IF_RANGE).is_none_or(|v| v == tag || v == last_modified);
    let ask = if range_ok {
        parse_range(text(header::RANGE), len)
    } else {
        RangeAsk::Full
    };
    let (start, end) = match ask {
        RangeAsk::Full => (0, len),
        RangeAsk::Part { start, end } => {
            *r.status_mut() = StatusCode::PARTIAL_CONTENT;
            let cr = format!("bytes {start}-{}/{len}", end - 1);
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&cr).expect("digits"),
            );
            (start, end)
        }
        RangeAsk::Unsatisfiable => {
            let mut r = plain(StatusCode::RANGE_NOT_SATISFIABLE, "range outside the file");
            let cr = format!("bytes */{len}");
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&cr).expect("digits"),
            );
            return (r, None);
        }
    };
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    (r, Some((Arc::new(file), start, end)))
}

/// Streams `start..end` of `file` as the body, holding `slot` until the body ends.
fn attach_body(
    resp: Response,
    state: &ArtifactState,
    event: HttpEvent,
    slot: Slot,
    file: Arc<File>,
    start: u64,
    end: u64,
) -> Response {
    let slot = Arc::new(Mutex::new(Some(slot)));
    let progress = Arc::new(AtomicU64::new(0));
    watch_stall(Arc::downgrade(&slot), progress.clone(), state.stall_timeout);
    let report = Report {
        state: state.clone(),
        event,
        expected: end - start,
        slot,
        progress,
    };
    let stream = futures_util::stream::unfold(
        (file, start, report),
        move |(file, pos, mut report)| async move {
            if pos >= end {
                return None;
            }
            let n = CHUNK.min((end - pos) as usize);
            let f = file.clone();
            let read = tokio::task::spawn_blocking(move || {
                let mut buf = vec![0u8; n];
                f.read_exact_at(&mut buf, pos).map(|_| buf)
            })
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
            match read {
                Ok(buf) => {
                    report.event.bytes += n as u64;
                    report.progress.store(report.event.bytes, Ordering::Relaxed);
                    Some((
                        Ok::<_, std::io::Error>(Bytes::from(buf)),
                        (file, pos + n as u64, report),
                    ))
                }
                // The file shrank or failed: end the body short, so the client sees a
                // truncated transfer instead of wrong bytes.
                Err(e) => Some((Err(e), (file, end, report))),
            }
        },
    );
    let (parts, _) = resp.into_parts();
    Response::from_parts(parts, Body::from_stream(stream))
}

/// Releases a body's slot when the client took nothing for `stall` (hyper asks for the next
/// chunk only once the previous one is written), so a stalled or very slow client cannot keep
/// the rack waiting; its connection goes on without a slot. Ends with the body.
fn watch_stall(
    slot: std::sync::Weak<Mutex<Option<Slot>>>,
    progress: Arc<AtomicU64>,
    stall: Duration,
) {
    let tick = (stall / 4).max(Duration::from_millis(50));
    tokio::spawn(async move {
        let mut last = progress.load(Ordering::Relaxed);
        let mut since = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(tick).await;
            let Some(slot) = slot.upgrade() else { return };
            let now = progress.load(Ordering::Relaxed);
            if now != last {
                last = now;
                since = tokio::time::Instant::now();
            } else if since.elapsed() >= stall {
                slot.lock().unwrap_or_else(|p| p.into_inner()).take();
                return;
            }
        }
    });
}
