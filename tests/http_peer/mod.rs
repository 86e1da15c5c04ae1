//! HTTP peers for tests/install_url.rs: Debian's nginx serving a directory on 127.0.0.1 (Range
//! and HEAD as a real server does them), and a fault proxy in front of it that cuts response
//! bodies or drops Content-Length, recording the requests it forwarded and the body bytes it
//! sent.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// nginx on a free 127.0.0.1 port, stopped on drop.
pub struct Nginx {
    child: Child,
    pub port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Nginx {
    /// `None` (and why, printed) when nginx is not installed.
    pub fn start(root: &Path, work: &Path) -> Option<Nginx> {
        if Command::new("nginx").arg("-v").output().is_err() {
            eprintln!("skipped: nginx is not installed (tests/debian-packages.txt lists it)");
            return None;
        }
        let port = free_port();
        let conf = work.join("nginx.conf");
        let w = work.display();
        std::fs::write(
            &conf,
            format!(
                "daemon off; user root; worker_processes 1; pid {w}/nginx.pid; error_log {w}/error.log;\n\
                 events {{ worker_connections 64; }}\n\
                 http {{ access_log off; client_body_temp_path {w}/b; proxy_temp_path {w}/p;\n\
                 fastcgi_temp_path {w}/f; uwsgi_temp_path {w}/u; scgi_temp_path {w}/s;\n\
                 server {{ listen 127.0.0.1:{port}; root {}; }} }}\n",
                root.display()
            ),
        )
        .unwrap();
        let child = Command::new("nginx")
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(work)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let n = Nginx { child, port };
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "nginx did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(n)
    }
}

impl Drop for Nginx {
    /// SIGTERM first, so the master stops its workers (SIGKILL would orphan them, still
    /// listening); SIGKILL only if it has not exited within 5 s.
    fn drop(&mut self) {
        // SAFETY: kill(2) on the pid of a child this struct spawned and has not reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the proxy does to responses.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// Passes everything (to count what a client downloaded).
    Pass,
    /// Closes the first GET after this many body bytes; later ones pass.
    CutOnce(usize),
    /// Closes every GET after this many body bytes.
    CutEvery(usize),
    /// Removes Content-Length from every response (bodies end when the connection closes).
    NoLength,
    /// Every GET sends this many body bytes, then nothing for 20 s (the connection stays open).
    StallEvery(usize),
}

/// A one-request-per-connection proxy to `127.0.0.1:upstream`.
pub struct Proxy {
    pub port: u16,
    /// Every request head forwarded, in order.
    pub requests: Arc<Mutex<Vec<String>>>,
    /// Response body bytes sent to clients, over all connections.
    pub body_bytes: Arc<AtomicU64>,
}

impl Proxy {
    pub fn start(upstream: u16, fault: Fault) -> Proxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let reqs = requests.clone();
        let body_bytes = Arc::new(AtomicU64::new(0));
        let sent = body_bytes.clone();
        std::thread::spawn(move || {
            let mut gets = 0usize;
            for c in l.incoming() {
                let Ok(c) = c else { continue };
                let reqs = reqs.clone();
                let head = read_head(&c);
                let is_get = head.starts_with("GET ");
                let cut = match fault {
                    Fault::CutOnce(n) if is_get && gets == 0 => Some(n),
                    Fault::CutEvery(n) | Fault::StallEvery(n) if is_get => Some(n),
                    _ => None,
                };
                gets += usize::from(is_get);
                reqs.lock().unwrap().push(head.clone());
                let strip = matches!(fault, Fault::NoLength);
                let stall = matches!(fault, Fault::StallEvery(_));
                let sent = sent.clone();
                std::thread::spawn(move || forward(c, &head, upstream, cut, strip, stall, &sent));
            }
        });
        Proxy {
            port,
            requests,
            body_bytes,
        }
    }

    /// Response body bytes sent so far.
    pub fn sent(&self) -> u64 {
        self.body_bytes.load(Ordering::SeqCst)
    }

    pub fn ranges(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter_map(|r| {
                r.lines()
                    .find(|l| l.to_ascii_lowercase().starts_with("range:"))
                    .map(|l| l[6..].trim().to_string())
            })
            .collect()
    }
}

/// Reads up to the blank line (bounded in time and size).
fn read_head(mut c: &TcpStream) -> String {
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16384 {
        match c.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

fn forward(
    mut c: TcpStream,
    head: &str,
    upstream: u16,
    cut: Option<usize>,
    strip: bool,
    stall: bool,
    sent: &AtomicU64,
) {
    let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    up.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // One request per connection, so a cut is the end of that connection only.
    let head: String = head
        .lines()
        .filter(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    let _ = up.write_all(format!("{head}Connection: close\r\n\r\n").as_bytes());
    let resp_head = read_head(&up);
    let mut out: String = resp_head
        .lines()
        .filter(|l| !l.is_empty())
        .filter(|l| !(strip && l.to_ascii_lowercase().starts_with("content-length:")))
        .map(|l| format!("{l}\r\n"))
        .collect();
    out.push_str("\r\n");
    if c.write_all(out.as_bytes()).is_err() {
        return;
    }
    let mut left = cut.unwrap_or(usize::MAX);
    let mut buf = vec![0u8; 64 * 1024];
    while left > 0 {
        let n = match up.read(&mut buf[..left.min(64 * 1024)]) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if c.write_all(&buf[..n]).is_err() {
            break;
        }
        sent.fetch_add(n as u64, Ordering::SeqCst);
        left -= n;
    }
    if stall && cut.is_some() {
        std::thread::sleep(Duration::from_secs(20));
    }
    let _ = c.shutdown(Shutdown::Both);
}
