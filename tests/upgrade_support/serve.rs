//! A release directory served over plain HTTP on 127.0.0.1 (the guest reaches it at
//! 10.0.2.2:PORT through QEMU's user networking): GET and HEAD of the files in one directory,
//! whole files only (a Range header is answered with the full file, as HTTP allows). Every
//! request is logged, so a test can tell what the node downloaded.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub struct Files {
    pub port: u16,
    /// "METHOD /path STATUS" per request, in arrival order.
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl Files {
    /// Serves `dir` until the test process ends.
    pub fn serve(dir: &Path) -> Files {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (dir, log) = (dir.to_path_buf(), requests.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (dir, log) = (dir.clone(), log.clone());
                std::thread::spawn(move || {
                    let _ = answer(conn, &dir, &log);
                });
            }
        });
        Files { port, requests }
    }
}

fn answer(conn: TcpStream, dir: &Path, log: &Mutex<Vec<String>>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    let mut r = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let file: Option<PathBuf> = path
        .strip_prefix('/')
        .filter(|n| !n.is_empty() && !n.contains('/') && !n.starts_with('.'))
        .map(|n| dir.join(n))
        .filter(|p| p.is_file());
    let mut w = conn;
    let status = match (&file, method.as_str()) {
        (Some(f), "GET" | "HEAD") => {
            let len = std::fs::metadata(f)?.len();
            write!(
                w,
                "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
            )?;
            if method == "GET" {
                std::io::copy(&mut std::fs::File::open(f)?, &mut w)?;
            }
            200
        }
        _ => {
            w.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
            404
        }
    };
    w.flush()?;
    log.lock()
        .unwrap()
        .push(format!("{method} {path} {status}"));
    Ok(())
}
