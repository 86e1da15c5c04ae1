//! The artifact server over real HTTP on 127.0.0.1: HEAD, Range, 416, validators, traversal
//! (sent byte for byte, as curl --path-as-is would), and the admission queue under
//! concurrency (cap 2, 8 clients: served in arrival order; 503 with Retry-After after the
//! bound); a stalled client gives its slot up.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kateskit::netboot::http::{self, ArtifactConfig, ArtifactState, HttpEvent, Root};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

struct Server {
    addr: SocketAddr,
    state: ArtifactState,
    events: mpsc::Receiver<HttpEvent>,
    _dir: tempfile::TempDir,
}

async fn start(cfg: ArtifactConfig) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("artifacts");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(dir.path().join("secret"), b"outside the root").unwrap();
    std::os::unix::fs::symlink("../secret", root.join("out")).unwrap();
    let body: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(root.join("initrd"), &body).unwrap();
    std::fs::write(root.join("tiny"), b"0123456789").unwrap();
    // Large enough that a client that reads nothing fills the socket buffers and holds its slot.
    let big = std::fs::File::create(root.join("big")).unwrap();
    big.set_len(256 << 20).unwrap();
    let (tx, events) = mpsc::channel(1024);
    let state = ArtifactState::new(Root::open(&root).unwrap(), &cfg, Some(tx));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = http::artifact_router(state.clone());
    tokio::spawn(async move { http::serve(listener, router).await.unwrap() });
    Server {
        addr,
        state,
        events,
        _dir: dir,
    }
}

/// One HTTP/1.1 request sent exactly as written; the status, headers (lower-case) and body.
async fn raw(addr: SocketAddr, head: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let s = TcpStream::connect(addr).await.unwrap();
    raw_on(s, head).await
}

