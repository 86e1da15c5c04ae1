//! The HTTPS listener: one thread per connection, one request per connection
//! (`Connection: close`), every request authenticated, logged, then answered after any hook it
//! set off has run.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::control::Shared;
use super::routes::{dispatch, status};
use super::tls::{authenticate, Who};
use super::Request;

/// Request heads and bodies larger than this are refused (the orchestrator's are small).
const MAX_REQUEST: usize = 4 << 20;

/// Accepts until `shared.stop` is set (checked every 20 ms).
pub(super) fn serve(l: TcpListener, shared: Arc<Shared>) {
    l.set_nonblocking(true).unwrap();
    while !shared.stop.load(Ordering::SeqCst) {
        match l.accept() {
            Ok((tcp, _)) => {
                let shared = shared.clone();
                std::thread::spawn(move || connection(tcp, &shared));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

struct Head {
    method: String,
    target: String,
    content_type: Option<String>,
    chunked: bool,
}

/// Reads one request (head, and a `Content-Length` body); None when the peer goes away or
/// takes longer than 10 s.
fn read_request<S: Read>(s: &mut S) -> Option<(Head, Vec<u8>)> {
    let (mut buf, mut chunk) = (Vec::new(), [0u8; 8192]);
    let t0 = Instant::now();
    let end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        if t0.elapsed() > Duration::from_secs(10) || buf.len() > MAX_REQUEST {
            return None;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let text = String::from_utf8_lossy(&buf[..end]).to_string();
    let mut lines = text.lines();
    let mut first = lines.next()?.split_whitespace();
    let (method, target) = (first.next()?.to_string(), first.next()?.to_string());
    let header = |name: &str| {
        text.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let want: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let chunked = header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if want > MAX_REQUEST {
        return None;
    }
    while buf.len() < end + want {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    buf.truncate(end + want);
    let body = buf.split_off(end);
    Some((
        Head {
            method,
            target,
            content_type: header("content-type"),
            chunked,
        },
        body,
    ))
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        _ => "Internal Server Error",
    }
}

fn connection(tcp: TcpStream, shared: &Shared) {
    tcp.set_nonblocking(false).ok();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).ok();
    tcp.set_write_timeout(Some(Duration::from_secs(10))).ok();
    let Ok(conn) = rustls::ServerConnection::new(shared.tls.config.clone()) else {
        return;
    };
    let mut s = rustls::StreamOwned::new(conn, tcp);
    let Some((head, body)) = read_request(&mut s) else {
        return;
    };
    let who = authenticate(&shared.tls.client_ca_der, s.conn.peer_certificates());
    let (code, out, user) = {
        let mut w = shared.world.lock().unwrap();
        let (user, r) = match who {
            Who::Anonymous => (
                String::new(),
                status(401, "Unauthorized", "Unauthorized".into()),
            ),
            Who::User { name, admin: false } => {
                let msg = format!(
                    "forbidden: User \"{name}\" cannot {} path \"{}\"",
                    head.method.to_lowercase(),
                    head.target
                );
                (name, status(403, "Forbidden", msg))
            }
            Who::User { name, admin: true } if head.chunked => (
                name,
                status(
                    411,
                    "LengthRequired",
                    "stand-in API: chunked request bodies are not modelled; send Content-Length"
                        .into(),
                ),
            ),
            Who::User { name, .. } => (
                name,
                dispatch(
                    &mut w,
                    &head.method,
                    &head.target,
                    head.content_type.as_deref(),
                    &body,
                ),
            ),
        };
        let mut summary = String::from_utf8_lossy(&body).to_string();
        if summary.len() > 1024 {
            let mut cut = 1024;
            while !summary.is_char_boundary(cut) {
                cut -= 1;
            }
            summary.truncate(cut);
        }
        let at = w.start.elapsed();
        w.log.push(Request {
            at,
            method: head.method.clone(),
            path: head.target.clone(),
            content_type: head.content_type.clone(),
            body: summary,
            status: r.0,
            user: user.clone(),
        });
        (r.0, r.1, user)
    };
    let _ = user;
    shared.fire_hooks();
    let (ctype, bytes) = match &out {
        Value::String(t) => ("text/plain; charset=utf-8", t.clone().into_bytes()),
        v => ("application/json", v.to_string().into_bytes()),
    };
    let head = format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-cache, private\r\nConnection: close\r\n\r\n",
        reason(code),
        bytes.len()
    );
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(&bytes);
    s.conn.send_close_notify();
    let _ = s.flush();
}
