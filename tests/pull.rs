//! `image pull` against a stand-in HTTP server on 127.0.0.1 (std TcpListener, one thread per
//! connection) that can cut the first transfer short and can ignore Range requests.

mod image_common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use image_common::kateskit;
use kateskit::image::pull::{self, PullError, PullOptions};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// (path, Range header) of every request, in order.
type RequestLog = Mutex<Vec<(String, Option<String>)>>;

#[derive(Clone, Default)]
struct Behaviour {
    /// Close the first image response after this many body bytes.
    cut_first_after: Option<usize>,
    /// Answer 200 with the whole body even when a Range was asked for.
    ignore_range: bool,
}

/// Stand-in HTTP server: serves `/img.iso` and `/SHA256SUMS`; 404 otherwise.
struct StandIn {
    base: String,
    /// (path, Range header) of every request, in order.
    requests: Arc<RequestLog>,
}

fn serve(body: Vec<u8>, sums: String, how: Behaviour) -> StandIn {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let log = requests.clone();
    let body = Arc::new(body);
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut served_img = 0usize;
        while Instant::now() < deadline {
            match listener.accept() {
                Ok((s, _)) => {
                    let cut = if served_img == 0 {
                        how.cut_first_after
                    } else {
                        None
                    };
                    if let Some(path) = handle(s, &body, &sums, cut, how.ignore_range, &log) {
                        served_img += usize::from(path == "/img.iso");
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    StandIn { base, requests }
}

fn handle(
    mut s: TcpStream,
    body: &[u8],
    sums: &str,
    cut: Option<usize>,
    ignore_range: bool,
    log: &RequestLog,
) -> Option<String> {
    s.set_nonblocking(false).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut r = BufReader::new(s.try_clone().ok()?);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut range = None;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 || h == "\r\n" {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("range:") {
            range = Some(v.trim().to_string());
        }
    }
    log.lock().unwrap().push((path.clone(), range.clone()));
    let (status, extra, data): (&str, String, &[u8]) = match path.as_str() {
        "/img.iso" => match range
            .as_deref()
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.trim_end_matches('-').parse::<usize>().ok())
        {
            Some(start) if !ignore_range && start < body.len() => (
                "206 Partial Content",
                format!(
                    "Content-Range: bytes {start}-{}/{}\r\n",
                    body.len() - 1,
                    body.len()
                ),
                &body[start..],
            ),
            _ => ("200 OK", String::new(), body),
        },
        "/SHA256SUMS" => ("200 OK", String::new(), sums.as_bytes()),
        _ => ("404 Not Found", String::new(), b"not here".as_slice()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        data.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    let n = cut
        .filter(|_| path == "/img.iso")
        .unwrap_or(data.len())
        .min(data.len());
    s.write_all(&data[..n]).ok()?;
    s.flush().ok()?;
    let _ = s.shutdown(std::net::Shutdown::Both);
    Some(path)
}

fn random_body(len: usize) -> (Vec<u8>, String) {
    let mut b = vec![0u8; len];
    rand::thread_rng().fill_bytes(&mut b);
    let h = hex::encode(Sha256::digest(&b));
    (b, h)
}

fn fast() -> PullOptions {
    PullOptions {
        retries: 4,
        backoff: Duration::from_millis(20),
        ..Default::default()
    }
}

#[test]
fn resumes_after_a_cut_connection_with_range() {
    let (body, sha) = random_body(3 << 20);
    let srv = serve(
        body.clone(),
        String::new(),
        Behaviour {
            cut_first_after: Some(1 << 20),
            ..Default::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("img.iso");
    let n = pull::pull(&format!("{}/img.iso", srv.base), &out, &sha, &fast()).unwrap();
    assert_eq!(n, body.len() as u64);
    assert_eq!(std::fs::read(&out).unwrap(), body);
    assert!(!pull::part_path(&out).exists());
    let reqs = srv.requests.lock().unwrap().clone();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(reqs[0].1, None);
    assert_eq!(
        reqs[1].1.as_deref(),
        Some("bytes=1048576-"),
        "second request resumes where the cut happened"
    );
}

#[test]
fn server_ignoring_range_restarts_cleanly() {
    let (body, sha) = random_body(2 << 20);
    let srv = serve(
        body.clone(),
        String::new(),
        Behaviour {
            cut_first_after: Some(700_000),
            ignore_range: true,
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("img.iso");
    pull::pull(&format!("{}/img.iso", srv.base), &out, &sha, &fast()).unwrap();
    assert_eq!(
        std::fs::read(&out).unwrap(),
        body,
        "a 200 answer to a Range request must not be appended"
    );
    assert_eq!(
        srv.requests.lock().unwrap()[1].1.as_deref(),
        Some("bytes=700000-")
    );
}

#[test]
fn checksum_mismatch_leaves_nothing_behind() {
    let (body, _) = random_body(1 << 20);
    let srv = serve(
        body,
        String::new(),
        Behaviour {
            cut_first_after: Some(300_000),
            ..Default::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("img.iso");
    let wrong = "0".repeat(64);
    let url = format!("{}/img.iso", srv.base);
    let err = pull::pull(&url, &out, &wrong, &fast()).unwrap_err();
    assert!(matches!(err, PullError::Mismatch { .. }), "{err}");
    assert!(err.to_string().contains(&url));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no file and no .part left"
    );
}

#[test]
fn cli_with_sha256sums_and_clear_errors() {
    let (body, sha) = random_body(600_000);
    let sums = format!("{}  other.iso\n{sha} *./img.iso\n", "1".repeat(64));
    let srv = serve(
        body.clone(),
        sums,
        Behaviour {
            cut_first_after: Some(100_000),
            ..Default::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("img.iso");
    let url = format!("{}/img.iso", srv.base);
    let sums_url = format!("{}/SHA256SUMS", srv.base);
    kateskit()
        .args(["image", "pull", &url, "-o"])
        .arg(&out)
        .args(["--sha256sums", &sums_url])
        .assert()
        .success()
        .stderr(predicates::str::contains("verified"));
    assert_eq!(std::fs::read(&out).unwrap(), body);
    // Existing output is not replaced without --force.
    kateskit()
        .args(["image", "pull", &url, "-o"])
        .arg(&out)
        .args(["--sha256", &sha])
        .assert()
        .failure()
        .stderr(predicates::str::contains("exists; pass --force"));
    // A 404 names the URL and leaves nothing.
    let missing = format!("{}/nope.iso", srv.base);
    let out2 = dir.path().join("nope.iso");
    kateskit()
        .args(["image", "pull", &missing, "-o"])
        .arg(&out2)
        .args(["--sha256", &sha])
        .assert()
        .failure()
        .stderr(predicates::str::contains(format!("{missing}: HTTP 404")));
    assert!(!out2.exists() && !pull::part_path(&out2).exists());
    // SHA256SUMS without the file's name.
    kateskit()
        .args(["image", "pull", &missing, "-o"])
        .arg(&out2)
        .args(["--sha256sums", &sums_url])
        .assert()
        .failure()
        .stderr(predicates::str::contains(format!(
            "{sums_url}: no entry for nope.iso"
        )));
    kateskit()
        .args(["image", "pull", &url, "-o"])
        .arg(&out2)
        .args(["--sha256", "xyz"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("is not a SHA-256"));
}

/// `pull -o` renames a finished download over its output, so an output that is a device node
/// (or a FIFO) is refused even with --force, before anything is fetched.
#[test]
fn pull_never_renames_over_a_device_node() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let mut nodes = vec![fifo];
    // A character device node like /dev/null (1:3), made here so nothing real is at risk.
    let null = dir.path().join("null");
    let made = std::process::Command::new("mknod")
        .arg(&null)
        .args(["c", "1", "3"])
        .status()
        .is_ok_and(|s| s.success());
    if made {
        nodes.push(null);
    } else {
        eprintln!("pull_never_renames_over_a_device_node: mknod needs root; FIFO only");
    }
    let sha = "0".repeat(64);
    for node in nodes {
        let out = kateskit()
            .args([
                "image",
                "pull",
                "http://127.0.0.1:9/never-fetched.img",
                "-o",
            ])
            .arg(&node)
            .args(["--sha256", &sha, "--force"])
            .assert()
            .failure();
        let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(
            err.contains("is not a regular file") && err.contains("kateskit flash"),
            "{err}"
        );
        let ft = std::fs::symlink_metadata(&node).unwrap().file_type();
        assert!(
            ft.is_fifo() || ft.is_char_device(),
            "{} was replaced",
            node.display()
        );
    }
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.len() <= 2, "a partial download was left: {left:?}");
}