/// `raw` on a connection the caller opened (to know its local address).
async fn raw_on(mut s: TcpStream, head: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    s.write_all(format!("{head}\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf))
        .await
        .expect("response within 20 s")
        .unwrap();
    parse(&buf)
}

fn parse(buf: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let text = String::from_utf8_lossy(&buf[..end]).to_string();
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect();
    (status, headers, buf[end + 4..].to_vec())
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_get_ranges_and_validators() {
    let s = start(ArtifactConfig::default()).await;
    let want = std::fs::read(s._dir.path().join("artifacts/initrd")).unwrap();
    let (st, h, body) = raw(s.addr, "HEAD /initrd HTTP/1.1").await;
    assert_eq!(st, 200);
    assert_eq!(header(&h, "content-length"), Some("100000"));
    assert_eq!(header(&h, "accept-ranges"), Some("bytes"));
    assert!(body.is_empty());
    let tag = header(&h, "etag").unwrap().to_string();
    let lm = header(&h, "last-modified").unwrap().to_string();
    let (st, h, body) = raw(s.addr, "GET /initrd HTTP/1.1").await;
    assert_eq!((st, body.len()), (200, want.len()));
    assert_eq!(body, want);
    assert_eq!(header(&h, "etag"), Some(tag.as_str()));
    for (range, start, end) in [
        ("0-3", 0, 4),
        ("99990-", 99990, 100000),
        ("-5", 99995, 100000),
        ("10-20", 10, 21),
    ] {
        let (st, h, body) = raw(
            s.addr,
            &format!("GET /initrd HTTP/1.1\r\nRange: bytes={range}"),
        )
        .await;
        assert_eq!(st, 206, "{range}");
        assert_eq!(body, want[start..end], "{range}");
        assert_eq!(
            header(&h, "content-range").unwrap(),
            format!("bytes {start}-{}/100000", end - 1)
        );
        assert_eq!(
            header(&h, "content-length").unwrap(),
            (end - start).to_string()
        );
    }
    let (st, h, _) = raw(s.addr, "GET /initrd HTTP/1.1\r\nRange: bytes=100000-").await;
    assert_eq!(st, 416);
    assert_eq!(header(&h, "content-range"), Some("bytes */100000"));
    // Two ranges are answered with the whole file; a stale If-Range too.
    let (st, _, body) = raw(s.addr, "GET /initrd HTTP/1.1\r\nRange: bytes=0-1,5-6").await;
    assert_eq!((st, body.len()), (200, 100000));
    let (st, _, _) = raw(
        s.addr,
        "GET /initrd HTTP/1.1\r\nRange: bytes=0-1\r\nIf-Range: \"other\"",
    )
    .await;
    assert_eq!(st, 200);
    let (st, _, _) = raw(
        s.addr,
        &format!("GET /initrd HTTP/1.1\r\nRange: bytes=0-1\r\nIf-Range: {tag}"),
    )
    .await;
    assert_eq!(st, 206);
    let (st, _, body) = raw(
        s.addr,
        &format!("GET /initrd HTTP/1.1\r\nIf-None-Match: {tag}"),
    )
    .await;
    assert_eq!((st, body.len()), (304, 0));
    let (st, _, _) = raw(
        s.addr,
        &format!("GET /initrd HTTP/1.1\r\nIf-Modified-Since: {lm}"),
    )
    .await;
    assert_eq!(st, 304);
    let (st, h, _) = raw(s.addr, "PUT /initrd HTTP/1.1\r\nContent-Length: 0").await;
    assert_eq!((st, header(&h, "allow")), (405, Some("GET, HEAD")));
}

#[tokio::test]
async fn traversal_is_refused_and_nothing_outside_is_sent() {
    let s = start(ArtifactConfig::default()).await;
    for (path, want) in [
        ("/../secret", 400),
        ("/%2e%2e/secret", 400),
        ("/sub/..%2f..%2fsecret", 400),
        ("/sub/%2E%2E%5C%2E%2E%5Csecret", 400),
        ("/out", 403),
        ("/sub", 404),
        ("/", 404),
        ("/nope", 404),
        ("/a%00b", 400),
        ("/%ff", 400),
    ] {
        let (st, _, body) = raw(s.addr, &format!("GET {path} HTTP/1.1")).await;
        assert_eq!(st, want, "{path}");
        assert!(
            !String::from_utf8_lossy(&body).contains("outside the root"),
            "{path}"
        );
    }
}

/// A client that asks for the big file and reads only the status line, holding its slot.
async fn holder(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut b = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut b))
        .await
        .expect("holder admitted")
        .unwrap();
    assert_eq!(&b[9..12], b"200");
    s
}

async fn wait_free(state: &ArtifactState, want: usize) {
    let t0 = Instant::now();
    while state.admission().free() != want {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "free slots stay {}",
            state.admission().free()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admission_queue_serves_in_arrival_order_and_turns_away_after_the_bound() {
    let mut s = start(ArtifactConfig {
        slots: 2,
        max_wait: Duration::from_millis(1500),
        stall_timeout: Duration::from_secs(60),
    })
    .await;
    let h1 = holder(s.addr).await;
    let h2 = holder(s.addr).await;
    wait_free(&s.state, 0).await;
    // Six more clients arrive in order while both slots are taken.
    let (tx, mut done) = mpsc::unbounded_channel();
    let mut waiters = Vec::new();
    for i in 0..6 {
        let tx = tx.clone();
        let conn = TcpStream::connect(s.addr).await.unwrap();
        waiters.push(conn.local_addr().unwrap());
        tokio::spawn(async move {
            let r = raw_on(conn, "GET /tiny HTTP/1.1").await;
            tx.send((i, r.0, r.2)).unwrap();
        });
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    assert!(
        done.try_recv().is_err(),
        "nobody is served while the slots are held"
    );
    // One slot frees: the waiters pass through it one after another, first come first served.
    drop(h1);
    let mut finished = Vec::new();
    for _ in 0..6 {
        let (i, st, body) = tokio::time::timeout(Duration::from_secs(10), done.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((st, body.as_slice()), (200, &b"0123456789"[..]));
        finished.push(i);
    }
    finished.sort();
    assert_eq!(finished, vec![0, 1, 2, 3, 4, 5]);
    // Both slots held again: a newcomer waits its bound, then gets 503 with Retry-After.
    wait_free(&s.state, 1).await;
    let _h3 = holder(s.addr).await;
    let t0 = Instant::now();
    let (st, h, _) = raw(s.addr, "GET /tiny HTTP/1.1").await;
    let waited = t0.elapsed();
    assert_eq!(st, 503);
    assert_eq!(header(&h, "retry-after"), Some("1"));
    assert!(
        waited >= Duration::from_millis(1400) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    // HEAD does not queue.
    let (st, _, _) = raw(s.addr, "HEAD /tiny HTTP/1.1").await;
    assert_eq!(st, 200);
    drop(h2);
    // Events: the holder that went away reports an incomplete body; the 503 is reported.
    let mut seen = Vec::new();
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_secs(2), s.events.recv()).await {
        seen.push(e);
    }
    assert!(seen
        .iter()
        .any(|e| e.path == "/big" && e.status == 200 && !e.complete && e.bytes > 0));
    assert!(seen.iter().any(|e| e.path == "/tiny" && e.status == 503));
    assert_eq!(
        seen.iter()
            .filter(|e| e.path == "/tiny" && e.status == 200 && e.complete)
            .count(),
        7
    );
    // The server finished the waiters in the order they arrived (clients may read their
    // responses in any order, so the order is the server's).
    let served: Vec<usize> = seen
        .iter()
        .filter(|e| e.path == "/tiny" && e.method == "GET" && e.status == 200)
        .filter_map(|e| waiters.iter().position(|w| *w == e.client))
        .collect();
    assert_eq!(served, vec![0, 1, 2, 3, 4, 5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_gives_up_its_slot_after_the_stall_bound() {
    let s = start(ArtifactConfig {
        slots: 1,
        max_wait: Duration::from_secs(10),
        stall_timeout: Duration::from_millis(800),
    })
    .await;
    let t0 = Instant::now();
    let stalled = holder(s.addr).await;
    wait_free(&s.state, 0).await;
    // The only slot is held by a client that reads nothing; the next one is served once the
    // stall bound passes, well before its own wait bound.
    let (st, _, body) = raw(s.addr, "GET /tiny HTTP/1.1").await;
    let waited = t0.elapsed();
    assert_eq!((st, body.as_slice()), (200, &b"0123456789"[..]));
    assert!(
        waited >= Duration::from_millis(700) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    drop(stalled);
}
